"""Between value objects and rows: ObjectSummary -> plain tuples to insert, rows -> objects.

The tuples follow :data:`._schema.FILE_COLUMNS` and :data:`._schema.REF_COLUMNS` (without
``file_id``, which only the database knows): plain tuples, made in one call and inserted
without per-row conversion.  A scan makes a structure set's rows straight from the
reference tuples of :func:`~dicomref.extraction.read_object_apart` (:func:`raw_ref_rows`),
without a Reference object per place in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dicomref._memo import Memo
from dicomref.model import Kind, ObjectSummary, Reference

if TYPE_CHECKING:  # the catalog imports extraction (and pydicom) only to scan
    from dicomref.extraction._summary import Facts
    from dicomref.extraction._walk import RawReference

FileRow = tuple[
    str,  # path
    int,  # size
    int,  # mtime_ns
    str,  # sop_class
    str,  # sop_instance
    str,  # study_uid
    str,  # series_uid
    str | None,  # patient_id
    str | None,  # modality
    str | None,  # frame_of_reference
    int | None,  # instance_number
    int | None,  # number_of_frames
    str | None,  # image_position
    str | None,  # image_orientation
    str | None,  # transfer_syntax
    str | None,  # content_date
    str | None,  # content_time
    str | None,  # label
    int | None,  # roi_count
    int | None,  # beam_count
    int | None,  # applicator_count
    str | None,  # dose_type
    str | None,  # dose_units
    str | None,  # dose_summation
]
RefRow = tuple[
    str,  # source_uid
    str,  # target_uid
    str | None,  # target_class
    str,  # kind
    str,  # paths, newline-separated
    int,  # path_count
    str | None,  # study_hint
    str | None,  # series_hint
    str | None,  # frames
    str | None,  # segments
    bool,  # is_instance
]
#: patient_id, patient_name, birth_date, sex
PatientRow = tuple[str, str | None, str | None, str | None]
#: uid, patient_id, date, description, time, accession number, study ID
StudyRow = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None]
SeriesRow = tuple[str, str, str | None, str | None, int | None]  # uid, study, modality, desc, no.

#: Everything one file adds to the catalog: (file, patient or None, study, series, refs).
ObjectRows = tuple[FileRow, PatientRow | None, StudyRow, SeriesRow, tuple[RefRow, ...]]

PATH_SEPARATOR = "\n"
_KIND_TEXT = {kind: kind.value for kind in Kind}


def _numbers(values: tuple[int, ...]) -> str | None:
    return "\\".join(map(str, values)) if values else None


def _float_text(values: tuple[float, ...]) -> str:
    return "\\".join(map(repr, map(float, values)))


#: Geometry already written as text: the slices of a series share their orientation.
_FLOATS: Memo[tuple[float, ...], str] = Memo(_float_text, size=1024)


def _floats(values: tuple[float, ...] | None) -> str | None:
    return None if values is None else _FLOATS[values]


def ref_rows(references: Iterable[Reference]) -> tuple[RefRow, ...]:
    """One row per distinct reference, listing every place that makes it, in order."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for r in references:
        key = (
            r.source,
            r.target,
            r.target_class,
            str(r.kind),
            r.study,
            r.series,
            _numbers(r.frames),
            _numbers(r.segments),
            r.instance,
        )
        places = groups.get(key)
        if places is None:
            groups[key] = [r.path]
        else:
            places.append(r.path)
    return tuple(
        (source, target, cls, kind, PATH_SEPARATOR.join(paths), len(paths), *rest)
        for (source, target, cls, kind, *rest), paths in groups.items()
    )


def raw_ref_rows(source: str, raw: Sequence[RawReference]) -> tuple[RefRow, ...]:
    """:func:`ref_rows` of the references ``source`` makes, given as raw tuples."""
    if not raw:
        return ()
    groups: dict[tuple[Any, ...], list[str]] = {}
    for target, cls, kind, path, study, series, frames, segments, instance in raw:
        key = (target, cls, kind, study, series, frames, segments, instance)
        places = groups.get(key)
        if places is None:
            groups[key] = [path]
        else:
            places.append(path)
    return tuple(
        (
            source,
            target,
            cls,
            _KIND_TEXT[kind],
            PATH_SEPARATOR.join(paths),
            len(paths),
            study,
            series,
            _numbers(frames),
            _numbers(segments),
            instance,
        )
        for (target, cls, kind, study, series, frames, segments, instance), paths in groups.items()
    )


