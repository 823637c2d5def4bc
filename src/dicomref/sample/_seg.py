"""Segmentation Storage: BINARY segments of phantom structures on a few CT slices.

Built with pydicom alone: the Multi-frame Functional Groups (shared Pixel Measures
and Plane Orientation; per frame Derivation Image, Frame Content, Plane Position and
Segment Identification), the Multi-frame Dimension module (segment number, then
image position) and the Common Instance Reference module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import SegmentationStorage

from dicomref.sample._anatomy import Disk, Grid, Structure, row_span
from dicomref.sample._common import (
    AXIAL_ORIENTATION,
    Patient,
    Series,
    code_item,
    ds_str,
    later,
    new_instance,
    object_reference,
    uid_for,
    write_instance,
)
from dicomref.sample._model import SampleObject


@dataclass(frozen=True, slots=True)
class Segment:
    """A structure to segment and its coded category and type (SNOMED CT, CID 7150/7151)."""

    structure: Structure
    category: tuple[str, str, str]
    property_type: tuple[str, str, str]


ANATOMICAL_STRUCTURE = ("123037004", "SCT", "Anatomical Structure")
MORPHOLOGICALLY_ALTERED = ("49755003", "SCT", "Morphologically Altered Structure")
PROPERTY_TYPES: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "PTV": (MORPHOLOGICALLY_ALTERED, ("108369006", "SCT", "Neoplasm")),
    "PTV_BOOST": (MORPHOLOGICALLY_ALTERED, ("108369006", "SCT", "Neoplasm")),
    "SPINALCORD": (ANATOMICAL_STRUCTURE, ("2748008", "SCT", "Spinal cord")),
    "HEART": (ANATOMICAL_STRUCTURE, ("80891009", "SCT", "Heart")),
}
"""(category, type) codes of the phantom's structures that can be segmented."""

_SEGMENTATION = ("113076", "DCM", "Segmentation")
_SOURCE_FOR_PROCESSING = ("121322", "DCM", "Source image for image processing operation")
_SEGMENT_IDENTIFICATION = Tag("SegmentIdentificationSequence")
_REFERENCED_SEGMENT_NUMBER = Tag("ReferencedSegmentNumber")
_PLANE_POSITION = Tag("PlanePositionSequence")
_IMAGE_POSITION = Tag("ImagePositionPatient")


def segment_for(structure: Structure) -> Segment:
    """The segment of ``structure``, coded from :data:`PROPERTY_TYPES`."""
    category, property_type = PROPERTY_TYPES[structure.name]
    return Segment(structure, category, property_type)


def write_seg(
    root: Path,
    *,
    seed: int,
    role: str,
    patient: Patient,
    series: Series,
    grid: Grid,
    frame_of_reference: str,
    ct: Sequence[SampleObject],
    segments: Sequence[Segment],
    slice_indices: Sequence[int],
) -> SampleObject:
    """Write a segmentation (alone in ``series``) of ``segments`` on some slices of ``ct``.

    The slices are ``ct[i]`` for ``i`` in ``slice_indices``.  Segment ``k`` (numbered
    from 1) gets one frame on every listed slice its structure crosses; frames are
    ordered by segment, then by z.  Dimension Index Values are (segment number,
    position of the slice among ``slice_indices`` sorted by z).
    """
    positions = sorted(slice_indices)
    frames = [
        (number, position, index, disk)
        for number, segment in enumerate(segments, start=1)
        for position, index in enumerate(positions, start=1)
        if (disk := segment.structure.section(grid.z(index), grid.pixel_spacing)) is not None
    ]
    used = [ct[index] for index in sorted({index for _, _, index, _ in frames})]
    time = later(series.time, 0)
    ds = new_instance(
        patient,
        series,
        SegmentationStorage,
        uid_for(seed, role, 0),
        instance_number=1,
        content_time=time,
    )
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.ContentDate = series.study.date
    ds.ContentTime = time
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.ContentLabel = "SEGMENTATION"
    ds.ContentDescription = ", ".join(segment.structure.name for segment in segments)
    ds.ContentCreatorName = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = grid.rows
    ds.Columns = grid.columns
    ds.BitsAllocated = 1
    ds.BitsStored = 1
    ds.HighBit = 0
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    ds.SegmentationType = "BINARY"
    ds.SegmentsOverlap = "NO"
    ds.SegmentSequence = [_segment_item(number, s) for number, s in enumerate(segments, start=1)]
    ds.NumberOfFrames = len(frames)

    organization = uid_for(seed, role, "dimension_organization")
    ds.DimensionOrganizationSequence = [_organization(organization)]
    ds.DimensionIndexSequence = [
        _dimension(organization, _REFERENCED_SEGMENT_NUMBER, _SEGMENT_IDENTIFICATION, "Segment"),
        _dimension(organization, _IMAGE_POSITION, _PLANE_POSITION, "Image Position"),
    ]
    ds.SharedFunctionalGroupsSequence = [_shared_groups(grid)]
    ds.PerFrameFunctionalGroupsSequence = [
        _frame_groups(number, position, grid, ct[index], index)
        for number, position, index, _ in frames
    ]
    referenced_series = Dataset()
    referenced_series.SeriesInstanceUID = used[0].series
    referenced_series.ReferencedInstanceSequence = [object_reference(image) for image in used]
    ds.ReferencedSeriesSequence = [referenced_series]
    ds.PixelData = _pack(grid, [disk for _, _, _, disk in frames])
    ds["PixelData"].VR = "OB"
    return write_instance(ds, series.path(root, 1), series, role)


