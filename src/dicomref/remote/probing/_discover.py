"""Finding something to probe with: studies, their series, and an instance in the smallest.

Standard keys only (private or exotic keys break some servers).  Rows are merged by UID:
some servers (pynetdicom's qrscp) answer a SERIES query with one row per instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from dicomref.remote.probing._report import ProbeInstance
from dicomref.remote.probing._support import identifier

if TYPE_CHECKING:  # annotations only: a DICOMweb probe imports no pynetdicom
    from dicomref.remote.transport._dimse_client import DimseClient

MAX_STUDIES = 5
"""Studies whose series are listed to choose an instance (and an RT object) from."""

RT_MODALITIES = ("RTPLAN", "RTDOSE", "RTSTRUCT")
"""Objects that carry reference sequences, in the order they are preferred for measuring
sequence return keys (a plan names its structure set, a dose its plan)."""

SMALL_MODALITIES = frozenset(
    {"RTPLAN", "RTSTRUCT", "RTDOSE", "RTRECORD", "KO", "SR", "PR", "REG", "SEG", "DOC"}
)
"""Series that usually hold one or a few objects: tried first when the server does not say
how many instances a series holds."""


@dataclass(frozen=True, slots=True)
class Study:
    uid: str
    patient_id: str | None


@dataclass(frozen=True, slots=True)
class Series:
    """One series as listed: ``count`` is NumberOfSeriesRelatedInstances when the server
    says, ``rows`` how many rows the SERIES answer held for it."""

    study: str
    uid: str
    modality: str | None
    count: int | None
    rows: int


def _text(row: Dataset, keyword: str) -> str | None:
    value = row.get(keyword)
    text = str(value).strip() if value is not None else ""
    return text or None


def _number(row: Dataset, keyword: str) -> int | None:
    text = _text(row, keyword)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def list_studies(client: DimseClient) -> list[Study]:
    """Every study (universal STUDY C-FIND, Study Root), each once."""
    rows = client.find("STUDY", identifier(StudyInstanceUID="", PatientID=""))
    studies: dict[str, Study] = {}
    for row in rows:
        uid = _text(row, "StudyInstanceUID")
        if uid and uid not in studies:
            studies[uid] = Study(uid, _text(row, "PatientID"))
    return list(studies.values())


def list_series(client: DimseClient, studies: Sequence[Study]) -> list[Series]:
    """The series of the first :data:`MAX_STUDIES` studies, duplicate rows merged."""
    found: dict[str, Series] = {}
    for study in studies[:MAX_STUDIES]:
        rows = client.find(
            "SERIES",
            identifier(
                StudyInstanceUID=study.uid,
                SeriesInstanceUID="",
                Modality="",
                NumberOfSeriesRelatedInstances="",
            ),
        )
        for row in rows:
            uid = _text(row, "SeriesInstanceUID")
            if not uid:
                continue
            seen = found.get(uid)
            if seen is None:
                modality = _text(row, "Modality")
                count = _number(row, "NumberOfSeriesRelatedInstances")
                found[uid] = Series(study.uid, uid, modality, count, 1)
            else:
                found[uid] = Series(seen.study, uid, seen.modality, seen.count, seen.rows + 1)
    return list(found.values())


def smallest_first(series: Iterable[Series]) -> list[Series]:
    """Series in the order to look for an instance in: the smallest holding at least two
    instances first (a UID list can then name two real ones), as far as the server says
    how many each holds; then series of unknown size, usually small modalities first; then
    those of one instance; empty ones last."""

    def key(item: tuple[int, Series]) -> tuple[int, int, int]:
        order, s = item
        if s.count is None:
            return (1, 0 if s.modality in SMALL_MODALITIES else 1, order)
        if s.count >= 2:
            return (0, s.count, order)
        return (2 if s.count == 1 else 3, 0, order)

    return [s for _, s in sorted(enumerate(series), key=key)]


def rt_series(series: Iterable[Series]) -> Series | None:
    """The series of the most useful RT object to ask reference sequences of, if any."""
    by_modality: dict[str, Series] = {}
    for s in series:
        if s.modality in RT_MODALITIES:
            by_modality.setdefault(s.modality, s)
    return next((by_modality[m] for m in RT_MODALITIES if m in by_modality), None)


def instances_in(client: DimseClient, series: Series) -> list[ProbeInstance]:
    """The instances of ``series`` (hierarchical IMAGE C-FIND), each once, by SOP UID."""
    rows = client.find(
        "IMAGE",
        identifier(
            StudyInstanceUID=series.study,
            SeriesInstanceUID=series.uid,
            SOPInstanceUID="",
            SOPClassUID="",
        ),
    )
    found: dict[str, str | None] = {}
    for row in rows:
        sop = _text(row, "SOPInstanceUID")
        if sop and sop not in found:
            found[sop] = _text(row, "SOPClassUID")
    size = len(found)
    return [
        ProbeInstance(series.study, series.uid, sop, sop_class, series.modality, size)
        for sop, sop_class in sorted(found.items())
    ]
