"""What the study page shows: the study's series, its objects arranged as the RT chain
(images -> structure sets -> plans -> doses -> records), the objects derived from images
(SEG, SR, KOS, PR -> their images), and the findings of the checks that read the index.

Everything comes from indexed lookups: the study's files by ``files.study_uid``, their
references by ``refs.file_id``, where each target is by ``files.sop_instance`` (500 UIDs a
query), series by ``series.series_uid``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dicomref.catalog import DuplicateGroup
from dicomref.check import (
    SEVERITY_ORDER,
    SOURCE_MODALITIES,
    Finding,
    conformance_findings,
    dangling_findings,
    duplicate_finding,
    frame_findings,
)
from dicomref.graph_view import SeriesInfo, series_info
from dicomref.labels import OBJECT_MODALITIES
from dicomref.model import Kind, ObjectSummary

if TYPE_CHECKING:
    from dicomref.catalog import Catalog

CHUNK = 500


@dataclass(frozen=True, slots=True)
class StudyObject:
    """An object of the study that is not an image (structure set, plan, dose, SEG…)."""

    uid: str
    series: str
    modality: str | None
    instance_number: int | None
    content_date: str | None = None
    label: str | None = None
    roi_count: int | None = None
    beam_count: int | None = None
    applicator_count: int | None = None
    dose_type: str | None = None
    dose_units: str | None = None
    dose_summation: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """The references of one object to one target (``places`` of them), and where the
    target is: ``series``/``study`` when held, None when no indexed file holds it."""

    source: str
    target: str
    kind: Kind
    instance: bool
    places: int
    series: str | None
    study: str | None
    series_hint: str | None
    contoured: bool = False  # named by a contour (not only in the list of referenced images)

    @property
    def held(self) -> bool:
        return self.series is not None


@dataclass(slots=True)
class StudyHeader:
    uid: str
    patient_id: str | None = None
    patient_name: str | None = None
    study_date: str | None = None
    description: str | None = None
    accession_number: str | None = None
    study_id: str | None = None


@dataclass(slots=True)
class StudyData:
    header: StudyHeader
    series: list[SeriesInfo]
    objects: dict[str, StudyObject]
    links: dict[str, list[Link]]
    series_titles: dict[str, SeriesInfo]
    findings: list[Finding] = field(default_factory=list)

    def targets(self, uid: str, *kinds: Kind) -> list[Link]:
        return [link for link in self.links.get(uid, ()) if link.kind in kinds]


def load_study(catalog: Catalog, study_uid: str) -> StudyData | None:
    """The study page's data, or None when the catalog holds no file of the study."""
    from sqlalchemy import func, select

    from dicomref.catalog.schema import files, patients, refs, series, studies

    with catalog.reading() as conn:
        head = conn.execute(
            select(
                studies.c.patient_id,
                patients.c.patient_name,
                studies.c.study_date,
                studies.c.description,
                studies.c.accession_number,
                studies.c.study_id,
            )
            .select_from(studies.outerjoin(patients, studies.c.patient_id == patients.c.patient_id))
            .where(studies.c.study_uid == study_uid)
        ).first()
        if head is None:
            return None
        header = StudyHeader(study_uid, *head)
        counted = conn.execute(
            select(files.c.series_uid, func.count(files.c.sop_instance.distinct()))
            .where(files.c.study_uid == study_uid)
            .group_by(files.c.series_uid)
        )
        counts = {uid: int(n) for uid, n in counted}
        series_rows = conn.execute(
            select(
                series.c.series_uid,
                series.c.modality,
                series.c.series_number,
                series.c.description,
            ).where(series.c.study_uid == study_uid)
        ).all()
        objects = {
            row[0]: StudyObject(*row)
            for row in conn.execute(
                select(
                    files.c.sop_instance,
                    files.c.series_uid,
                    files.c.modality,
                    files.c.instance_number,
                    files.c.content_date,
                    files.c.label,
                    files.c.roi_count,
                    files.c.beam_count,
                    files.c.applicator_count,
                    files.c.dose_type,
                    files.c.dose_units,
                    files.c.dose_summation,
                )
                .where(files.c.study_uid == study_uid, files.c.modality.in_(OBJECT_MODALITIES))
                .order_by(files.c.modality, files.c.instance_number, files.c.sop_instance)
            )
        }
        rows = conn.execute(
            select(
                refs.c.source_uid,
                refs.c.target_uid,
                refs.c.kind,
                refs.c.is_instance,
                refs.c.path_count,
                refs.c.series_hint,
                refs.c.paths.contains(".ContourSequence["),
            )
            .select_from(refs.join(files, refs.c.file_id == files.c.id))
            .where(files.c.study_uid == study_uid)
            .order_by(refs.c.id)
        ).all()
        where = _where(conn, {r[1] for r in rows if r[3]})
        duplicated = (
            conn.execute(
                select(files.c.sop_instance)
                .where(files.c.study_uid == study_uid)
                .group_by(files.c.sop_instance)
                .having(func.count() > 1)
            )
            .scalars()
            .all()
        )
        duplicate_files = (
            conn.execute(
                select(files.c.sop_instance, files.c.path, files.c.size)
                .where(files.c.sop_instance.in_(duplicated))
                .order_by(files.c.sop_instance, files.c.path)
            ).all()
            if duplicated
            else []
        )
    series_list = [
        SeriesInfo(uid, study_uid, modality, number, description, counts.get(uid, 0))
        for uid, modality, number, description in series_rows
    ]
    series_list.sort(key=lambda s: (s.number is None, s.number or 0, s.uid))
    links = _links(rows, where)
    titles = series_info(
        catalog,
        {link.series for group in links.values() for link in group if link.series}
        | {link.series_hint for group in links.values() for link in group if link.series_hint},
    )
    data = StudyData(header, series_list, objects, links, titles)
    data.findings = _findings(catalog, objects, links, duplicate_files)
    return data