def _segment_item(number: int, segment: Segment) -> Dataset:
    item = Dataset()
    item.SegmentNumber = number
    item.SegmentLabel = segment.structure.name
    item.SegmentAlgorithmType = "MANUAL"
    item.SegmentedPropertyCategoryCodeSequence = [code_item(*segment.category)]
    item.SegmentedPropertyTypeCodeSequence = [code_item(*segment.property_type)]
    return item


def _organization(uid: str) -> Dataset:
    item = Dataset()
    item.DimensionOrganizationUID = uid
    return item


def _dimension(organization: str, index_pointer: int, group_pointer: int, label: str) -> Dataset:
    item = Dataset()
    item.DimensionOrganizationUID = organization
    item.DimensionIndexPointer = index_pointer
    item.FunctionalGroupPointer = group_pointer
    item.DimensionDescriptionLabel = label
    return item


def _shared_groups(grid: Grid) -> Dataset:
    measures = Dataset()
    measures.PixelSpacing = [ds_str(grid.pixel_spacing)] * 2
    measures.SliceThickness = ds_str(grid.slice_thickness)
    orientation = Dataset()
    orientation.ImageOrientationPatient = list(AXIAL_ORIENTATION)
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.PlaneOrientationSequence = [orientation]
    return shared


def _frame_groups(
    segment_number: int, position: int, grid: Grid, image: SampleObject, index: int
) -> Dataset:
    source = object_reference(image)
    source.PurposeOfReferenceCodeSequence = [code_item(*_SOURCE_FOR_PROCESSING)]
    derivation = Dataset()
    derivation.DerivationCodeSequence = [code_item(*_SEGMENTATION)]
    derivation.SourceImageSequence = [source]
    content = Dataset()
    content.DimensionIndexValues = [segment_number, position]
    plane = Dataset()
    plane.ImagePositionPatient = grid.position(index)
    identification = Dataset()
    identification.ReferencedSegmentNumber = segment_number
    frame = Dataset()
    frame.DerivationImageSequence = [derivation]
    frame.FrameContentSequence = [content]
    frame.PlanePositionSequence = [plane]
    frame.SegmentIdentificationSequence = [identification]
    return frame


def _pack(grid: Grid, disks: Sequence[Disk]) -> bytes:
    """BINARY pixel data: one bit per pixel, frames back to back, first pixel in the low bit."""
    pixels_per_frame = grid.rows * grid.columns
    total_bits = pixels_per_frame * len(disks)
    size = (total_bits + 7) // 8
    packed = bytearray(size + size % 2)  # Pixel Data has an even length
    for frame, disk in enumerate(disks):
        for row in range(grid.rows):
            y = grid.y_first + row * grid.pixel_spacing
            span = row_span(disk, y, grid.x_first, grid.pixel_spacing, grid.columns)
            if span is None:
                continue
            first, last = span
            start = frame * pixels_per_frame + row * grid.columns
            for bit in range(start + first, start + last + 1):
                packed[bit >> 3] |= 1 << (bit & 7)
    return bytes(packed)
