"""C-FIND answers: one identifier per matching row, carrying every key that was asked.

Keys with a catalog column get its value; counts (NumberOf…Related…), ModalitiesInStudy
and SOPClassesInStudy are computed per batch of answers; sequences asked at IMAGE level
are rebuilt from the references (:mod:`._refseq`); everything else is answered
zero-length, never refused.  Every answer also carries QueryRetrieveLevel, the unique
keys of its level and the levels above (in the information model asked), and
RetrieveAETitle (where to C-MOVE or C-GET from: this server).  Names and descriptions are
sent as UTF-8 (SpecificCharacterSet ``ISO_IR 192``) when they are not plain ASCII.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import DSfloat
from sqlalchemy import Connection, func, select

from dicomref._dimse._levels import Level
from dicomref.catalog import Catalog
from dicomref.catalog.schema import files
from dicomref.server import _refseq, _select
from dicomref.server._identifier import Request
from dicomref.server._keys import DEPTH, LEVELS, UNIQUE

#: Answers whose counts and sequences are read together.
BATCH: Final = 500
_TEXT_VRS: Final = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC"})
_COUNTS: Final[dict[Level, dict[str, int]]] = {
    Level.PATIENT: {
        "NumberOfPatientRelatedStudies": 1,
        "NumberOfPatientRelatedSeries": 2,
        "NumberOfPatientRelatedInstances": 3,
    },
    Level.STUDY: {"NumberOfStudyRelatedSeries": 2, "NumberOfStudyRelatedInstances": 3},
    Level.SERIES: {"NumberOfSeriesRelatedInstances": 3},
}
_GROUP_COLUMN: Final = {
    Level.PATIENT: (files.c.patient_id, "PatientID"),
    Level.STUDY: (files.c.study_uid, "StudyInstanceUID"),
    Level.SERIES: (files.c.series_uid, "SeriesInstanceUID"),
}
_STUDY_SETS: Final = {"ModalitiesInStudy": "modality", "SOPClassesInStudy": "sop_class"}


def answers(catalog: Catalog, request: Request, ae_title: str) -> Iterator[Dataset]:
    """Every answer to ``request``, built a batch at a time.  Raises CatalogError."""
    with catalog.reading() as conn:
        found = _select.rows(conn, request)
    return answer_rows(catalog, request, found, ae_title)


def answer_rows(
    catalog: Catalog, request: Request, found: Sequence[Mapping[str, Any]], ae_title: str
) -> Iterator[Dataset]:
    """The answers to ``request`` for rows :mod:`._select` found (counts, study sets and
    sequences read a batch at a time).  Raises CatalogError."""
    asked = {element.keyword for element in request.asked if element.keyword}
    for start in range(0, len(found), BATCH):
        batch = found[start : start + BATCH]
        if _needs_extras(request, asked):
            with catalog.reading() as conn:
                extras = _extras(conn, request, batch, asked)
        else:
            extras = [{} for _ in batch]
        for index, row in enumerate(batch):
            yield _answer(request, row, extras[index], ae_title)


def _needs_extras(request: Request, asked: set[str]) -> bool:
    if asked & _COUNTS.get(request.level, {}).keys():
        return True
    if request.level is Level.STUDY and asked & _STUDY_SETS.keys():
        return True
    return request.level is Level.IMAGE and any(e.VR == "SQ" for e in request.asked)


def _extras(
    conn: Connection, request: Request, batch: Sequence[Mapping[str, Any]], asked: set[str]
) -> list[dict[str, Any]]:
    extras: list[dict[str, Any]] = [{} for _ in batch]
    counts = {kw: i for kw, i in _COUNTS.get(request.level, {}).items() if kw in asked}
    if counts:
        _add_counts(conn, request.level, batch, counts, extras)
    if request.level is Level.STUDY and asked & _STUDY_SETS.keys():
        _add_study_sets(conn, batch, asked & _STUDY_SETS.keys(), extras)
    sequences = [e.keyword for e in request.asked if e.VR == "SQ" and e.keyword]
    if request.level is Level.IMAGE and sequences:
        ids = [int(row["_file_id"]) for row in batch]
        built = _refseq.for_files(conn, ids, sequences)
        for index, file_id in enumerate(ids):
            extras[index].update(built[file_id])
    return extras


def _add_counts(
    conn: Connection,
    level: Level,
    batch: Sequence[Mapping[str, Any]],
    counts: Mapping[str, int],
    extras: list[dict[str, Any]],
) -> None:
    column, keyword = _GROUP_COLUMN[level]
    keys = [row[keyword] for row in batch]
    statement = (
        select(
            column,
            func.count(files.c.study_uid.distinct()),
            func.count(files.c.series_uid.distinct()),
            func.count(files.c.sop_instance.distinct()),
        )
        .where(column.in_([k for k in keys if k is not None]))
        .group_by(column)
    )
    numbers = {row[0]: row for row in conn.execute(statement)}
    for index, key in enumerate(keys):
        found = numbers.get(key)
        for name, position in counts.items():
            extras[index][name] = int(found[position]) if found is not None else 0


def _add_study_sets(
    conn: Connection,
    batch: Sequence[Mapping[str, Any]],
    wanted: set[str],
    extras: list[dict[str, Any]],
) -> None:
    uids = [row["StudyInstanceUID"] for row in batch]
    statement = (
        select(files.c.study_uid, files.c.modality, files.c.sop_class)
        .where(files.c.study_uid.in_(uids))
        .distinct()
    )
    sets: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for study_uid, modality, sop_class in conn.execute(statement):
        if modality:
            sets[study_uid]["modality"].add(modality)
        sets[study_uid]["sop_class"].add(sop_class)
    for index, uid in enumerate(uids):
        for keyword in wanted:
            extras[index][keyword] = sorted(sets[uid][_STUDY_SETS[keyword]]) or None


def _answer(
    request: Request, row: Mapping[str, Any], extra: Mapping[str, Any], ae_title: str
) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = request.level.value
    for element in request.asked:
        keyword = element.keyword
        if keyword == "RetrieveAETitle":
            value: Any = ae_title
        elif keyword == "InstanceAvailability":
            value = "ONLINE"
        elif keyword in extra:
            value = extra[keyword]
        elif keyword:
            value = row.get(keyword)
        else:
            value = None
        ds.add(_element(element, value))
    for level in LEVELS[request.root]:
        if DEPTH[level] > DEPTH[request.level]:
            break
        key = UNIQUE[level]
        if key.keyword not in ds:
            setattr(ds, key.keyword, row.get(key.keyword) or "")
    if "RetrieveAETitle" not in ds:
        ds.RetrieveAETitle = ae_title
    if _needs_utf8(ds):
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def _element(asked: DataElement, value: Any) -> DataElement:
    vr = asked.VR
    if vr == "SQ":
        return DataElement(asked.tag, "SQ", value if isinstance(value, DicomSequence) else [])
    return DataElement(asked.tag, vr, _convert(vr, value))


def _convert(vr: str, value: Any) -> Any:
    if value is None or value == "" or vr == "UN":
        return None
    if vr == "IS":
        return int(value)
    if vr == "DS":
        parts = str(value).split("\\")
        numbers = [DSfloat(float(p), auto_format=True) for p in parts]
        return numbers if len(numbers) > 1 else numbers[0]
    if vr in ("US", "UL", "SS", "SL"):
        return int(value)
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


def _needs_utf8(ds: Dataset) -> bool:
    for element in ds:
        if element.VR in _TEXT_VRS and element.value is not None:
            values = element.value if isinstance(element.value, list) else [element.value]
            if any(not str(v).isascii() for v in values):
                return True
    return False
