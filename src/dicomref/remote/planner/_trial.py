"""A series in one GET on trial: taken when nothing says whether it beats single GETs, and
given up as soon as its first objects say it does not.

A first contact with a DICOMweb server knows what a single GET costs (the fetch has sent
one) but not what each object of a series streamed whole costs: the link's rate.  With a
bulk rate only assumed (100 Mbit/s), the series always looks dearer, and on a fast link
the fetch would pay one GET per wanted instance where one GET of the series is faster
(Orthanc on loopback: 60 single GETs ~0.12 s, the 120-object series ~0.06 s).  So where
many singles are at stake the planner retrieves the series on trial (:class:`Trial` on
the :class:`~dicomref.remote.planner._steps.Retrieve`), and the transport asks
:meth:`Trial.verdict` after each object: the stream itself measures the rate and the
gap between objects, which splits the single GETs seen into their fixed cost and their
bytes.  When the rest of the series would take longer in this GET than the wanted objects
still missing as single GETs, the GET is dropped; what arrived is kept, the partial series
is a bulk sample of the costs, and the planner asks the rest one GET each.  Once every
wanted object has arrived the GET is dropped too: the rest of the series is not read.

Measured in ``bench/fetch_web.py``: on loopback the trial goes on until the last few wanted
objects are cheaper alone; at 100 Mbit/s it is given up after :data:`TRIAL_PARTS` objects,
~0.16 s of a ~2.9 s fetch.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

TRIAL_PARTS: Final = 4
"""Objects of the series read before the first verdict (the first one's time is mostly the
request's; the gaps after it are the stream's)."""
TRIAL_MIN_WANTED: Final = 8
"""Fewer wanted objects than this are fetched one GET each without a trial."""
TRIAL_MAX_SIZE: Final = 4
"""No trial for a series more than this many times the wanted objects."""


def pace(parts: Sequence[tuple[float, int]]) -> tuple[float, float] | None:
    """Seconds per object and bytes per second of a stream of objects, from when each
    arrived (seconds) and its bytes, counted from the first (whose time is mostly the
    request's); None with fewer than two, or no time between them."""
    if len(parts) < 2:
        return None
    flowing = parts[-1][0] - parts[0][0]
    if flowing <= 0:
        return None
    return flowing / (len(parts) - 1), sum(size for _, size in parts[1:]) / flowing


@dataclass(frozen=True, slots=True)
class Trial:
    """What the verdict weighs: ``wanted`` objects of a series of ``size``, the
    single-object retrieves seen so far, (seconds, bytes) each, and ``fan_out``: what
    each GET of a fan-out of single GETs cost when the server was probed (None: never).

    Each single GET is estimated at its fixed part (what the single retrieves seen took
    beyond their bytes at the stream's rate) plus its own bytes at that rate, and at no
    less than the probe's figure.  Single GETs in flight together are given no overlap of
    their fixed costs: that needs cores to spare on both sides (on 2 shared cores, 60
    single GETs from Orthanc took the same 0.10-0.16 s at 1, 4 or 8 in flight), and the
    probe's figure, taken without writing anything, is lower than what a GET costs inside
    a fetch (2.4-3.6 ms against 3.4-4.4 ms on loopback here)."""

    wanted: int
    size: int
    singles: tuple[tuple[float, int], ...]
    fan_out: float | None = None

    def verdict(self, parts: Sequence[tuple[float, int]], wanted_seen: int) -> str | None:
        """Why to give the GET up, or None to go on.  ``parts``: (seconds since the
        request, bytes) of each object so far; ``wanted_seen``: how many were wanted."""
        count = len(parts)
        if count >= self.size:
            return None
        if wanted_seen >= self.wanted:
            return f"every wanted object arrived after {count} of {self.size}: the rest is not read"
        paced = pace(parts) if count >= TRIAL_PARTS else None
        if paced is None:
            return None
        gap, rate = paced
        object_bytes = statistics.fmean(size for _, size in parts)
        fixed = 0.0
        if self.singles:
            fixed = statistics.median(max(0.0, s - size / rate) for s, size in self.singles)
        each = max(self.fan_out or 0.0, fixed + object_bytes / rate)
        series_left = (self.size - count) * gap
        missing = self.wanted - wanted_seen
        singles_left = missing * each
        if series_left <= singles_left:
            return None
        return (
            f"given up after {count} of {self.size} objects: the rest would take "
            f"~{series_left:.2f} s in this GET ({gap * 1000:.1f} ms an object, "
            f"{rate / 1e6:.0f} MB/s) against ~{singles_left:.2f} s for the {missing} "
            f"wanted as single GETs ({each * 1000:.1f} ms each)"
        )
