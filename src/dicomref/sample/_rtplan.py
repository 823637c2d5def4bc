"""RT Plan Storage: a static photon plan of a few beams aimed at one target ROI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import RTPlanStorage

from dicomref.sample._anatomy import Structure
from dicomref.sample._common import (
    PATIENT_POSITION,
    Patient,
    Series,
    ds_list,
    ds_str,
    later,
    new_instance,
    object_reference,
    uid_for,
    write_instance,
)
from dicomref.sample._model import SampleObject

SOURCE_AXIS_DISTANCE = 1000.0
"""mm, a typical linac."""
MACHINE_NAME = "DREF_LINAC"
NOMINAL_ENERGY_MV = "6"
DOSE_RATE_MU_PER_MIN = "600"
FIELD_MARGIN = 5.0
"""mm added around the target's radius by every jaw."""
CGY_PER_MU = 1.0
"""Calibration used to turn a beam's dose into meterset (cGy per MU at the isocentre)."""


@dataclass(frozen=True, slots=True)
class Prescription:
    """What a plan delivers: to which ROI, in how many fractions, from which angles."""

    target: Structure
    target_roi_number: int
    fractions: int
    dose_per_fraction: float
    gantry_angles: tuple[float, ...]

    @property
    def total_dose(self) -> float:
        """The prescribed dose over all fractions, in Gy."""
        return self.fractions * self.dose_per_fraction


def write_plan(
    root: Path,
    *,
    seed: int,
    role: str,
    index: int,
    patient: Patient,
    series: Series,
    label: str,
    frame_of_reference: str,
    structure_set: SampleObject,
    prescription: Prescription,
    body: Structure,
) -> SampleObject:
    """Write plan ``index`` (alone in ``series``), referencing ``structure_set``.

    The isocentre is the target's centre; the jaws cover the target plus
    :data:`FIELD_MARGIN`; each beam's source-to-surface distance is computed from
    ``body``.  The Dose Reference names the target's ROI number in ``structure_set``.
    """
    time = later(series.time, 0)
    ds = new_instance(
        patient,
        series,
        RTPlanStorage,
        uid_for(seed, role, index),
        instance_number=1,
        content_time=time,
    )
    ds.OperatorsName = ""
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.RTPlanLabel = label
    ds.RTPlanName = label
    ds.RTPlanDate = series.study.date
    ds.RTPlanTime = time
    ds.RTPlanGeometry = "PATIENT"
    ds.ReferencedStructureSetSequence = [object_reference(structure_set)]
    ds.DoseReferenceSequence = [_dose_reference(seed, role, index, prescription)]
    ds.FractionGroupSequence = [_fraction_group(prescription)]
    ds.BeamSequence = [
        _beam(number, angle, prescription, body)
        for number, angle in enumerate(prescription.gantry_angles, start=1)
    ]
    setup = Dataset()
    setup.PatientPosition = PATIENT_POSITION
    setup.PatientSetupNumber = 1
    setup.SetupTechnique = "ISOCENTRIC"
    ds.PatientSetupSequence = [setup]
    return write_instance(ds, series.path(root, 1), series, role)


def _dose_reference(seed: int, role: str, index: int, prescription: Prescription) -> Dataset:
    item = Dataset()
    item.ReferencedROINumber = prescription.target_roi_number
    item.DoseReferenceNumber = 1
    item.DoseReferenceUID = uid_for(seed, role, index, "dose_reference")
    item.DoseReferenceStructureType = "VOLUME"
    item.DoseReferenceDescription = prescription.target.name
    item.DoseReferenceType = "TARGET"
    item.TargetPrescriptionDose = ds_str(prescription.total_dose)
    return item


def _meterset(prescription: Prescription) -> float:
    """MU per beam per fraction: the fraction dose shared equally by the beams."""
    beam_dose_cgy = 100 * prescription.dose_per_fraction / len(prescription.gantry_angles)
    return round(beam_dose_cgy / CGY_PER_MU, 1)


