"""How many objects the touched studies hold: what a whole-study download would have moved.

Cheapest first, per study: nothing, when the fetch listed the study's series with their
sizes already (dependents do); one STUDY C-FIND asking NumberOfStudyRelatedInstances (Orthanc
answers it; a server that answers one row per instance, like pynetdicom's qrscp, is
counted by its rows); else one IMAGE C-FIND over the study with a zero-length series key
(lenient servers); else the study's series listed and each listed at IMAGE level (at
most :data:`MAX_SERIES` series).  The IMAGE-level listings are not sent to a server that
refused the IMAGE level during the fetch.  Bytes are estimated from the average size of the
objects this fetch saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydicom.dataset import Dataset

from dicomref.errors import StatusError
from dicomref.remote.fetching._report import WholeStudy
from dicomref.remote.planner._enums import Level, Root
from dicomref.remote.planner._match import Match
from dicomref.remote.transport._executor import Executor

MAX_SERIES = 50
"""Series listed one by one to count a study whose server gives no count; beyond: unknown."""

_WHY = "(for the whole-study comparison)"


def whole_study(
    executor: Executor,
    studies: Iterable[str],
    root: Root,
    average_size: float,
    known: Mapping[str, int] | None = None,
    *,
    image_level: bool = True,
) -> WholeStudy:
    """Count ``studies`` on the server; bytes are ``average_size`` times the count.
    ``known``: studies already counted (from a listing of their series), not asked;
    ``image_level``: whether the server may answer IMAGE-level queries."""
    touched = tuple(sorted(set(studies)))
    before = executor.requests.total
    total: int | None = 0
    notes: list[str] = []
    for study in touched:
        count: int | None
        if known is not None and study in known:
            count, how = known[study], "the sizes of the study's series listed on the way"
        else:
            count, how = _count(executor, study, root, image_level)
        notes.append(how)
        if count is None or total is None:
            total = None
        else:
            total += count
    spent = executor.requests.total - before
    size = None if total is None else round(total * average_size)
    return WholeStudy(
        studies=touched,
        objects=total,
        bytes=size,
        requests=spent,
        note="; ".join(sorted(set(notes))),
    )


def _count(executor: Executor, study: str, root: Root, image_level: bool) -> tuple[int | None, str]:
    if root is Root.PATIENT:
        return None, "not counted under the Patient Root model"
    try:
        rows = executor.find(
            Level.STUDY,
            (("StudyInstanceUID", study), ("NumberOfStudyRelatedInstances", "")),
            root,
            f"count the instances of study {study} {_WHY}",
        )
    except StatusError:
        rows = []
    matches = [m for m in (Match.from_dataset(r) for r in rows) if m.study == study]
    counts = [m.count for m in matches if m.count is not None]
    if counts:
        return counts[0], "NumberOfStudyRelatedInstances"
    if len(matches) > 1:
        return len(matches), "one study row per instance"
    if not image_level:
        return None, "the server gives no count and refuses IMAGE-level queries"
    try:
        rows = executor.find(
            Level.IMAGE,
            (("StudyInstanceUID", study), ("SeriesInstanceUID", ""), ("SOPInstanceUID", "")),
            root,
            f"list the instances of study {study} {_WHY}",
        )
        return _distinct(rows), "instances listed across the study"
    except StatusError:
        pass
    return _series_by_series(executor, study, root)


def _series_by_series(executor: Executor, study: str, root: Root) -> tuple[int | None, str]:
    try:
        rows = executor.find(
            Level.SERIES,
            (("StudyInstanceUID", study), ("SeriesInstanceUID", "")),
            root,
            f"list the series of study {study} {_WHY}",
        )
    except StatusError:
        return None, "the server gives no count"
    series = sorted({m.series for m in (Match.from_dataset(r) for r in rows) if m.series})
    if len(series) > MAX_SERIES:
        return None, f"not counted: {len(series)} series"
    total = 0
    for uid in series:
        try:
            found = executor.find(
                Level.IMAGE,
                (("StudyInstanceUID", study), ("SeriesInstanceUID", uid), ("SOPInstanceUID", "")),
                root,
                f"list the instances of series {uid} {_WHY}",
            )
        except StatusError:
            return None, "the server gives no count"
        total += _distinct(found)
    return total, "instances listed series by series"


def _distinct(rows: Sequence[Dataset]) -> int:
    return len({str(r.get("SOPInstanceUID", "") or "") for r in rows} - {""})
