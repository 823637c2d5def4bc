"""What a probe found: one :class:`ProbeResult` per test, and the :class:`Capabilities`
they add up to."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from dicomref.remote.planner._capabilities import Capabilities

_VALUES = (
    "max_uid_list",
    "request_seconds",
    "object_seconds",
    "bytes_per_second",
    "measured_at",
    "url_budget",
    "metadata_cost",
    "metadata_size",
    "concurrency",
)
_FLAGS = frozenset(f.name for f in dataclasses.fields(Capabilities) if f.name not in _VALUES)


class Outcome(enum.StrEnum):
    """What one test measured: the capability's flag is ``True``, ``False`` or ``None``."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    @property
    def flag(self) -> bool | None:
        return {Outcome.YES: True, Outcome.NO: False, Outcome.UNKNOWN: None}[self]

    @property
    def mark(self) -> str:
        return {Outcome.YES: "✓", Outcome.NO: "✗", Outcome.UNKNOWN: "?"}[self]


@dataclass(frozen=True, slots=True)
class ProbeInstance:
    """An object the probe used, where it sits on the server and what it is."""

    study: str
    series: str
    sop: str
    sop_class: str | None = None
    modality: str | None = None
    series_size: int | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One test: ``name`` is the :class:`Capabilities` flag it measures (or a step such as
    ``series_listing``), ``request`` what was sent, ``detail`` what came back, ``status``
    the DIMSE status of a failure (``None`` if none), ``seconds`` how long it took."""

    name: str
    request: str
    outcome: Outcome
    detail: str
    status: int | None
    seconds: float

    @property
    def is_flag(self) -> bool:
        return self.name in _FLAGS


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """What :func:`~dicomref.remote.probe` measured on ``node`` (``AE@host:port``).

    ``instance`` is the object most tests used (``None`` when the server holds none);
    ``sequence_instance`` the one the sequence return keys were asked of; ``measured_at``
    when the probe started (ISO 8601, UTC); ``capabilities`` the flags the results set.
    """

    node: str
    capabilities: Capabilities
    results: tuple[ProbeResult, ...]
    instance: ProbeInstance | None
    sequence_instance: ProbeInstance | None
    measured_at: str
    seconds: float

    def result(self, name: str) -> ProbeResult:
        """The result of test ``name``; KeyError if the probe has none of that name."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)


#: Tests that retrieve one or two small objects: their time is what one request costs.
_RETRIEVES = frozenset({"c_get", "c_move", "uid_list_get", "uid_list_move"})


def capabilities_from(results: tuple[ProbeResult, ...], measured_at: str) -> Capabilities:
    """The flags the results measured; flags no test measured stay ``None``.

    ``request_seconds`` is the quickest retrieve test that worked (each moves one or two
    small objects, so its time is the request's fixed cost); ``bytes_per_second`` is left
    to fetches, which move enough to measure it.
    """
    flags: dict[str, Any] = {r.name: r.outcome.flag for r in results if r.is_flag}
    timed = [
        r.seconds
        for r in results
        if r.name in _RETRIEVES and r.outcome is Outcome.YES and r.seconds > 0
    ]
    if timed:
        flags["request_seconds"] = min(timed)
    return dataclasses.replace(Capabilities(measured_at=measured_at), **flags)