def _fraction_group(prescription: Prescription) -> Dataset:
    beams: list[Dataset] = []
    for number in range(1, len(prescription.gantry_angles) + 1):
        beam = Dataset()
        beam.BeamDose = ds_str(prescription.dose_per_fraction / len(prescription.gantry_angles))
        beam.BeamMeterset = ds_str(_meterset(prescription))
        beam.ReferencedBeamNumber = number
        beams.append(beam)
    group = Dataset()
    group.FractionGroupNumber = 1
    group.NumberOfFractionsPlanned = prescription.fractions
    group.NumberOfBeams = len(beams)
    group.NumberOfBrachyApplicationSetups = 0
    group.ReferencedBeamSequence = beams
    return group


def _source_to_surface(angle: float, isocentre: Sequence[float], body: Structure) -> float:
    """SSD of a beam at gantry ``angle``: where the ray to the source leaves ``body``.

    For a head-first supine patient gantry 0° puts the source anterior (-y) and 90°
    on the patient's left (+x).
    """
    theta = math.radians(angle)
    dx, dy = math.sin(theta), -math.cos(theta)
    px, py = isocentre[0] - body.x, isocentre[1] - body.y
    along = px * dx + py * dy
    depth = -along + math.sqrt(along**2 - (px**2 + py**2 - body.radius**2))
    return SOURCE_AXIS_DISTANCE - depth


def _jaws(kind: str, half_width: float) -> Dataset:
    item = Dataset()
    item.RTBeamLimitingDeviceType = kind
    item.LeafJawPositions = ds_list([-half_width, half_width])
    return item


def _beam(number: int, angle: float, prescription: Prescription, body: Structure) -> Dataset:
    target = prescription.target
    half_width = round(target.radius + FIELD_MARGIN, 1)
    isocentre = target.centre

    first = Dataset()
    first.ControlPointIndex = 0
    first.NominalBeamEnergy = NOMINAL_ENERGY_MV
    first.DoseRateSet = DOSE_RATE_MU_PER_MIN
    first.BeamLimitingDevicePositionSequence = [
        _jaws("ASYMX", half_width),
        _jaws("ASYMY", half_width),
    ]
    first.GantryAngle = ds_str(angle)
    first.GantryRotationDirection = "NONE"
    first.BeamLimitingDeviceAngle = "0"
    first.BeamLimitingDeviceRotationDirection = "NONE"
    first.PatientSupportAngle = "0"
    first.PatientSupportRotationDirection = "NONE"
    first.TableTopEccentricAngle = "0"
    first.TableTopEccentricRotationDirection = "NONE"
    first.TableTopVerticalPosition = ""
    first.TableTopLongitudinalPosition = ""
    first.TableTopLateralPosition = ""
    first.IsocenterPosition = ds_list(isocentre)
    first.SourceToSurfaceDistance = ds_str(_source_to_surface(angle, isocentre, body))
    first.CumulativeMetersetWeight = "0"
    last = Dataset()
    last.ControlPointIndex = 1
    last.CumulativeMetersetWeight = "1"

    beam = Dataset()
    beam.PrimaryDosimeterUnit = "MU"
    beam.TreatmentMachineName = MACHINE_NAME
    beam.SourceAxisDistance = ds_str(SOURCE_AXIS_DISTANCE)
    beam.BeamLimitingDeviceSequence = [_device("ASYMX"), _device("ASYMY")]
    beam.BeamNumber = number
    beam.BeamName = f"G{round(angle):03d}"
    beam.BeamDescription = f"{prescription.target.name} gantry {ds_str(angle)}"
    beam.BeamType = "STATIC"
    beam.RadiationType = "PHOTON"
    beam.TreatmentDeliveryType = "TREATMENT"
    beam.NumberOfWedges = 0
    beam.NumberOfCompensators = 0
    beam.NumberOfBoli = 0
    beam.NumberOfBlocks = 0
    beam.FinalCumulativeMetersetWeight = "1"
    beam.NumberOfControlPoints = 2
    beam.ControlPointSequence = [first, last]
    beam.ReferencedPatientSetupNumber = 1
    return beam


def _device(kind: str) -> Dataset:
    item = Dataset()
    item.RTBeamLimitingDeviceType = kind
    item.NumberOfLeafJawPairs = 1
    return item