def to_rows(s: ObjectSummary | Facts, raw: Sequence[RawReference] | None = None) -> ObjectRows:
    """The rows one summary becomes (its references, or ``raw`` when given: see
    :func:`~dicomref.extraction.read_object_apart`; ``raw`` is required with Facts, which
    has no references).  An empty Patient ID is stored as NULL."""
    patient_id = s.patient_id or None
    file: FileRow = (
        s.path,
        s.size,
        s.mtime_ns,
        s.sop_class,
        s.sop_instance,
        s.study,
        s.series,
        patient_id,
        s.modality,
        s.frame_of_reference,
        s.instance_number,
        s.number_of_frames,
        _floats(s.image_position),
        _floats(s.image_orientation),
        s.transfer_syntax,
        s.content_date,
        s.content_time,
        s.label,
        s.roi_count,
        s.beam_count,
        s.applicator_count,
        s.dose_type,
        s.dose_units,
        s.dose_summation,
    )
    return (
        file,
        (patient_id, s.patient_name, s.patient_birth_date, s.patient_sex)
        if patient_id is not None
        else None,
        (
            s.study,
            patient_id,
            s.study_date,
            s.study_description,
            s.study_time,
            s.accession_number,
            s.study_id,
        ),
        (s.series, s.study, s.modality, s.series_description, s.series_number),
        raw_ref_rows(s.sop_instance, raw)
        if raw is not None
        else ref_rows(s.references)
        if isinstance(s, ObjectSummary)
        else (),
    )


def _parse_numbers(text: str | None) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split("\\")) if text else ()


def _parse_floats(text: str | None, n: int) -> tuple[float, ...] | None:
    if not text:
        return None
    values = tuple(float(v) for v in text.split("\\"))
    return values if len(values) == n else None


def _kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:  # written by a newer dicomref with a kind we do not know
        return Kind.OTHER


def to_references(row: Mapping[Any, Any]) -> list[Reference]:
    """The References of one ``refs`` row (one per place), from a mapping of its columns."""
    kind = _kind(row["kind"])
    frames = _parse_numbers(row["frames"])
    segments = _parse_numbers(row["segments"])
    return [
        Reference(
            source=row["source_uid"],
            target=row["target_uid"],
            target_class=row["target_class"],
            kind=kind,
            path=path,
            study=row["study_hint"],
            series=row["series_hint"],
            frames=frames,
            segments=segments,
            instance=bool(row["is_instance"]),
        )
        for path in row["paths"].split(PATH_SEPARATOR)
    ]


def to_summary(row: Mapping[Any, Any], references: tuple[Reference, ...] = ()) -> ObjectSummary:
    """An ObjectSummary from a ``files`` row joined with patient, study and series columns."""
    position = _parse_floats(row["image_position"], 3)
    orientation = _parse_floats(row["image_orientation"], 6)
    return ObjectSummary(
        path=row["path"],
        size=row["size"],
        mtime_ns=row["mtime_ns"],
        sop_class=row["sop_class"],
        sop_instance=row["sop_instance"],
        study=row["study_uid"],
        series=row["series_uid"],
        transfer_syntax=row["transfer_syntax"],
        patient_id=row["patient_id"],
        patient_name=row["patient_name"],
        modality=row["modality"],
        frame_of_reference=row["frame_of_reference"],
        study_date=row["study_date"],
        study_description=row["study_description"],
        series_description=row["series_description"],
        series_number=row["series_number"],
        instance_number=row["instance_number"],
        number_of_frames=row["number_of_frames"],
        study_time=row["study_time"],
        accession_number=row["accession_number"],
        study_id=row["study_id"],
        patient_birth_date=row["birth_date"],
        patient_sex=row["sex"],
        content_date=row["content_date"],
        content_time=row["content_time"],
        label=row["label"],
        roi_count=row["roi_count"],
        beam_count=row["beam_count"],
        applicator_count=row["applicator_count"],
        dose_type=row["dose_type"],
        dose_units=row["dose_units"],
        dose_summation=row["dose_summation"],
        image_position=(position[0], position[1], position[2]) if position else None,
        image_orientation=(
            (
                orientation[0],
                orientation[1],
                orientation[2],
                orientation[3],
                orientation[4],
                orientation[5],
            )
            if orientation
            else None
        ),
        references=references,
    )
