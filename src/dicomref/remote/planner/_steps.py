"""The steps a plan is made of: one C-FIND, or one C-MOVE/C-GET, each a frozen value.

A step says everything the executor needs to build the request (:attr:`Find.identifier`,
:attr:`Retrieve.identifier`: keyword/value pairs, standard keys only) and everything the
state needs to record its answer (:attr:`Find.scope`, :attr:`Find.resolves`,
:attr:`Retrieve.sop_uids`).  QIDO-RS / WADO-RS steps will join :data:`Step` later.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dicomref.remote.planner._enums import Level, Method, ParentKeys, Root
from dicomref.remote.planner._trial import Trial

#: Separator of values in a multi-valued element (a UID list).
LIST_SEPARATOR = "\\"

#: Identifier pairs: (DICOM keyword, value); "" is zero-length (universal match / return key).
Keys = tuple[tuple[str, str], ...]


class ScopeKind(enum.StrEnum):
    """The part of the server a step looks at."""

    SERVER = "server"
    """IMAGE level by SOP Instance UID without Study/Series values: the whole server."""
    SERIES = "series"
    """IMAGE level inside one series (or the series itself, retrieved whole)."""
    STUDY = "study"
    """SERIES level inside one study: lists its series, optionally of one modality."""
    PATIENT = "patient"
    """STUDY level for one Patient ID: lists the patient's studies."""
    SERIES_LOOKUP = "series_lookup"
    """SERIES level by Series Instance UID without a study: learns the series' study."""
    STUDY_IMAGES = "study_images"
    """IMAGE level by SOP Instance UID inside one study, the series key zero-length."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a step looks: what its answer (or silence) tells about the wanted objects.

    Fields used per kind: SERIES ``study`` + ``series``; STUDY ``study`` + ``modality``
    (None = all series); PATIENT ``patient_id``; SERIES_LOOKUP ``series``;
    STUDY_IMAGES ``study``.
    """

    kind: ScopeKind
    study: str | None = None
    series: str | None = None
    modality: str | None = None
    patient_id: str | None = None

    def describe(self) -> str:
        """A short phrase for logs and reasons ("series 1.2.3 of study 1.2")."""
        if self.kind is ScopeKind.SERVER:
            return "the whole server by SOP Instance UID"
        if self.kind is ScopeKind.SERIES:
            return f"series {self.series} of study {self.study}"
        if self.kind is ScopeKind.STUDY:
            what = f"{self.modality} series" if self.modality else "series"
            return f"the {what} of study {self.study}"
        if self.kind is ScopeKind.PATIENT:
            return "the studies of the patient"
        if self.kind is ScopeKind.STUDY_IMAGES:
            return f"study {self.study} by SOP Instance UID"
        return f"the study of series {self.series}"


@dataclass(frozen=True, slots=True)
class Find:
    """One C-FIND request.

    ``keys``: the identifier's keys in order, each ``(keyword, value)``; a UID list is
    one backslash-joined value (its DICOM encoding), ``""`` is zero-length.
    ``return_keys``: further keywords asked back zero-length (sequences included:
    the executor sends an empty sequence for an SQ keyword).
    ``purpose``: one line for logs.  ``resolves``: the wanted SOP Instance UIDs this
    step is meant to locate (or whose search it advances).  ``scope``: where it looks.
    ``parents``: how StudyInstanceUID/SeriesInstanceUID appear at IMAGE level.
    ``why``: the planner's reason for this way of asking, when it made a choice (logged
    once, before the request).
    """

    level: Level
    keys: Keys
    return_keys: tuple[str, ...]
    purpose: str
    resolves: frozenset[str]
    scope: Scope
    root: Root = Root.STUDY
    parents: ParentKeys = ParentKeys.VALUES
    why: str = ""

    @property
    def sop_uids(self) -> tuple[str, ...]:
        """The SOP Instance UIDs matched on (empty when absent or universal)."""
        return _uids_in(self.keys)

    @property
    def identifier(self) -> Keys:
        """QueryRetrieveLevel, the keys, then the return keys (zero-length)."""
        asked_back = tuple((keyword, "") for keyword in self.return_keys)
        return (("QueryRetrieveLevel", self.level.value), *self.keys, *asked_back)


@dataclass(frozen=True, slots=True)
class Retrieve:
    """One C-MOVE or C-GET request.

    At IMAGE level ``sop_uids`` are sent (as a list when more than one) and are exactly
    what should arrive: ``expected == len(sop_uids)``.  At SERIES level the whole series
    is sent; ``sop_uids`` are the wanted objects to keep (the rest is discarded and
    reported) and ``expected`` is the series size, ``None`` when the server did not say.
    ``study`` / ``series`` ``None`` means the key is left out (retrieve without parents).
    ``patient_id`` is sent only under the Patient Root model.  ``why``: the planner's
    reason for a list, single objects or the whole series (on the first step of a group).
    ``trial``: a series retrieved whole on trial, to be given up when its first objects
    say single retrieves of the wanted ones would be faster (:mod:`._trial`).
    """

    method: Method
    level: Level
    study: str | None
    series: str | None
    sop_uids: tuple[str, ...]
    expected: int | None
    purpose: str
    root: Root = Root.STUDY
    patient_id: str | None = None
    why: str = ""
    trial: Trial | None = None

    @property
    def keep(self) -> frozenset[str]:
        """The wanted SOP Instance UIDs this retrieve should bring."""
        return frozenset(self.sop_uids)

    @property
    def listed(self) -> bool:
        """Whether the request carries a UID list (more than one UID at IMAGE level)."""
        return self.level is Level.IMAGE and len(self.sop_uids) > 1

    @property
    def estimated_objects(self) -> int:
        """Objects this step moves: the series size at SERIES level when known."""
        return self.expected if self.expected is not None else len(self.sop_uids)

    @property
    def identifier(self) -> Keys:
        """QueryRetrieveLevel and the unique keys down to the retrieve level."""
        keys: list[tuple[str, str]] = [("QueryRetrieveLevel", self.level.value)]
        if self.root is Root.PATIENT:
            keys.append(("PatientID", self.patient_id or ""))
        if self.study is not None:
            keys.append(("StudyInstanceUID", self.study))
        if self.series is not None:
            keys.append(("SeriesInstanceUID", self.series))
        if self.level is Level.IMAGE:
            keys.append(("SOPInstanceUID", LIST_SEPARATOR.join(self.sop_uids)))
        return tuple(keys)


#: One step of a plan.  (QIDO/WADO steps will be added to this union.)
Step = Find | Retrieve


def split_uids(uids: Iterable[str], *, max_count: int, max_chars: int) -> Iterator[tuple[str, ...]]:
    """Cut ``uids`` into lists of at most ``max_count`` UIDs and ``max_chars`` characters.

    The character count includes the backslashes, so each list, encoded as one element
    value, stays under ``max_chars`` bytes (keep it well under the 64 KiB a 16-bit
    explicit-VR length allows).  A single UID longer than ``max_chars`` still gets its
    own list.
    """
    chunk: list[str] = []
    size = 0
    for uid in uids:
        extra = len(uid) + (1 if chunk else 0)
        if chunk and (len(chunk) >= max_count or size + extra > max_chars):
            yield tuple(chunk)
            chunk, size, extra = [], 0, len(uid)
        chunk.append(uid)
        size += extra
    if chunk:
        yield tuple(chunk)


def _uids_in(keys: Keys) -> tuple[str, ...]:
    for keyword, value in keys:
        if keyword == "SOPInstanceUID":
            return tuple(v for v in value.split(LIST_SEPARATOR) if v)
    return ()