def _where(conn: object, uids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """SOP Instance UID -> (series, study) of each held one."""
    from sqlalchemy import Connection, select

    from dicomref.catalog.schema import files

    assert isinstance(conn, Connection)
    wanted = sorted(uids)
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(wanted), CHUNK):
        query = select(files.c.sop_instance, files.c.series_uid, files.c.study_uid).where(
            files.c.sop_instance.in_(wanted[start : start + CHUNK])
        )
        for uid, series_uid, study in conn.execute(query):
            found.setdefault(uid, (series_uid, study))
    return found


def _kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        return Kind.OTHER


def _links(
    rows: Iterable[tuple[str, str, str, bool, int, str | None, bool]],
    where: dict[str, tuple[str, str]],
) -> dict[str, list[Link]]:
    """Per source, one Link per (target, kind), places summed over the rows."""
    merged: dict[tuple[str, str, Kind], Link] = {}
    for source, target, kind_value, is_instance, places, hint, contoured in rows:
        kind = _kind(kind_value)
        key = (source, target, kind)
        old = merged.get(key)
        held = where.get(target)
        merged[key] = Link(
            source,
            target,
            kind,
            bool(is_instance),
            places + (old.places if old else 0),
            held[0] if held else None,
            held[1] if held else None,
            (old.series_hint if old else None) or hint,
            bool(contoured) or (old.contoured if old else False),
        )
    links: dict[str, list[Link]] = {}
    for link in merged.values():
        links.setdefault(link.source, []).append(link)
    return links


def _findings(
    catalog: Catalog,
    objects: dict[str, StudyObject],
    links: dict[str, list[Link]],
    duplicate_files: Iterable[tuple[str, str, int]],
) -> list[Finding]:
    """The findings of ``dicomref check`` for the study's files, worded as it words them,
    from the index alone: every check but CONTOUR_OFF_SLICE (which reads the files)."""
    sources = set(links)
    missing = sorted(
        {
            link.target
            for group in links.values()
            for link in group
            if link.instance and not link.held
        }
    )
    dangling = [
        ref for target in missing for ref in catalog.referrers(target) if ref.source in sources
    ]
    found = list(dangling_findings(dangling))
    groups: dict[str, list[tuple[str, int]]] = {}
    for uid, path, size in duplicate_files:
        groups.setdefault(uid, []).append((path, size))
    for uid, held in groups.items():
        paths = tuple(p for p, _ in held)
        sizes = tuple(s for _, s in held)
        found.append(duplicate_finding(DuplicateGroup(uid, paths, sizes, _same(paths, sizes))))
    found += _frames_and_conformance(catalog, objects, links)
    found.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.code, f.source or "", f.path or ""))
    return found


def _frames_and_conformance(
    catalog: Catalog, objects: dict[str, StudyObject], links: dict[str, list[Link]]
) -> list[Finding]:
    """FRAME_OF_REFERENCE_MISMATCH of the study's RT objects and SEGs, and
    NONCONFORMING_REFERENCE of its study and series references."""
    targets: dict[str, ObjectSummary | None] = {}

    def target_of(uid: str) -> ObjectSummary | None:
        if uid not in targets:
            held = catalog.locate(uid)
            targets[uid] = held[0] if held else None
        return targets[uid]

    found: list[Finding] = []
    study_kinds = (Kind.STUDY, Kind.SERIES)
    for source, group in links.items():
        obj = objects.get(source)
        framed = obj is not None and obj.modality in SOURCE_MODALITIES
        if not framed and not any(link.kind in study_kinds for link in group):
            continue
        references = catalog.references_from(source)
        found += conformance_findings(r for r in references if r.kind in study_kinds)
        summary = target_of(source) if framed else None
        if summary is not None:
            found += frame_findings(summary, references, target_of)
    return found


def _same(paths: tuple[str, ...], sizes: tuple[int, ...]) -> bool | None:
    """Whether the files hold the same bytes; None when one cannot be read."""
    if len(set(sizes)) > 1:
        return False
    digests = set()
    for path in paths:
        try:
            with Path(path).open("rb") as f:
                digests.add(hashlib.file_digest(f, "sha256").hexdigest())
        except OSError:
            return None
    return len(digests) == 1
