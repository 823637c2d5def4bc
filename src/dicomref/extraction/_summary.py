"""Assembling an :class:`~dicomref.model.ObjectSummary` from a light tree."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, NamedTuple

from pydicom import uid as uids

from dicomref._filenames import printable_path
from dicomref.errors import DicomReadError, NotAnInstanceError
from dicomref.extraction._rules import STORAGE_CLASSES, sop_class_name
from dicomref.extraction._tree import (
    ACCESSION_NUMBER,
    APPLICATION_SETUP_SEQUENCE,
    BEAM_SEQUENCE,
    CONTENT_DATE,
    CONTENT_TIME,
    DICOMDIR_CLASS,
    DIRECTORY_RECORD_SEQUENCE,
    DOSE_SUMMATION_TYPE,
    DOSE_TYPE,
    DOSE_UNITS,
    FRAME_OF_REFERENCE_UID,
    IMAGE_ORIENTATION_PATIENT,
    IMAGE_POSITION_PATIENT,
    INSTANCE_CREATION_DATE,
    INSTANCE_CREATION_TIME,
    INSTANCE_NUMBER,
    ION_BEAM_SEQUENCE,
    MODALITY,
    NUMBER_OF_FRAMES,
    PATIENT_BIRTH_DATE,
    PATIENT_ID,
    PATIENT_NAME,
    PATIENT_SEX,
    REFERENCED_FRAME_OF_REFERENCE_SEQUENCE,
    RT_PLAN_DATE,
    RT_PLAN_LABEL,
    RT_PLAN_TIME,
    SERIES_DESCRIPTION,
    SERIES_INSTANCE_UID,
    SERIES_NUMBER,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    SPECIFIC_CHARACTER_SET,
    STRUCTURE_SET_DATE,
    STRUCTURE_SET_LABEL,
    STRUCTURE_SET_ROI_SEQUENCE,
    STRUCTURE_SET_TIME,
    STUDY_DATE,
    STUDY_DESCRIPTION,
    STUDY_ID,
    STUDY_INSTANCE_UID,
    STUDY_TIME,
    Item,
    describe,
)
from dicomref.extraction._uids import UidCheck, check_uid, problem
from dicomref.extraction._values import decimals, decoded_text, integer, person_name, text, uid
from dicomref.extraction._walk import RawReference, raw_references
from dicomref.model import ObjectSummary, Reference

log = logging.getLogger("dicomref.extraction")

_WHY_REQUIRED: Final = {
    SOP_CLASS_UID: "dicomref cannot tell what kind of object it is",
    SOP_INSTANCE_UID: "nothing can reference it",
    STUDY_INSTANCE_UID: "dicomref cannot place it in a study",
    SERIES_INSTANCE_UID: "dicomref cannot place it in a series",
}


def check_instance(path: str, media_class: str | None, tree: Item | None) -> None:
    """Raise :class:`NotAnInstanceError` for a DICOMDIR or another non-composite object."""
    if media_class == DICOMDIR_CLASS or (tree is not None and DIRECTORY_RECORD_SEQUENCE in tree):
        raise NotAnInstanceError(
            path,
            "it is a DICOMDIR (a media directory), not an object: scan the folder it sits in, "
            "or list its files with dicomdir_files()",
        )
    sop_class = uid(tree, SOP_CLASS_UID) if tree is not None else None
    if sop_class is not None and sop_class not in STORAGE_CLASSES:
        name = sop_class_name(sop_class)
        if name is not None:
            raise NotAnInstanceError(
                path,
                f"its SOP class {sop_class} ({name}) is not a stored object that other "
                "objects reference: nothing to index",
            )


class Facts(NamedTuple):
    """An :class:`~dicomref.model.ObjectSummary` without its references, as a tuple with
    the same fields in the same order: what a scan makes of each file (a frozen dataclass
    of 35 fields costs several microseconds to make, a tuple one)."""

    path: str
    size: int
    mtime_ns: int
    sop_class: str
    sop_instance: str
    study: str
    series: str
    transfer_syntax: str | None
    patient_id: str | None
    patient_name: str | None
    modality: str | None
    frame_of_reference: str | None
    study_date: str | None
    study_description: str | None
    series_description: str | None
    series_number: int | None
    instance_number: int | None
    number_of_frames: int | None
    image_position: tuple[float, float, float] | None
    image_orientation: tuple[float, float, float, float, float, float] | None
    study_time: str | None
    accession_number: str | None
    study_id: str | None
    patient_birth_date: str | None
    patient_sex: str | None
    content_date: str | None
    content_time: str | None
    label: str | None
    roi_count: int | None
    beam_count: int | None
    applicator_count: int | None
    dose_type: str | None
    dose_units: str | None
    dose_summation: str | None


#: Where an object's date and time are read, first found first: (date tag, time tag).
_DATES: Final = (
    (CONTENT_DATE, CONTENT_TIME),
    (STRUCTURE_SET_DATE, STRUCTURE_SET_TIME),
    (RT_PLAN_DATE, RT_PLAN_TIME),
    (INSTANCE_CREATION_DATE, INSTANCE_CREATION_TIME),
)


def summarise(
    path: str,
    size: int,
    mtime_ns: int,
    transfer_syntax: str | None,
    media_class: str | None,
    tree: Item,
) -> ObjectSummary:
    """The summary of one object; raises :class:`DicomReadError` if an identity UID is missing."""
    facts, raw = summarise_apart(path, size, mtime_ns, transfer_syntax, media_class, tree)
    return ObjectSummary(*facts, references=tuple([Reference(facts.sop_instance, *r) for r in raw]))


def summarise_apart(
    path: str,
    size: int,
    mtime_ns: int,
    transfer_syntax: str | None,
    media_class: str | None,
    tree: Item,
) -> tuple[Facts, list[RawReference]]:
    """As :func:`summarise`, but the facts and the references apart, as tuples.

    For the catalog's scan: a structure set names thousands of places, and rows are made
    from tuples without first making a :class:`~dicomref.model.Reference` of each.
    """
    check_instance(path, media_class, tree)
    sop_class = _required(path, tree, SOP_CLASS_UID)
    sop_instance = _required(path, tree, SOP_INSTANCE_UID)
    study = _required(path, tree, STUDY_INSTANCE_UID)
    series = _required(path, tree, SERIES_INSTANCE_UID)
    position = decimals(tree, IMAGE_POSITION_PATIENT, 3)
    orientation = decimals(tree, IMAGE_ORIENTATION_PATIENT, 6)
    raw = _checked_references(path, raw_references(tree, sop_class))
    namer = _NAMERS.get(sop_class)
    label, rois, beams, applicators, dose_type, dose_units, summation = (
        _NO_NAME if namer is None else namer(tree, path)
    )
    date, time = content_date_time(tree)
    facts = Facts(
        path,
        size,
        mtime_ns,
        sop_class,
        sop_instance,
        study,
        series,
        transfer_syntax,
        text(tree, PATIENT_ID),
        person_name(tree, PATIENT_NAME, text(tree, SPECIFIC_CHARACTER_SET), path),
        text(tree, MODALITY),
        _checked(path, frame_of_reference(tree), "FrameOfReferenceUID"),
        text(tree, STUDY_DATE),
        _label(tree, STUDY_DESCRIPTION, path),
        _label(tree, SERIES_DESCRIPTION, path),
        integer(tree, SERIES_NUMBER),
        integer(tree, INSTANCE_NUMBER),
        integer(tree, NUMBER_OF_FRAMES),
        None if position is None else (position[0], position[1], position[2]),
        None
        if orientation is None
        else (
            orientation[0],
            orientation[1],
            orientation[2],
            orientation[3],
            orientation[4],
            orientation[5],
        ),
        text(tree, STUDY_TIME),
        text(tree, ACCESSION_NUMBER),
        text(tree, STUDY_ID),
        text(tree, PATIENT_BIRTH_DATE),
        text(tree, PATIENT_SEX),
        date,
        time,
        label,
        rois,
        beams,
        applicators,
        dose_type,
        dose_units,
        summation,
    )
    return facts, raw


Name = tuple[str | None, int | None, int | None, int | None, str | None, str | None, str | None]
"""label, roi_count, beam_count, applicator_count, dose_type, dose_units, dose_summation"""

_NO_NAME: Final[Name] = (None, None, None, None, None, None, None)


def _label(tree: Item, tag: int, path: str) -> str | None:
    return decoded_text(tree, tag, text(tree, SPECIFIC_CHARACTER_SET), path)


def _structure_set_name(tree: Item, path: str) -> Name:
    return (
        _label(tree, STRUCTURE_SET_LABEL, path),
        count_items(tree, STRUCTURE_SET_ROI_SEQUENCE),
        None,
        None,
        None,
        None,
        None,
    )


def _plan_name(tree: Item, path: str) -> Name:
    return (
        _label(tree, RT_PLAN_LABEL, path),
        None,
        beam_count(tree),
        count_items(tree, APPLICATION_SETUP_SEQUENCE),
        None,
        None,
        None,
    )


def _dose_name(tree: Item, path: str) -> Name:
    return (
        None,
        None,
        None,
        None,
        text(tree, DOSE_TYPE),
        text(tree, DOSE_UNITS),
        text(tree, DOSE_SUMMATION_TYPE),
    )


#: What each RT class is named by, read only for objects of that class (one look-up for
#: the images a scan reads by the million).
_NAMERS: Final[dict[str, Callable[[Item, str], Name]]] = {
    uids.RTStructureSetStorage: _structure_set_name,
    uids.RTPlanStorage: _plan_name,
    uids.RTIonPlanStorage: _plan_name,
    uids.RTDoseStorage: _dose_name,
}


def content_date_time(tree: Item) -> tuple[str | None, str | None]:
    """The object's date and time: ContentDate, else its family's date (a structure set's,
    a plan's), else InstanceCreationDate; the time from the same pair as the date."""
    for date_tag, time_tag in _DATES:
        found = text(tree, date_tag)
        if found is not None:
            return found, text(tree, time_tag)
    return None, None


def beam_count(tree: Item) -> int | None:
    """Items of BeamSequence, else of IonBeamSequence; None when a plan has neither."""
    found = count_items(tree, BEAM_SEQUENCE)
    return count_items(tree, ION_BEAM_SEQUENCE) if found is None else found


def count_items(tree: Item, tag: int) -> int | None:
    """How many items the top-level sequence ``tag`` holds; None when it is absent (the
    walker keeps every sequence's items, so counting reads nothing more)."""
    items = tree.get(tag)
    return len(items) if isinstance(items, list) else None


def frame_of_reference(tree: Item) -> str | None:
    """The top-level FrameOfReferenceUID, else that of ReferencedFrameOfReferenceSequence[0]."""
    found = uid(tree, FRAME_OF_REFERENCE_UID)
    if found is not None:
        return found
    items = tree.get(REFERENCED_FRAME_OF_REFERENCE_SEQUENCE)
    if isinstance(items, list):
        for item in items:
            found = uid(item, FRAME_OF_REFERENCE_UID)
            if found is not None:
                return found
    return None


def _required(path: str, tree: Item, tag: int) -> str:
    value = uid(tree, tag)
    if value is None:
        state = "empty" if tag in tree else "missing"
        raise DicomReadError(
            path,
            f"{describe(tag)} is {state}, so {_WHY_REQUIRED[tag]}: this is not a complete "
            "DICOM object — export it again from its source, or fix the tag "
            "(e.g. with dcmodify)",
        )
    checked = check_uid[value]
    if checked is UidCheck.INVALID:
        raise DicomReadError(
            path,
            f"its {describe(tag)} {problem(value)}: the file is damaged or deliberately "
            "malformed, and dicomref does not index it",
            tag=describe(tag),
        )
    if checked is UidCheck.LONG:
        log.warning("%s: %s %s (kept)", printable_path(path), describe(tag), problem(value))
    return value


def _checked(path: str, value: str | None, what: str, where: str = "") -> str | None:
    """``value`` if it is a UID (or None); None, with a warning naming the file, if not."""
    if value is None:
        return None
    checked = check_uid[value]
    if checked is UidCheck.OK:
        return value
    place = f" in {where}" if where else ""
    if checked is UidCheck.LONG:
        log.warning("%s: %s%s %s (kept)", printable_path(path), what, place, problem(value))
        return value
    log.warning("%s: %s%s %s: left out", printable_path(path), what, place, problem(value))
    return None


def _checked_references(path: str, raw: list[RawReference]) -> list[RawReference]:
    """The references whose UIDs are UIDs: a reference to a target that is not a UID is left
    out, a class or hint that is not one dropped; each with a warning naming the file."""
    ok = UidCheck.OK
    check = check_uid
    for ref in raw:
        if not (
            check[ref[0]] is ok
            and (ref[1] is None or check[ref[1]] is ok)
            and (ref[4] is None or check[ref[4]] is ok)
            and (ref[5] is None or check[ref[5]] is ok)
        ):
            break
    else:
        return raw  # every UID is one: the usual case, no copy
    kept: list[RawReference] = []
    for ref in raw:
        target = _checked(path, ref[0], "ReferencedSOPInstanceUID", ref[3])
        if target is None:
            continue
        target_class = _checked(path, ref[1], "ReferencedSOPClassUID", ref[3])
        study = _checked(path, ref[4], "the study hint", ref[3])
        series = _checked(path, ref[5], "the series hint", ref[3])
        kept.append((target, target_class, ref[2], ref[3], study, series, *ref[6:]))
    return kept
