"""C-FIND and retrieve identifiers as SQL over the catalog's tables.

Each level reads from its own table, joined upwards: PATIENT from ``patients``, STUDY
from ``studies``, SERIES from ``series``, IMAGE from ``files`` (one row per file; a SOP
Instance UID held by several files is answered once, from its first file).  A row exists
at a level only while some indexed file is in it.  Keys of the query level and above are
matched on the columns below (relational matching: any level's keys, whatever was
negotiated); keys without a column are not matched (PS3.4: optional keys the SCP does not
support are return keys only) and are answered zero-length.

Result columns are labelled with the DICOM keyword they answer, plus ``_file_id`` and
``_path`` at IMAGE level.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    RowMapping,
    Select,
    bindparam,
    exists,
    select,
)

from dicomref._dimse._levels import Level
from dicomref.catalog.schema import files, patients, series, studies
from dicomref.server._identifier import Request, Term
from dicomref.server._keys import Match
from dicomref.server._matching import condition

_PATIENT_COLUMNS: dict[str, ColumnElement[Any]] = {
    "PatientID": patients.c.patient_id,
    "PatientName": patients.c.patient_name,
    "PatientBirthDate": patients.c.birth_date,
    "PatientSex": patients.c.sex,
}


@dataclass(frozen=True, slots=True)
class Source:
    """Where one level's rows come from: the join, the keyword → column map, the study
    column (for ModalitiesInStudy), what makes a row exist, and the answer order."""

    joined: FromClause
    columns: Mapping[str, ColumnElement[Any]]
    study: ColumnElement[Any] | None
    present: ColumnElement[bool] | None
    order: tuple[ColumnElement[Any], ...]
    extra: tuple[ColumnElement[Any], ...] = ()


def _study_columns(patient_of_study: ColumnElement[Any]) -> dict[str, ColumnElement[Any]]:
    return {
        **_PATIENT_COLUMNS,
        "PatientID": patient_of_study,
        "StudyDate": studies.c.study_date,
        "StudyTime": studies.c.study_time,
        "AccessionNumber": studies.c.accession_number,
        "StudyID": studies.c.study_id,
        "StudyDescription": studies.c.description,
    }


def _series_columns() -> dict[str, ColumnElement[Any]]:
    return {"SeriesNumber": series.c.series_number, "SeriesDescription": series.c.description}


@functools.cache
def source(level: Level) -> Source:
    """The rows of ``level``, joined with every level above it."""
    if level is Level.PATIENT:
        return Source(
            joined=patients,
            columns=_PATIENT_COLUMNS,
            study=None,
            present=exists().where(files.c.patient_id == patients.c.patient_id),
            order=(patients.c.patient_id,),
        )
    if level is Level.STUDY:
        return Source(
            joined=studies.outerjoin(patients, patients.c.patient_id == studies.c.patient_id),
            columns={
                **_study_columns(studies.c.patient_id),
                "StudyInstanceUID": studies.c.study_uid,
            },
            study=studies.c.study_uid,
            present=exists().where(files.c.study_uid == studies.c.study_uid),
            order=(studies.c.study_date, studies.c.study_uid),
        )
    if level is Level.SERIES:
        joined = series.outerjoin(studies, studies.c.study_uid == series.c.study_uid).outerjoin(
            patients, patients.c.patient_id == studies.c.patient_id
        )
        return Source(
            joined=joined,
            columns={
                **_study_columns(studies.c.patient_id),
                "StudyInstanceUID": series.c.study_uid,
                **_series_columns(),
                "SeriesInstanceUID": series.c.series_uid,
                "Modality": series.c.modality,
            },
            study=series.c.study_uid,
            present=exists().where(files.c.series_uid == series.c.series_uid),
            order=(series.c.study_uid, series.c.series_number, series.c.series_uid),
        )
    joined = (
        files.outerjoin(series, series.c.series_uid == files.c.series_uid)
        .outerjoin(studies, studies.c.study_uid == files.c.study_uid)
        .outerjoin(patients, patients.c.patient_id == files.c.patient_id)
    )
    return Source(
        joined=joined,
        columns={
            **_study_columns(files.c.patient_id),
            "StudyInstanceUID": files.c.study_uid,
            **_series_columns(),
            "SeriesInstanceUID": files.c.series_uid,
            "Modality": files.c.modality,
            "SOPInstanceUID": files.c.sop_instance,
            "SOPClassUID": files.c.sop_class,
            "InstanceNumber": files.c.instance_number,
            "NumberOfFrames": files.c.number_of_frames,
            "FrameOfReferenceUID": files.c.frame_of_reference,
            "AvailableTransferSyntaxUID": files.c.transfer_syntax,
            "ImagePositionPatient": files.c.image_position,
            "ImageOrientationPatient": files.c.image_orientation,
        },
        study=files.c.study_uid,
        present=None,
        order=(files.c.study_uid, files.c.series_uid, files.c.instance_number, files.c.id),
        extra=(files.c.id.label("_file_id"), files.c.path.label("_path")),
    )


def _term_condition(src: Source, term: Term, dialect: str) -> ColumnElement[bool] | None:
    key = term.key
    if key.match is Match.CODES:
        if src.study is None:
            return None
        modalities = key.keyword == "ModalitiesInStudy"
        inner = condition(
            files.c.modality if modalities else files.c.sop_class,
            Match.TEXT if modalities else Match.UID,
            term.values,
            dialect=dialect,
        )
        if inner is None:
            return None
        return exists().where(files.c.study_uid == src.study, inner)
    found = src.columns.get(key.keyword)
    if found is None:
        return None
    return condition(found, key.match, term.values, dialect=dialect)


def _base(src: Source) -> Select[Any]:
    columns = [column.label(keyword) for keyword, column in src.columns.items()]
    statement = select(*columns, *src.extra).select_from(src.joined)
    return statement if src.present is None else statement.where(src.present)


def query(request: Request, dialect: str, *, at: Level | None = None) -> Select[Any]:
    """The SELECT answering ``request`` at its level (or at ``at``: IMAGE for the objects
    a retrieve sends), in answer order."""
    src = source(at or request.level)
    statement = _base(src)
    for term in request.matching():
        found = _term_condition(src, term, dialect)
        if found is not None:
            statement = statement.where(found)
    return statement.order_by(*src.order)


@functools.cache
def _by_uids(level: Level, keywords: tuple[str, ...]) -> Select[Any]:
    """The SELECT of ``level`` matching each of ``keywords`` against a list of UIDs bound
    at execution: built once per shape, so SQLAlchemy's compiled cache serves it without
    walking a new statement (a lookup by SOP Instance UID at 1,000,000 instances: 0.8 ms
    with a statement built per request, 0.2 ms prebuilt)."""
    src = source(level)
    statement = _base(src)
    for keyword in keywords:
        statement = statement.where(src.columns[keyword].in_(bindparam(keyword, expanding=True)))
    return statement.order_by(*src.order)


def _uid_lists(request: Request, level: Level) -> dict[str, list[str]] | None:
    """The UID lists to bind when every matching key of ``request`` is a UID key (the
    identifiers dicomref's client and most retrieves send); None otherwise."""
    columns = source(level).columns
    lists: dict[str, list[str]] = {}
    for term in request.matching():
        if term.key.match is not Match.UID:
            return None
        if term.key.keyword in columns:
            lists[term.key.keyword] = list(dict.fromkeys(term.values))
    return lists


def _statement(
    conn: Connection, request: Request, level: Level, at: Level | None
) -> tuple[Select[Any], dict[str, list[str]]]:
    lists = _uid_lists(request, level)
    if lists is None:
        return query(request, conn.dialect.name, at=at), {}
    return _by_uids(level, tuple(sorted(lists))), lists


def _distinct(result: Iterable[RowMapping], level: Level) -> list[dict[str, Any]]:
    if level is not Level.IMAGE:
        return [dict(row) for row in result]
    seen: set[str] = set()
    found: list[dict[str, Any]] = []
    for row in result:
        uid = row["SOPInstanceUID"]
        if uid in seen:
            continue
        seen.add(uid)
        found.append(dict(row))
    return found


def rows(conn: Connection, request: Request, *, at: Level | None = None) -> list[dict[str, Any]]:
    """The matching rows as dicts keyed by keyword; at IMAGE level one per SOP Instance."""
    level = at or request.level
    statement, lists = _statement(conn, request, level, at)
    return _distinct(conn.execute(statement, lists).mappings(), level)


def page(
    conn: Connection, request: Request, offset: int, count: int
) -> tuple[list[dict[str, Any]], bool]:
    """Rows ``offset`` to ``offset + count`` of :func:`rows` (in the same order), and
    whether more follow; the database is asked for no more rows than that (plus the
    duplicate SOP Instance UIDs it skips at IMAGE level: then it is asked again for more)."""
    level = request.level
    statement, lists = _statement(conn, request, level, None)
    wanted = offset + count + 1
    fetch = wanted
    while True:
        result = conn.execute(statement.limit(fetch), lists).mappings().all()
        found = _distinct(result, level)
        if len(found) >= wanted or len(result) < fetch:
            return found[offset : offset + count], len(found) > offset + count
        fetch *= 2
