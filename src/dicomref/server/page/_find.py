"""Finding patients and studies: by ID, name, accession, UID, date and modality; and the
studies indexed most recently.

Searches read the ``studies``, ``patients`` and ``series`` tables (one row per study,
patient, series: small next to ``files``); "recent" asks for the latest file of a study not
seen yet, :data:`RECENT` times, each a walk of ``files``' primary key backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicomref.catalog import Catalog

#: Studies a search returns at most.
LIMIT = 100
#: Studies "recent" lists.
RECENT = 20


@dataclass(frozen=True, slots=True)
class StudyRow:
    """One study as the find page lists it."""

    study_uid: str
    patient_id: str | None
    patient_name: str | None
    study_date: str | None
    description: str | None
    accession_number: str | None
    modalities: tuple[str, ...]
    series: int


@dataclass(frozen=True, slots=True)
class Search:
    """What was asked: free text (ID, name, accession, description or UID), a date or
    range of dates (YYYYMMDD), a modality.  Empty fields match everything."""

    text: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""

    @property
    def empty(self) -> bool:
        return not (self.text or self.date_from or self.date_to or self.modality)


def dicom_date(value: str) -> str:
    """``2018-01-31`` or ``20180131`` as ``20180131``; '' for anything else."""
    digits = value.strip().replace("-", "")
    return digits if len(digits) == 8 and digits.isdigit() else ""


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(catalog: Catalog, asked: Search) -> list[StudyRow]:
    """Studies matching ``asked``, newest first, at most :data:`LIMIT`."""
    from sqlalchemy import exists, func, or_, select

    from dicomref.catalog.schema import patients, series, studies

    query = select(
        studies.c.study_uid,
        studies.c.patient_id,
        patients.c.patient_name,
        studies.c.study_date,
        studies.c.description,
        studies.c.accession_number,
    ).select_from(studies.outerjoin(patients, studies.c.patient_id == patients.c.patient_id))
    text = asked.text.strip()
    if text:
        pattern = _like(text)
        spaced = _like(text.replace(" ", "^"))
        query = query.where(
            or_(
                studies.c.study_uid == text,
                func.lower(studies.c.patient_id).like(pattern, escape="\\"),
                func.lower(patients.c.patient_name).like(pattern, escape="\\"),
                func.lower(patients.c.patient_name).like(spaced, escape="\\"),
                func.lower(studies.c.accession_number).like(pattern, escape="\\"),
                func.lower(studies.c.description).like(pattern, escape="\\"),
                func.lower(studies.c.study_id).like(pattern, escape="\\"),
                exists().where(
                    series.c.series_uid == text, series.c.study_uid == studies.c.study_uid
                ),
            )
        )
    if asked.date_from:
        query = query.where(studies.c.study_date >= asked.date_from)
    if asked.date_to:
        query = query.where(studies.c.study_date <= asked.date_to)
    if asked.modality:
        query = query.where(
            exists().where(
                series.c.study_uid == studies.c.study_uid,
                series.c.modality == asked.modality.upper(),
            )
        )
    query = query.order_by(
        studies.c.study_date.is_(None), studies.c.study_date.desc(), studies.c.study_uid
    ).limit(LIMIT)
    with catalog.reading() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
        return _with_series(conn, rows)


def recent(catalog: Catalog) -> list[StudyRow]:
    """The :data:`RECENT` studies whose files were indexed last, most recent first."""
    from sqlalchemy import select

    from dicomref.catalog.schema import files, patients, studies

    order: list[str] = []
    before: int | None = None
    with catalog.reading() as conn:
        while len(order) < RECENT:
            # The latest file below ``before`` of a study not seen yet: the database walks
            # the primary key backwards past the seen studies' files, in one statement.
            latest = select(files.c.id, files.c.study_uid).order_by(files.c.id.desc()).limit(1)
            if before is not None:
                latest = latest.where(files.c.id < before)
            if order:
                latest = latest.where(files.c.study_uid.not_in(order))
            row = conn.execute(latest).first()
            if row is None:
                break
            before = row[0]
            order.append(row[1])
        order = order[:RECENT]
        if not order:
            return []
        query = (
            select(
                studies.c.study_uid,
                studies.c.patient_id,
                patients.c.patient_name,
                studies.c.study_date,
                studies.c.description,
                studies.c.accession_number,
            )
            .select_from(studies.outerjoin(patients, studies.c.patient_id == patients.c.patient_id))
            .where(studies.c.study_uid.in_(order))
        )
        found = {r[0]: tuple(r) for r in conn.execute(query)}
        return _with_series(conn, [found[uid] for uid in order if uid in found])


def _with_series(conn: Any, rows: list[tuple[Any, ...]]) -> list[StudyRow]:
    """StudyRows, with each study's modalities and series count (one indexed query)."""
    from sqlalchemy import select

    from dicomref.catalog.schema import series

    uids = [r[0] for r in rows]
    modalities: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    if uids:
        query = select(series.c.study_uid, series.c.modality).where(series.c.study_uid.in_(uids))
        for study_uid, modality in conn.execute(query):
            counts[study_uid] = counts.get(study_uid, 0) + 1
            if modality:
                modalities.setdefault(study_uid, set()).add(modality)
    return [
        StudyRow(
            study_uid=r[0],
            patient_id=r[1],
            patient_name=r[2],
            study_date=r[3],
            description=r[4],
            accession_number=r[5],
            modalities=tuple(sorted(modalities.get(r[0], ()))),
            series=counts.get(r[0], 0),
        )
        for r in rows
    ]
