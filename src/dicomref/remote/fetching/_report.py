"""What :func:`~dicomref.remote.locate` and :func:`~dicomref.remote.fetch` tell their caller.

Frozen values only; JSON is written by the command line.  Counts are what was measured on
the wire: requests per DIMSE command, associations opened, objects and bytes that arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dicomref.model import InstanceKey
from dicomref.remote.planner._capabilities import Capabilities

_FIELDS = {
    "C-FIND": "c_find",
    "C-MOVE": "c_move",
    "C-GET": "c_get",
    "QIDO-RS": "qido",
    "WADO-RS": "wado",
}


@dataclass(frozen=True, slots=True)
class Requests:
    """Requests sent, per command: DIMSE's C-FIND, C-MOVE, C-GET; DICOMweb's QIDO-RS
    searches and WADO-RS retrieves (each HTTP request counts once)."""

    c_find: int = 0
    c_move: int = 0
    c_get: int = 0
    qido: int = 0
    wado: int = 0

    @classmethod
    def counted(cls, counts: Mapping[str, int]) -> Requests:
        """From ``{"C-FIND": n, ..., "QIDO-RS": n, "WADO-RS": n}`` (absent: 0)."""
        return cls(**{field: counts.get(command, 0) for command, field in _FIELDS.items()})

    @property
    def total(self) -> int:
        return self.c_find + self.c_move + self.c_get + self.qido + self.wado

    def by_command(self) -> dict[str, int]:
        """``{"C-FIND": n, "C-MOVE": n, "C-GET": n}``; when DICOMweb requests were sent,
        ``"QIDO-RS"``/``"WADO-RS"`` and no DIMSE command."""
        counts = {command: getattr(self, field) for command, field in _FIELDS.items()}
        web = bool(self.qido or self.wado)  # a DICOMweb node's answer names no DIMSE command
        return {c: n for c, n in counts.items() if n or (c.startswith("C-") and not web)}

    def describe(self) -> str:
        """E.g. "3 C-FIND, 2 C-MOVE" (commands not used are left out; "none" if nothing)."""
        parts = [f"{n} {name}" for name, n in self.by_command().items() if n]
        return ", ".join(parts) or "none"


@dataclass(frozen=True, slots=True)
class MissingObject:
    """A wanted object that was not fetched: its UID, what it is, who named it, and why.

    ``what``: the kind of object ("RT Structure Set") when the referring object said;
    ``named_by``: the referring object and the path of the reference
    ("rtplan.dcm ReferencedStructureSetSequence[0]"), or "asked for" for a start UID.
    ``reason`` names what was searched or tried.
    """

    uid: str
    reason: str
    what: str | None = None
    named_by: str | None = None

    def describe(self) -> str:
        """One line: "RT Structure Set 1.2.3 named by rtplan.dcm …: <reason>"."""
        head = f"{self.what} {self.uid}" if self.what else self.uid
        if self.named_by:
            head += f" named by {self.named_by}"
        return f"{head}: {self.reason}"


@dataclass(frozen=True, slots=True)
class StartResult:
    """What one start of a fetch needed: ``start`` as given (a UID or a file's path);
    ``uid`` its SOP Instance UID; ``needed``: the SOP Instance UIDs of its closure, in
    the order reached (a UID start first; a file start is read, not fetched, so only
    what it references); ``missing``: those of them not fetched, each with why.  An
    object shared by several starts is in each one's ``needed``, and moved once.
    """

    start: str
    uid: str
    needed: tuple[str, ...]
    missing: tuple[MissingObject, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(frozen=True, slots=True)
class FetchedObject:
    """One object written to the store by this fetch.

    ``dependent``: brought because it references what was fetched (``with_dependents``).
    """

    key: InstanceKey
    sop_class: str
    modality: str | None
    path: str
    size: int
    dependent: bool = False


@dataclass(frozen=True, slots=True)
class WholeStudy:
    """What downloading the touched studies whole would have moved instead.

    ``objects``: the studies' instances as the server counted them (None when it would not
    tell).  ``bytes``: an estimate, ``objects`` times the average size of the objects this
    fetch moved or found held.  ``requests``: C-FINDs spent counting (not in
    :attr:`FetchReport.requests`).  ``note``: how the count was made, or why it is unknown.
    """

    studies: tuple[str, ...]
    objects: int | None
    bytes: int | None
    requests: int
    note: str = ""
    estimated: bool = True


@dataclass(frozen=True, slots=True)
class FetchReport:
    """What one fetch did.

    ``objects``/``bytes``: objects written to the store by this fetch (each once) and their
    size.  ``held``: wanted objects that were already there (catalog or store).
    ``missing``: wanted objects not fetched, each with its reason.  ``discarded`` /
    ``discarded_bytes``: objects that arrived but were not kept (whole series fetched for a
    few objects, candidates for dependents that reference nothing of ours, duplicates).
    ``refused``: objects the server sent unasked, refused by our storage SCP.
    ``requests``: requests per command; ``associations``: associations (DIMSE) or
    HTTP connections (DICOMweb) opened, which ``connection`` names ("association",
    "connection").  ``steps``: what was sent and what came back, in order, one line each.
    ``whole_study``: the comparison with a whole-study download (None when nothing moved).
    ``capabilities``: what is known of the server at the end (given + learnt on the way).
    ``starts``: one result per start (the query's selection included), in order.
    """

    node: str
    objects: int
    bytes: int
    held: int
    missing: tuple[MissingObject, ...]
    discarded: int
    discarded_bytes: int
    refused: int
    requests: Requests
    associations: int
    steps: tuple[str, ...]
    seconds: float
    fetched: tuple[FetchedObject, ...]
    whole_study: WholeStudy | None
    capabilities: Capabilities
    starts: tuple[StartResult, ...] = ()
    connection: str = "association"

    @property
    def complete(self) -> bool:
        """Every wanted object was fetched or held."""
        return not self.missing

    @property
    def dependents(self) -> int:
        """Objects fetched because they reference what was fetched."""
        return sum(1 for f in self.fetched if f.dependent)

    @property
    def moved_objects(self) -> int:
        """Every object that crossed the wire: kept and discarded."""
        return self.objects + self.discarded

    @property
    def moved_bytes(self) -> int:
        return self.bytes + self.discarded_bytes

    @property
    def saved(self) -> float | None:
        """Share of a whole-study download's objects this fetch did not move (0..1).

        None when the whole-study count is unknown (or nothing moved).
        """
        whole = self.whole_study
        if whole is None or not whole.objects:
            return None
        return max(0.0, 1.0 - self.moved_objects / whole.objects)


@dataclass(frozen=True, slots=True)
class FetchProgress:
    """Passed to the ``progress`` callback after each request and each arrival.

    ``step``: the request being sent or just answered; ``objects``/``bytes``: received so
    far; ``wanted``: objects known to be wanted and not held yet (the closure grows as
    objects arrive, so it is a lower bound; None before it is known).
    May be called from the thread that receives objects.
    """

    step: str
    requests: int
    objects: int
    bytes: int
    wanted: int | None = None


@dataclass(frozen=True, slots=True)
class Located:
    """Where one object is on the server: ``key``, or ``None`` and the ``reason``.

    ``sop_class`` when the server (or a hint) said.  ``reason`` is also set for an object
    the server has but would not place (found by SOP Instance UID without Study/Series).
    """

    uid: str
    key: InstanceKey | None
    sop_class: str | None = None
    reason: str | None = None

    @property
    def found(self) -> bool:
        return self.key is not None


@dataclass(frozen=True, slots=True)
class LocateReport:
    """What :func:`~dicomref.remote.locate` found, in the order asked, and what it cost."""

    node: str
    objects: tuple[Located, ...]
    requests: Requests
    associations: int
    steps: tuple[str, ...]
    seconds: float
    capabilities: Capabilities
    connection: str = "association"

    @property
    def missing(self) -> tuple[Located, ...]:
        return tuple(o for o in self.objects if o.key is None)

    @property
    def complete(self) -> bool:
        return not self.missing
