"""What requests cost on one node, as seen: a request, an object in bulk, bytes per second.

The planner weighs single objects against their whole series with these (UID lists need
no weighing: one request, only the wanted bytes).  The model, per retrieve:

- ``n`` single-object retrieves cost ``n`` x :attr:`Costs.latency` (the seconds one
  single-object retrieve took: round trips, the server's work, the object itself; on
  DICOMweb, where the single GETs of a retrieve run a few at a time, what each took
  then);
- a retrieve of ``N`` objects costs one latency plus ``N`` x :attr:`Costs.per_object`,
  what each object took once a retrieve of many flowed.  That is measured as such (a
  server such as pynetdicom's qrscp spends ~50 ms per sub-operation, whatever the size),
  else derived from the bytes per second seen and the objects' average size.

A fetch starts from what the node's capability cache holds (``request_seconds``,
``object_seconds``, ``bytes_per_second``: from the probe and from earlier fetches), and
observes every request it sends (:meth:`Costs.observed`): a retrieve that brought one
object is a latency sample (a C-FIND stands in until one is seen), and so is each object
of a retrieve sent as single GETs; one that brought :data:`BULK_OBJECTS` or more in one
request is a per-object and a throughput sample.

Stored bulk figures are set aside when this fetch's single-object retrieves move bytes
more than :data:`SUSPECT_RATE` times slower than the stored rate: the link is not what it
was when they were measured (a probe on the LAN, a fetch over a VPN), and the assumption
stands in until a bulk retrieve of this fetch measures it again.  Estimates are
medians of the newest :data:`SAMPLES` samples, a stored value when this fetch has none,
else a stated assumption.  Every estimate says where it comes from, for the log line
that explains a choice.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from typing import TypeVar

from dicomref.remote.planner._capabilities import Capabilities

T = TypeVar("T")

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
SUSPECT_RATE = 64
"""Single-object retrieves this many times slower (in bytes per second) than the stored
bulk rate make the stored bulk figures suspect (see the module's docstring)."""


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
    find_seconds: tuple[float, ...] = ()
    per_object_seconds: tuple[float, ...] = ()
    rates: tuple[float, ...] = ()
    singles_seen: tuple[tuple[float, int], ...] = ()
    """Single-object retrieves: (seconds, bytes) of each object, the newest :data:`SAMPLES`."""
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
    def retrieve_seconds(self) -> tuple[float, ...]:
        """What each single-object retrieve seen took."""
        return tuple(seconds for seconds, _ in self.singles_seen)

    @property
    def single_rates(self) -> tuple[float, ...]:
        """Bytes per second of each single-object retrieve seen."""
        return tuple(size / seconds for seconds, size in self.singles_seen)

    @property
    def throughput(self) -> Estimate:
        """Bytes per second while a retrieve of many objects flows."""
        stored = None if self.stored_suspect else self.stored_rate
        return _pick(self.rates, stored, (), ASSUMED_RATE)

    @property
    def stored_suspect(self) -> bool:
        """Whether this fetch's single-object retrieves contradict the stored bulk rate."""
        if not self.single_rates or not self.stored_rate:
            return False
        return statistics.median(self.single_rates) * SUSPECT_RATE < self.stored_rate

    @property
    def stored_fan_out(self) -> float | None:
        """What a single-object retrieve cost as stored (the probe's, on DICOMweb: each
        GET of a fan-out at the concurrency kept), unless set aside; None when unknown."""
        return None if self.stored_suspect else self.stored_seconds

    @property
    def bulk_measured(self) -> bool:
        """Whether this fetch timed a retrieve of many objects."""
        return bool(self.per_object_seconds or self.rates)

    @property
    def bulk_known(self) -> bool:
        """Whether a retrieve of many objects was ever timed here (this fetch, or stored
        and not set aside): else its costs are only assumed."""
        stored = not self.stored_suspect and (
            self.stored_per_object is not None or self.stored_rate is not None
        )
        return self.bulk_measured or stored

    @property
    def object_bytes(self) -> Estimate:
        """The average size of the objects that arrived in this fetch."""
        if self.objects:
            return Estimate(self.bytes / self.objects, "measured")
        return Estimate(ASSUMED_OBJECT_BYTES, "assumed")

    @property
    def per_object(self) -> Estimate:
        """Seconds each object adds to a retrieve of many."""
        stored = None if self.stored_suspect else self.stored_per_object
        if self.per_object_seconds or stored is not None:
            return _pick(self.per_object_seconds, stored, (), 0.0)
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
        if self.stored_suspect:
            seen = statistics.median(self.single_rates)
            text += (
                f"; single objects came at {seen / 1e6:.1f} MB/s, far below the stored "
                f"{(self.stored_rate or 0) / 1e6:.0f} MB/s: the stored bulk figures are set aside"
            )
        return text

    # -- observing --------------------------------------------------------------------------

    def observed(
        self,
        seconds: float,
        *,
        retrieve: bool,
        objects: int = 0,
        size: int = 0,
        singles: bool = False,
    ) -> Costs:
        """These costs with one more request: ``seconds`` it took, ``objects`` and
        ``size`` (bytes) it moved; ``singles``: a retrieve sent as one request per object
        (WADO-RS), whatever their number."""
        if seconds <= 0:
            return self
        moved = dataclasses.replace(self, objects=self.objects + objects, bytes=self.bytes + size)
        if not retrieve:
            return dataclasses.replace(moved, find_seconds=_newest(self.find_seconds, seconds))
        if objects == 1 or (singles and objects > 1):
            each = (seconds / objects, size // objects)
            return dataclasses.replace(moved, singles_seen=_newest(self.singles_seen, each))
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


def _newest(samples: tuple[T, ...], value: T) -> tuple[T, ...]:
    return (*samples, value)[-SAMPLES:]
