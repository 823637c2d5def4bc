"""CT Image Storage series: one template dataset, a few attributes changed per slice."""

from __future__ import annotations

from pathlib import Path

from pydicom.uid import CTImageStorage

from dicomref.sample._anatomy import RESCALE_INTERCEPT, Grid, Structure, render, sections
from dicomref.sample._common import (
    AXIAL_ORIENTATION,
    PATIENT_POSITION,
    Patient,
    Series,
    ds_str,
    new_instance,
    uid_for,
    write_atomic,
)
from dicomref.sample._model import SampleObject
from dicomref.sample._template import TemplateEncoder

SLICE_VARIABLES = (
    "MediaStorageSOPInstanceUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "ImagePositionPatient",
    "SliceLocation",
    "PixelData",
)
"""The elements that differ from slice to slice; everything else is the template's."""

BITS_STORED = 12
KVP = "120"


def write_ct_series(
    root: Path,
    *,
    seed: int,
    role: str,
    patient: Patient,
    series: Series,
    grid: Grid,
    frame_of_reference: str,
    structures: dict[str, Structure],
) -> list[SampleObject]:
    """Write ``grid.slices`` CT slices of the phantom and return them in slice order.

    Slice ``i`` has Instance Number ``i + 1`` and lies at ``grid.z(i)``; its SOP
    Instance UID is derived from ``seed``, ``role`` and ``i``.  All slices share
    ``frame_of_reference``.
    """
    acquisition_time = series.time
    ds = new_instance(
        patient,
        series,
        CTImageStorage,
        uid_for(seed, role, 0),
        instance_number=1,
        content_time=acquisition_time,
    )
    # General Series, Frame of Reference, General Acquisition
    ds.PatientPosition = PATIENT_POSITION
    ds.BodyPartExamined = "CHEST"
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = series.study.date
    ds.AcquisitionTime = acquisition_time
    # General Image
    ds.ContentDate = series.study.date
    ds.ContentTime = acquisition_time
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    # Image Plane
    ds.PixelSpacing = [ds_str(grid.pixel_spacing)] * 2
    ds.ImageOrientationPatient = list(AXIAL_ORIENTATION)
    ds.SliceThickness = ds_str(grid.slice_thickness)
    # Image Pixel and CT Image
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = grid.rows
    ds.Columns = grid.columns
    ds.BitsAllocated = 16
    ds.BitsStored = BITS_STORED
    ds.HighBit = BITS_STORED - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.KVP = KVP
    ds.ReconstructionDiameter = ds_str(grid.field_of_view)
    ds.ConvolutionKernel = "STANDARD"
    # VOI LUT: a soft-tissue window
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"

    ds.ImagePositionPatient = grid.position(0)
    ds.SliceLocation = grid.z_text(0)
    ds.PixelData = render(grid, sections(structures, grid, 0))
    ds["PixelData"].VR = "OW"

    encoder = TemplateEncoder(ds, SLICE_VARIABLES)
    written: list[SampleObject] = []
    for index in range(grid.slices):
        sop_instance = uid_for(seed, role, index)
        data = encoder.encode(slice_values(grid, structures, index, sop_instance))
        path = series.path(root, index + 1)
        write_atomic(path, data)
        written.append(
            SampleObject(
                role=role,
                path=path,
                sop_class=CTImageStorage,
                sop_instance=sop_instance,
                study=series.study.uid,
                series=series.uid,
                modality=series.modality,
            )
        )
    return written


def slice_values(
    grid: Grid, structures: dict[str, Structure], index: int, sop_instance: str
) -> dict[str, str | bytes]:
    """The values of :data:`SLICE_VARIABLES` for slice ``index``."""
    return {
        "MediaStorageSOPInstanceUID": sop_instance,
        "SOPInstanceUID": sop_instance,
        "InstanceNumber": str(index + 1),
        "ImagePositionPatient": "\\".join(grid.position(index)),
        "SliceLocation": grid.z_text(index),
        "PixelData": render(grid, sections(structures, grid, index)),
    }
