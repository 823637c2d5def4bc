"""What requests cost on one node, as seen: seconds per request, bytes per second, object size.

The planner weighs its choices with these (a UID list, single objects, or the whole
series: :func:`singles_or_series`).  A fetch starts from what the node's capability cache
holds (``Capabilities.request_seconds`` / ``bytes_per_second``, from the probe and from
earlier fetches), then each request it sends is observed (:meth:`Costs.observed`):

- a request that moved at most one object is a *latency* sample: its seconds, less the
  time its bytes take at the throughput known so far.  Retrieves and C-FINDs are kept
  apart (a server may answer a C-FIND in 2 ms and take 90 ms for a one-object C-GET),
  and retrieves are what the planner prices; C-FINDs stand in until a retrieve is seen;
- a retrieve that moved several objects (at least :data:`MIN_RATE_BYTES`) is a
  *throughput* sample: its bytes over its seconds less one latency.

Estimates are medians of the last samples (:data:`SAMPLES`), a stored value when this run
has none, else a stated assumption (:data:`ASSUMED_SECONDS`, :data:`ASSUMED_RATE`): every
estimate says where it comes from, for the log line that explains a choice.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass

from dicomref.remote._capabilities import Capabilities

SAMPLES = 9
"""Latency samples kept per kind (the newest)."""
MIN_RATE_BYTES = 1_000_000
"""A retrieve moving less than this tells nothing about throughput."""
ASSUMED_SECONDS = 0.05
"""Seconds per request before any request was timed on the node."""
ASSUMED_RATE = 12.5e6
"""Bytes per second before any retrieve was timed: a 100 Mbit/s link."""
ASSUMED_OBJECT_BYTES = 500_000
"""Bytes per object before any arrived (a 512 x 512 CT slice)."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """A value and where it comes from: ``measured`` (this fetch), ``stored`` (the node's
    capability cache) or ``assumed``."""

    value: float
    source: str


@dataclass(frozen=True, slots=True)
class Costs:
    """Observed costs on one node (a value: :meth:`observed` returns a new one)."""

    stored_seconds: float | None = None
    stored_rate: float | None = None
    retrieve_seconds: tuple[float, ...] = ()
    find_seconds: tuple[float, ...] = ()
    rates: tuple[float, ...] = ()
    objects: int = 0
    bytes: int = 0

    @classmethod
    def of(cls, capabilities: Capabilities) -> Costs:
        """Starting from what the node's capabilities hold."""
        return cls(
            stored_seconds=capabilities.request_seconds,
            stored_rate=capabilities.bytes_per_second,
        )

    # -- estimates --------------------------------------------------------------------------

    @property
    def latency(self) -> Estimate:
        """Seconds one retrieve costs beyond its bytes."""
        if self.retrieve_seconds:
            return Estimate(statistics.median(self.retrieve_seconds), "measured")
        if self.stored_seconds is not None:
            return Estimate(self.stored_seconds, "stored")
        if self.find_seconds:
            return Estimate(statistics.median(self.find_seconds), "measured")
        return Estimate(ASSUMED_SECONDS, "assumed")

    @property
    def throughput(self) -> Estimate:
        """Bytes per second while objects flow."""
        if self.rates:
            return Estimate(statistics.median(self.rates), "measured")
        if self.stored_rate is not None:
            return Estimate(self.stored_rate, "stored")
        return Estimate(ASSUMED_RATE, "assumed")

    @property
    def object_bytes(self) -> Estimate:
        """The average size of the objects that arrived in this fetch."""
        if self.objects:
            return Estimate(self.bytes / self.objects, "measured")
        return Estimate(ASSUMED_OBJECT_BYTES, "assumed")

    # -- observing --------------------------------------------------------------------------

    def observed(self, seconds: float, *, retrieve: bool, objects: int = 0, size: int = 0) -> Costs:
        """These costs with one more request: ``seconds`` it took, ``objects`` and
        ``size`` (bytes) it moved."""
        if seconds <= 0:
            return self
        moved = dataclasses.replace(self, objects=self.objects + objects, bytes=self.bytes + size)
        if objects <= 1:
            rate = self.throughput
            # an assumed rate would make a fast link's latency look like nothing
            fixed = seconds if rate.source == "assumed" else seconds - size / rate.value
            fixed = max(fixed, seconds / 5)
            if retrieve:
                return dataclasses.replace(
                    moved, retrieve_seconds=_newest(self.retrieve_seconds, fixed)
                )
            return dataclasses.replace(moved, find_seconds=_newest(self.find_seconds, fixed))
        if size >= MIN_RATE_BYTES:
            flowing = max(seconds - self.latency.value, seconds / 5)
            return dataclasses.replace(moved, rates=_newest(self.rates, size / flowing))
        return moved

    def measured(self) -> Capabilities:
        """What this fetch measured, as capabilities (``None`` where it measured nothing),
        to merge into the node's cache."""
        latency, rate = self.latency, self.throughput
        return Capabilities(
            request_seconds=round(latency.value, 4) if latency.source == "measured" else None,
            bytes_per_second=round(rate.value, -3) if rate.source == "measured" else None,
        )

    def retrieve_seconds_for(self, requests: int, objects: float) -> float:
        """Estimated seconds for ``requests`` retrieves moving ``objects`` objects."""
        size = objects * self.object_bytes.value
        return requests * self.latency.value + size / self.throughput.value

    def describe(self) -> str:
        """E.g. "0.094 s per request measured, 70 MB/s stored"."""
        latency, rate = self.latency, self.throughput
        return (
            f"{latency.value:.3f} s per request {latency.source}, "
            f"{rate.value / 1e6:.0f} MB/s {rate.source}"
        )


def _newest(samples: tuple[float, ...], value: float) -> tuple[float, ...]:
    return (*samples, value)[-SAMPLES:]
