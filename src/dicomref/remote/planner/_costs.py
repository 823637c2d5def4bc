"""What requests cost on one node, as seen: a request, an object in bulk, bytes per second.

The planner weighs single objects against their whole series with these (UID lists need
no weighing: one request, only the wanted bytes).  The model, per retrieve:

- ``n`` single-object retrieves cost ``n`` x :attr:`Costs.latency` (the seconds one
  single-object retrieve took: round trips, the server's work, the object itself);
- a retrieve of ``N`` objects costs one latency plus ``N`` x :attr:`Costs.per_object`,
  what each object took once a retrieve of many flowed.  That is measured as such (a
  server such as pynetdicom's qrscp spends ~50 ms per sub-operation, whatever the size),
  else derived from the bytes per second seen and the objects' average size.

A fetch starts from what the node's capability cache holds (``request_seconds``,
``object_seconds``, ``bytes_per_second``: from the probe and from earlier fetches), and
observes every request it sends (:meth:`Costs.observed`): a retrieve that brought one
object is a latency sample (a C-FIND stands in until one is seen); one that brought
:data:`BULK_OBJECTS` or more is a per-object and a throughput sample.  Estimates are
medians of the newest :data:`SAMPLES` samples, a stored value when this fetch has none,
else a stated assumption.  Every estimate says where it comes from, for the log line
that explains a choice.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass

from dicomref.remote.planner._capabilities import Capabilities

SAMPLES = 9
"""Samples kept per measure (the newest)."""
BULK_OBJECTS = 4
"""A retrieve bringing at least this many objects measures the bulk costs."""
ASSUMED_SECONDS = 0.05
"""Seconds per request before any request was timed on the node."""
ASSUMED_RATE = 12.5e6
"""Bytes per second before any bulk retrieve was timed: a 100 Mbit/s link."""
ASSUMED_OBJECT_BYTES = 500_000
"""Bytes per object before any arrived (a 512 x 512 CT slice)."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """A value and where it comes from: ``measured`` (this fetch), ``stored`` (the node's
    capability cache), ``derived`` (from other estimates) or ``assumed``."""

    value: float
    source: str


@dataclass(frozen=True, slots=True)
class Costs:
    """Observed costs on one node (a value: :meth:`observed` returns a new one)."""

    stored_seconds: float | None = None
    stored_per_object: float | None = None
    stored_rate: float | None = None
    retrieve_seconds: tuple[float, ...] = ()
    find_seconds: tuple[float, ...] = ()
    per_object_seconds: tuple[float, ...] = ()
    rates: tuple[float, ...] = ()
    objects: int = 0
    bytes: int = 0

    @classmethod
    def of(cls, capabilities: Capabilities) -> Costs:
        """Starting from what the node's capabilities hold."""
        return cls(
            stored_seconds=capabilities.request_seconds,
            stored_per_object=capabilities.object_seconds,
            stored_rate=capabilities.bytes_per_second,
        )

    # -- estimates --------------------------------------------------------------------------

    @property
    def latency(self) -> Estimate:
        """Seconds one single-object retrieve takes."""
        return _pick(self.retrieve_seconds, self.stored_seconds, self.find_seconds, ASSUMED_SECONDS)

    @property
    def throughput(self) -> Estimate:
        """Bytes per second while a retrieve of many objects flows."""
        return _pick(self.rates, self.stored_rate, (), ASSUMED_RATE)

    @property
    def object_bytes(self) -> Estimate:
        """The average size of the objects that arrived in this fetch."""
        if self.objects:
            return Estimate(self.bytes / self.objects, "measured")
        return Estimate(ASSUMED_OBJECT_BYTES, "assumed")

    @property
    def per_object(self) -> Estimate:
        """Seconds each object adds to a retrieve of many."""
        if self.per_object_seconds or self.stored_per_object is not None:
            return _pick(self.per_object_seconds, self.stored_per_object, (), 0.0)
        return Estimate(self.object_bytes.value / self.throughput.value, "derived")

    def singles_seconds(self, count: int) -> float:
        """Estimated seconds for ``count`` single-object retrieves."""
        return count * self.latency.value

    def bulk_seconds(self, count: int) -> float:
        """Estimated seconds for one retrieve of ``count`` objects."""
        return self.latency.value + count * self.per_object.value

    def describe(self) -> str:
        """E.g. "0.094 s per request measured, 0.006 s per object in bulk stored"."""
        latency, each = self.latency, self.per_object
        text = f"{latency.value:.3f} s per request {latency.source}, "
        text += f"{each.value:.4f} s per object in bulk {each.source}"
        if each.source == "derived":
            rate = self.throughput
            text += f" from {rate.value / 1e6:.0f} MB/s {rate.source}"
        return text

    # -- observing --------------------------------------------------------------------------

    def observed(self, seconds: float, *, retrieve: bool, objects: int = 0, size: int = 0) -> Costs:
        """These costs with one more request: ``seconds`` it took, ``objects`` and
        ``size`` (bytes) it moved."""
        if seconds <= 0:
            return self
        moved = dataclasses.replace(self, objects=self.objects + objects, bytes=self.bytes + size)
        if not retrieve:
            return dataclasses.replace(moved, find_seconds=_newest(self.find_seconds, seconds))
        if objects == 1:
            return dataclasses.replace(
                moved, retrieve_seconds=_newest(self.retrieve_seconds, seconds)
            )
        if objects < BULK_OBJECTS:
            return moved
        flowing = max(seconds - self.latency.value, seconds / 2)
        return dataclasses.replace(
            moved,
            per_object_seconds=_newest(self.per_object_seconds, flowing / objects),
            rates=_newest(self.rates, size / flowing),
        )

    def measured(self) -> Capabilities:
        """What this fetch measured, as capabilities (``None`` where it measured nothing),
        to merge into the node's cache."""
        latency, each, rate = self.latency, self.per_object, self.throughput
        return Capabilities(
            request_seconds=_rounded(latency) if latency.source == "measured" else None,
            object_seconds=_rounded(each) if each.source == "measured" else None,
            bytes_per_second=_rounded(rate) if rate.source == "measured" else None,
        )


def _rounded(estimate: Estimate) -> float:
    """Three significant digits (the cache is rewritten only when a figure moves)."""
    return float(f"{estimate.value:.3g}")


def _pick(
    samples: tuple[float, ...], stored: float | None, standins: tuple[float, ...], assumed: float
) -> Estimate:
    if samples:
        return Estimate(statistics.median(samples), "measured")
    if stored is not None:
        return Estimate(stored, "stored")
    if standins:
        return Estimate(statistics.median(standins), "measured")
    return Estimate(assumed, "assumed")


def _newest(samples: tuple[float, ...], value: float) -> tuple[float, ...]:
    return (*samples, value)[-SAMPLES:]
