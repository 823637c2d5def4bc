"""RT Dose Storage: a small multi-frame dose grid around the target of one plan."""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import RTDoseStorage
from pydicom.valuerep import format_number_as_ds

from dicomref.sample._anatomy import Structure
from dicomref.sample._common import (
    AXIAL_ORIENTATION,
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
from dicomref.sample._rtplan import Prescription

DVH_BIN_WIDTH = 0.5
"""Gy per bin of the DVH."""
MAX_STORED = 0xFFFF
"""Stored values are unsigned 16-bit; the hottest point is stored as this."""
HOT_SPOT = 0.04
"""The dose at the target's centre exceeds the prescription by this fraction."""
MARGIN = 10.0
"""mm of fall-off computed around the target on every side."""


@dataclass(frozen=True, slots=True)
class DoseGrid:
    """Where the dose is computed: ``columns`` x ``rows`` x ``frames`` points around a target."""

    columns: int
    rows: int
    frames: int
    spacing: float
    frame_spacing: float
    first: tuple[float, float, float]


def dose_grid(target: Structure, pixel_spacing: float, slice_thickness: float) -> DoseGrid:
    """A grid centred on ``target``, twice as coarse as the CT in-plane, one frame per slice.

    It covers the target and :data:`MARGIN` around it; the frame through the
    target's centre lies on the CT slice through it.
    """
    spacing = 2 * pixel_spacing
    half = target.radius + MARGIN
    half_columns = math.ceil(half / spacing)
    half_frames = math.ceil(half / slice_thickness)
    x, y, z = target.centre
    return DoseGrid(
        columns=2 * half_columns + 1,
        rows=2 * half_columns + 1,
        frames=2 * half_frames + 1,
        spacing=spacing,
        frame_spacing=slice_thickness,
        first=(
            x - half_columns * spacing,
            y - half_columns * spacing,
            z - half_frames * slice_thickness,
        ),
    )


def write_dose(
    root: Path,
    *,
    seed: int,
    role: str,
    patient: Patient,
    series: Series,
    frame_of_reference: str,
    plan: SampleObject,
    structure_set: SampleObject,
    prescription: Prescription,
    body: Structure,
    pixel_spacing: float,
    slice_thickness: float,
) -> SampleObject:
    """Write the dose of ``plan`` (alone in ``series``), referencing it and ``structure_set``.

    The dose is the prescription's total dose inside its target with a small hot
    spot, falls off as a Gaussian outside it and is zero outside ``body``.  The RT DVH
    module holds the target's cumulative DVH (the target is ROI
    ``prescription.target_roi_number`` of ``structure_set``).
    """
    target = prescription.target
    grid = dose_grid(target, pixel_spacing, slice_thickness)
    time = later(series.time, 0)
    ds = new_instance(
        patient,
        series,
        RTDoseStorage,
        uid_for(seed, role, 0),
        instance_number=1,
        content_time=time,
    )
    ds.OperatorsName = ""
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.ContentDate = series.study.date
    ds.ContentTime = time
    # Image Plane, Image Pixel, Multi-frame
    ds.PixelSpacing = ds_list([grid.spacing, grid.spacing])
    ds.ImageOrientationPatient = list(AXIAL_ORIENTATION)
    ds.ImagePositionPatient = ds_list(grid.first)
    ds.SliceThickness = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = grid.rows
    ds.Columns = grid.columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = grid.frames
    ds.FrameIncrementPointer = "GridFrameOffsetVector"
    # RT Dose
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.ReferencedRTPlanSequence = [object_reference(plan)]
    ds.ReferencedStructureSetSequence = [object_reference(structure_set)]
    ds.GridFrameOffsetVector = ds_list([k * grid.frame_spacing for k in range(grid.frames)])
    doses, target_doses = _doses(grid, target, prescription.total_dose, body)
    scaling = str(format_number_as_ds(max(doses) / MAX_STORED))
    ds.DoseGridScaling = scaling
    ds.TissueHeterogeneityCorrection = "IMAGE"
    # RT DVH
    ds.DVHNormalizationDoseValue = ds_str(prescription.total_dose)
    voxel_cm3 = grid.spacing**2 * grid.frame_spacing / 1000
    ds.DVHSequence = [_dvh(target_doses, voxel_cm3, prescription.target_roi_number)]
    ds.PixelData = _stored(doses, float(scaling))
    ds["PixelData"].VR = "OW"
    return write_instance(ds, series.path(root, 1), series, role)


def _doses(
    grid: DoseGrid, target: Structure, prescription: float, body: Structure
) -> tuple[list[float], list[float]]:
    """The dose (Gy) at every grid point (frame by frame, row by row) and at those in ``target``."""
    fall_off = max(5.0, target.radius / 2)
    cx, cy, cz = target.centre
    x0, y0, z0 = grid.first
    doses: list[float] = []
    in_target: list[float] = []
    for frame in range(grid.frames):
        dz = z0 + frame * grid.frame_spacing - cz
        for row in range(grid.rows):
            y = y0 + row * grid.spacing
            for column in range(grid.columns):
                x = x0 + column * grid.spacing
                if math.hypot(x - body.x, y - body.y) > body.radius:
                    doses.append(0.0)
                    continue
                distance = math.sqrt((x - cx) ** 2 + (y - cy) ** 2 + dz**2)
                if distance <= target.radius:
                    dose = prescription * (1 + HOT_SPOT * (1 - (distance / target.radius) ** 2))
                    in_target.append(dose)
                else:
                    excess = (distance - target.radius) / fall_off
                    dose = prescription * math.exp(-(excess**2) / 2)
                doses.append(dose)
    return doses, in_target


def _dvh(doses: list[float], voxel_cm3: float, roi_number: int) -> Dataset:
    """A cumulative DVH of the grid points ``doses``, each ``voxel_cm3`` in volume.

    Bin ``n`` (from 0) holds the volume receiving at least ``n * DVH_BIN_WIDTH`` Gy.
    """
    bins = math.floor(max(doses) / DVH_BIN_WIDTH) + 1
    counts = [0] * bins
    for dose in doses:
        counts[math.floor(dose / DVH_BIN_WIDTH)] += 1
    data: list[float] = []
    remaining = len(doses)
    for count in counts:
        data += (DVH_BIN_WIDTH, remaining * voxel_cm3)
        remaining -= count
    roi = Dataset()
    roi.ReferencedROINumber = roi_number
    roi.DVHROIContributionType = "INCLUDED"
    item = Dataset()
    item.DVHReferencedROISequence = [roi]
    item.DVHType = "CUMULATIVE"
    item.DoseUnits = "GY"
    item.DoseType = "PHYSICAL"
    item.DVHDoseScaling = "1"
    item.DVHVolumeUnits = "CM3"
    item.DVHNumberOfBins = bins
    item.DVHData = ds_list(data)
    item.DVHMinimumDose = ds_str(min(doses))
    item.DVHMaximumDose = ds_str(max(doses))
    item.DVHMeanDose = ds_str(sum(doses) / len(doses))
    return item


def _stored(doses: list[float], scaling: float) -> bytes:
    """Pixel Data: ``doses`` divided by ``scaling``, unsigned 16-bit little endian."""
    values = array("H", (min(MAX_STORED, round(dose / scaling)) for dose in doses))
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()
