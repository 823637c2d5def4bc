"""RT Structure Set Storage: ROIs of the phantom contoured on the CT slices they cross."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import RTStructureSetStorage

from dicomref.sample._anatomy import Grid, Structure, circle
from dicomref.sample._common import (
    Patient,
    Series,
    later,
    new_instance,
    object_reference,
    sop_reference,
    uid_for,
    write_instance,
)
from dicomref.sample._model import SampleObject

STUDY_COMPONENT_MANAGEMENT_SOP_CLASS = "1.2.840.10008.3.1.2.3.1"
"""The (retired) SOP class that RT Referenced Study Sequence items name a study with."""

_CONTOUR_DATA_TAG = 0x30060050
_MIN_POINTS = 8
_MAX_POINTS = 64


def write_structure_set(
    root: Path,
    *,
    seed: int,
    role: str,
    index: int,
    patient: Patient,
    series: Series,
    label: str,
    grid: Grid,
    frame_of_reference: str,
    ct: Sequence[SampleObject],
    structures: Sequence[Structure],
) -> SampleObject:
    """Write structure set ``index`` of ``series`` (Instance Number ``index + 1``).

    ``ct[i]`` is the slice at ``grid.z(i)``.  ``structures`` become ROIs numbered 1,
    2, … in that order; each gets one CLOSED_PLANAR contour on every slice its
    cross-section is at least a pixel wide, lying exactly at that slice's z and
    naming it in ContourImageSequence.  The Referenced Frame of Reference Sequence
    lists every slice of ``ct``.
    """
    time = later(series.time, 10 * index)
    ds = new_instance(
        patient,
        series,
        RTStructureSetStorage,
        uid_for(seed, role, index),
        instance_number=index + 1,
        content_time=time,
    )
    ds.OperatorsName = ""
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.StructureSetLabel = label
    ds.StructureSetName = label
    ds.StructureSetDate = series.study.date
    ds.StructureSetTime = time
    ds.ReferencedFrameOfReferenceSequence = [_referenced_frame(series, frame_of_reference, ct)]
    ds.StructureSetROISequence = [
        _roi(number, structure, frame_of_reference)
        for number, structure in enumerate(structures, start=1)
    ]
    ds.ROIContourSequence = [
        _roi_contour(number, structure, grid, ct)
        for number, structure in enumerate(structures, start=1)
    ]
    ds.RTROIObservationsSequence = [
        _observation(number, structure) for number, structure in enumerate(structures, start=1)
    ]
    return write_instance(ds, series.path(root, index + 1), series, role)


def _referenced_frame(
    series: Series, frame_of_reference: str, ct: Sequence[SampleObject]
) -> Dataset:
    ct_series = Dataset()
    ct_series.SeriesInstanceUID = ct[0].series
    ct_series.ContourImageSequence = [object_reference(image) for image in ct]
    study = sop_reference(STUDY_COMPONENT_MANAGEMENT_SOP_CLASS, ct[0].study)
    study.RTReferencedSeriesSequence = [ct_series]
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_of_reference
    frame.RTReferencedStudySequence = [study]
    return frame


def _roi(number: int, structure: Structure, frame_of_reference: str) -> Dataset:
    item = Dataset()
    item.ROINumber = number
    item.ReferencedFrameOfReferenceUID = frame_of_reference
    item.ROIName = structure.name
    item.ROIGenerationAlgorithm = "MANUAL"
    return item


def _roi_contour(
    number: int, structure: Structure, grid: Grid, ct: Sequence[SampleObject]
) -> Dataset:
    contours: list[Dataset] = []
    for index, image in enumerate(ct):
        disk = structure.section(grid.z(index), grid.pixel_spacing)
        if disk is None:
            continue
        perimeter_pixels = 2 * math.pi * disk.radius / grid.pixel_spacing
        points = min(_MAX_POINTS, max(_MIN_POINTS, round(perimeter_pixels / 2)))
        contour = Dataset()
        contour.ContourNumber = len(contours) + 1
        contour.ContourImageSequence = [object_reference(image)]
        contour.ContourGeometricType = "CLOSED_PLANAR"
        contour.NumberOfContourPoints = points
        # Thousands of contours: hand pydicom the finished DS text instead of
        # letting it parse and validate every number again (it writes it verbatim).
        contour[_CONTOUR_DATA_TAG] = DataElement(
            _CONTOUR_DATA_TAG,
            "DS",
            circle(disk, grid.z_text(index), points),
            already_converted=True,
        )
        contours.append(contour)
    item = Dataset()
    item.ROIDisplayColor = list(structure.color)
    item.ContourSequence = contours
    item.ReferencedROINumber = number
    return item


def _observation(number: int, structure: Structure) -> Dataset:
    item = Dataset()
    item.ObservationNumber = number
    item.ReferencedROINumber = number
    item.ROIObservationLabel = structure.name
    item.RTROIInterpretedType = structure.interpreted_type
    item.ROIInterpreter = ""
    return item
