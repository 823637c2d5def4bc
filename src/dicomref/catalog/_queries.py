"""Reading the catalog: objects by UID, references both ways, series, duplicates, counts.

Every function takes an open connection and returns value objects; none writes except
:func:`duplicates`, which caches the content hashes it computes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, exists, func, select, update

from dicomref.catalog._reports import DuplicateGroup, SeriesSummary
from dicomref.catalog._rows import to_references, to_summary
from dicomref.catalog._schema import files, patients, refs, series, studies
from dicomref.model import Kind, ObjectSummary, Reference

#: Rows per page when streaming instances.
PAGE = 1000

_SUMMARY_COLUMNS = (
    files.c.id,
    files.c.path,
    files.c.size,
    files.c.mtime_ns,
    files.c.sop_class,
    files.c.sop_instance,
    files.c.study_uid,
    files.c.series_uid,
    files.c.transfer_syntax,
    files.c.patient_id,
    patients.c.patient_name,
    files.c.modality,
    files.c.frame_of_reference,
    studies.c.study_date,
    studies.c.description.label("study_description"),
    series.c.description.label("series_description"),
    series.c.series_number,
    files.c.instance_number,
    files.c.number_of_frames,
    files.c.image_position,
    files.c.image_orientation,
    studies.c.study_time,
    studies.c.accession_number,
    studies.c.study_id,
    patients.c.birth_date,
    patients.c.sex,
    files.c.content_date,
    files.c.content_time,
    files.c.label,
    files.c.roi_count,
    files.c.beam_count,
    files.c.applicator_count,
    files.c.dose_type,
    files.c.dose_units,
    files.c.dose_summation,
)


def _summaries() -> Select[Any]:
    joined = (
        files.outerjoin(patients, files.c.patient_id == patients.c.patient_id)
        .outerjoin(studies, files.c.study_uid == studies.c.study_uid)
        .outerjoin(series, files.c.series_uid == series.c.series_uid)
    )
    return select(*_SUMMARY_COLUMNS).select_from(joined)


def _unique(references: Iterable[Reference]) -> list[Reference]:
    """References in order, each once (identical copies of a file give identical rows)."""
    return list(dict.fromkeys(references))


# The point lookups are built once: constructing a Core statement costs more than running
# it (about 0.5 ms against 0.1 ms), and these run once per object in show, check and fetch.
_LOCATE = _summaries().where(files.c.sop_instance == bindparam("uid")).order_by(files.c.id)
_REFS_OF_FILE = select(refs).where(refs.c.file_id == bindparam("file_id")).order_by(refs.c.id)
_REFS_FROM = (
    select(refs)
    .where(
        refs.c.file_id.in_(
            select(files.c.id).where(files.c.sop_instance == bindparam("uid")).scalar_subquery()
        )
    )
    .order_by(refs.c.id)
)
_REFERRERS = select(refs).where(refs.c.target_uid == bindparam("uid")).order_by(refs.c.id)


def _references(
    conn: Connection, query: Select[Any], params: dict[str, Any] | None = None
) -> list[Reference]:
    rows = conn.execute(query, params or {}).mappings()
    return _unique(r for row in rows for r in to_references(row))


def locate(conn: Connection, sop_uid: str) -> list[tuple[int, ObjectSummary]]:
    """(file id, summary without references) of every file holding ``sop_uid``."""
    rows = conn.execute(_LOCATE, {"uid": sop_uid}).mappings()
    return [(row["id"], to_summary(row)) for row in rows]


def references_of_file(conn: Connection, file_id: int) -> list[Reference]:
    return _references(conn, _REFS_OF_FILE, {"file_id": file_id})


def references_from(conn: Connection, sop_uid: str) -> list[Reference]:
    return _references(conn, _REFS_FROM, {"uid": sop_uid})


def referrers(conn: Connection, target_uid: str) -> list[Reference]:
    return _references(conn, _REFERRERS, {"uid": target_uid})


def dangling(conn: Connection) -> list[Reference]:
    held = exists().where(files.c.sop_instance == refs.c.target_uid)
    query = select(refs).where(refs.c.is_instance.is_(True), ~held).order_by(refs.c.id)
    return _references(conn, query)


def references_of_kind(conn: Connection, kinds: Iterable[Kind]) -> list[Reference]:
    query = select(refs).where(refs.c.kind.in_([k.value for k in kinds])).order_by(refs.c.id)
    return _references(conn, query)


def series_instances(conn: Connection, series_uid: str) -> list[ObjectSummary]:
    query = (
        _summaries()
        .where(files.c.series_uid == series_uid)
        .order_by(files.c.instance_number.is_(None), files.c.instance_number, files.c.path)
    )
    return [to_summary(row) for row in conn.execute(query).mappings()]


def study_series(conn: Connection, study_uid: str) -> list[SeriesSummary]:
    query = (
        select(
            files.c.series_uid,
            series.c.modality,
            series.c.description,
            series.c.series_number,
            func.count(files.c.sop_instance.distinct()),
        )
        .select_from(files.outerjoin(series, files.c.series_uid == series.c.series_uid))
        .where(files.c.study_uid == study_uid)
        .group_by(
            files.c.series_uid, series.c.modality, series.c.description, series.c.series_number
        )
        .order_by(series.c.series_number.is_(None), series.c.series_number, files.c.series_uid)
    )
    return [
        SeriesSummary(uid, modality, description, number, int(count))
        for uid, modality, description, number, count in conn.execute(query)
    ]


def instances_page(
    conn: Connection, after_id: int, sop_class: str | None, modality: str | None
) -> list[tuple[int, ObjectSummary]]:
    """Up to :data:`PAGE` (id, summary) with id > ``after_id``, in id order."""
    query = _summaries().where(files.c.id > after_id)
    if sop_class is not None:
        query = query.where(files.c.sop_class == sop_class)
    if modality is not None:
        query = query.where(files.c.modality == modality)
    query = query.order_by(files.c.id).limit(PAGE)
    return [(row["id"], to_summary(row)) for row in conn.execute(query).mappings()]


def counts(conn: Connection) -> dict[str, int]:
    def count(query: Select[Any]) -> int:
        return int(conn.scalar(query) or 0)

    return {
        "patients": count(select(func.count()).select_from(patients)),
        "studies": count(select(func.count()).select_from(studies)),
        "series": count(select(func.count()).select_from(series)),
        "instances": count(select(func.count(files.c.sop_instance.distinct()))),
        "files": count(select(func.count()).select_from(files)),
        "references": count(select(func.sum(refs.c.path_count))),
    }


# -- duplicates ---------------------------------------------------------------------------

DuplicateRows = list[tuple[int, str, int, int, str | None]]  # id, path, size, mtime_ns, sha256


def _hash(path: str) -> str | None:
    try:
        with Path(path).open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def _unchanged(path: str, size: int, mtime_ns: int) -> bool:
    try:
        st = Path(path).stat()
    except OSError:
        return False
    return st.st_size == size and st.st_mtime_ns == mtime_ns


def _same_content(rows: DuplicateRows, hashes: dict[int, str]) -> bool | None:
    """Compare the files of one group; fills ``hashes`` (file id -> sha256) it computed."""
    if len({size for _, _, size, _, _ in rows}) > 1:
        return False
    digests = set()
    for file_id, path, size, mtime_ns, cached in rows:
        if not _unchanged(path, size, mtime_ns):
            return None  # gone or changed since indexed: what we know cannot be compared
        digest = cached or _hash(path)
        if digest is None:
            return None
        if cached is None:
            hashes[file_id] = digest
        digests.add(digest)
    return len(digests) == 1


def duplicate_rows(conn: Connection) -> Iterator[tuple[str, DuplicateRows]]:
    """(SOP UID, rows) for each group of files sharing a SOP Instance UID, in UID order."""
    held_twice = (
        select(files.c.sop_instance).group_by(files.c.sop_instance).having(func.count() > 1)
    )
    query = (
        select(
            files.c.sop_instance,
            files.c.id,
            files.c.path,
            files.c.size,
            files.c.mtime_ns,
            files.c.content_sha256,
        )
        .where(files.c.sop_instance.in_(held_twice.scalar_subquery()))
        .order_by(files.c.sop_instance, files.c.path)
    )
    group: DuplicateRows = []
    current = ""
    for uid, file_id, path, size, mtime_ns, digest in conn.execute(query):
        if uid != current and group:
            yield current, group
            group = []
        current = uid
        group.append((file_id, path, size, mtime_ns, digest))
    if group:
        yield current, group


def duplicates(
    groups: Iterable[tuple[str, DuplicateRows]],
    *,
    compare: bool,
    hashes: dict[int, str],
) -> list[DuplicateGroup]:
    """DuplicateGroups from grouped rows; with ``compare``, hashes the files (cached ones not)."""
    return [
        DuplicateGroup(
            sop_uid=uid,
            paths=tuple(path for _, path, _, _, _ in rows),
            sizes=tuple(size for _, _, size, _, _ in rows),
            same_content=_same_content(rows, hashes) if compare else None,
        )
        for uid, rows in groups
    ]


def store_hashes(conn: Connection, hashes: dict[int, str]) -> None:
    """Cache content hashes (only on rows that still describe the file that was hashed)."""
    if not hashes:
        return
    query = (
        update(files)
        .where(and_(files.c.id == bindparam("file_id"), files.c.content_sha256.is_(None)))
        .values(content_sha256=bindparam("digest"))
    )
    conn.execute(query, [{"file_id": k, "digest": v} for k, v in hashes.items()])
