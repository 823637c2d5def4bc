"""Value objects shared by every part of dicomref.

All of them are frozen dataclasses: they are facts read from files or
catalogs, never mutated after they are made.  JSON appears only at the CLI
edge (see :func:`to_json`).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any


class Kind(enum.StrEnum):
    """The role a referenced object plays for the object that names it."""

    STRUCTURE_SET = "structure_set"
    PLAN = "plan"
    DOSE = "dose"
    CONTOUR_IMAGE = "contour_image"
    RT_IMAGE = "rt_image"
    TREATMENT_RECORD = "treatment_record"
    SOURCE_IMAGE = "source_image"
    REFERENCED_IMAGE = "referenced_image"
    SEGMENTATION = "segmentation"
    EVIDENCE = "evidence"
    PRESENTATION_STATE = "presentation_state"
    REGISTRATION = "registration"
    STUDY = "study"
    SERIES = "series"
    PATIENT = "patient"
    PROCEDURE_STEP = "procedure_step"
    OTHER = "other"


#: Kinds whose target is not a stored object (never to be fetched).
NON_INSTANCE_KINDS = frozenset({Kind.STUDY, Kind.SERIES, Kind.PATIENT, Kind.PROCEDURE_STEP})


@dataclass(frozen=True, slots=True)
class InstanceKey:
    """Where an object sits in the DICOM hierarchy."""

    study: str
    series: str
    sop: str


@dataclass(frozen=True, slots=True)
class Reference:
    """One reference from a source object to a target UID.

    ``path`` is the chain of sequence keywords with item indices that leads to
    the item holding the reference, e.g.
    ``ROIContourSequence[3].ContourSequence[0].ContourImageSequence[0]``.
    ``study`` and ``series`` are location hints read from enclosing items
    (None where the file gives none).  ``instance`` is False when the target
    is not a stored object (a study, a series, a patient, a procedure step).
    """

    source: str
    target: str
    target_class: str | None
    kind: Kind
    path: str
    study: str | None = None
    series: str | None = None
    frames: tuple[int, ...] = ()
    segments: tuple[int, ...] = ()
    instance: bool = True


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """What dicomref records of one DICOM file: identity, place, geometry, references."""

    path: str
    size: int
    mtime_ns: int
    sop_class: str
    sop_instance: str
    study: str
    series: str
    transfer_syntax: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    modality: str | None = None
    frame_of_reference: str | None = None
    study_date: str | None = None
    study_description: str | None = None
    series_description: str | None = None
    series_number: int | None = None
    instance_number: int | None = None
    number_of_frames: int | None = None
    image_position: tuple[float, float, float] | None = None
    image_orientation: tuple[float, float, float, float, float, float] | None = None
    study_time: str | None = None
    accession_number: str | None = None
    study_id: str | None = None
    patient_birth_date: str | None = None
    patient_sex: str | None = None
    #: ContentDate and ContentTime; else the family's own (StructureSetDate and Time,
    #: RTPlanDate and Time); else InstanceCreationDate and Time: the date and time are
    #: always read from the same pair.
    content_date: str | None = None
    content_time: str | None = None
    #: StructureSetLabel of a structure set, RTPlanLabel of a plan.
    label: str | None = None
    #: Items of StructureSetROISequence (a structure set's ROIs).
    roi_count: int | None = None
    #: Items of BeamSequence or IonBeamSequence (a plan's beams).
    beam_count: int | None = None
    #: Items of ApplicationSetupSequence (a brachytherapy plan's applicators).
    applicator_count: int | None = None
    #: DoseType (PHYSICAL, EFFECTIVE, ERROR), DoseUnits (GY, RELATIVE) and
    #: DoseSummationType (PLAN, BEAM, FRACTION…) of a dose.
    dose_type: str | None = None
    dose_units: str | None = None
    dose_summation: str | None = None
    references: tuple[Reference, ...] = ()

    @property
    def key(self) -> InstanceKey:
        return InstanceKey(self.study, self.series, self.sop_instance)


def to_json(value: Any) -> Any:
    """Turn dataclasses (and containers of them) into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    return value
