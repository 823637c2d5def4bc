"""Test helpers for the extraction tests: DICOM bytes built by hand, and small datasets.

Hand-built bytes reach what a writer like pydicom never produces (truncations, wrong VRs,
impossible lengths, 500-deep nesting, items in implicit VR inside explicit files …).  The
datasets are ordinary pydicom Datasets for the reference rules.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
CT = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
RTPLAN = "1.2.840.10008.5.1.4.1.1.481.5"
RTIONPLAN = "1.2.840.10008.5.1.4.1.1.481.8"
RTDOSE = "1.2.840.10008.5.1.4.1.1.481.2"
KOS = "1.2.840.10008.5.1.4.1.1.88.59"
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
REG = "1.2.840.10008.5.1.4.1.1.66.1"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"
STUDY_CLASS = "1.2.840.10008.3.1.2.3.1"
MPPS = "1.2.840.10008.3.1.2.3.3"

STUDY = "1.2.826.0.1.3680043.10.1"
SERIES = "1.2.826.0.1.3680043.10.1.1"
SOP = "1.2.826.0.1.3680043.10.1.1.1"

_LONG = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
UNDEFINED = 0xFFFFFFFF


# -- bytes -----------------------------------------------------------------------------------


def pad(value: bytes, vr: str) -> bytes:
    """Pad to even length as DICOM does (NUL for UI and binary, space for text)."""
    if len(value) % 2 == 0:
        return value
    return value + (b"\0" if vr in ("UI", "OB", "UN") else b" ")


def element(
    tag: int,
    vr: str,
    value: bytes | str,
    *,
    explicit: bool = True,
    big: bool = False,
    length: int | None = None,
) -> bytes:
    """One data element; ``length`` overrides the encoded length (to build broken files)."""
    raw = pad(value.encode() if isinstance(value, str) else value, vr)
    size = len(raw) if length is None else length
    order = ">" if big else "<"
    head = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF)
    if not explicit:
        return head + struct.pack(f"{order}I", size) + raw
    if vr in _LONG:
        return head + vr.encode() + b"\0\0" + struct.pack(f"{order}I", size) + raw
    return head + vr.encode() + struct.pack(f"{order}H", size) + raw


def item(body: bytes, *, undefined: bool = True, big: bool = False) -> bytes:
    order = ">" if big else "<"
    tag = struct.pack(f"{order}HH", 0xFFFE, 0xE000)
    if undefined:
        end = struct.pack(f"{order}HHI", 0xFFFE, 0xE00D, 0)
        return tag + struct.pack(f"{order}I", UNDEFINED) + body + end
    return tag + struct.pack(f"{order}I", len(body)) + body


def sequence(
    tag: int,
    items: Iterable[bytes],
    *,
    explicit: bool = True,
    undefined: bool = True,
    big: bool = False,
    vr: str = "SQ",
) -> bytes:
    """A sequence of already encoded items (see :func:`item`)."""
    order = ">" if big else "<"
    body = b"".join(items)
    head = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF)
    if explicit:
        head += vr.encode() + b"\0\0"
    if undefined:
        end = struct.pack(f"{order}HHI", 0xFFFE, 0xE0DD, 0)
        return head + struct.pack(f"{order}I", UNDEFINED) + body + end
    return head + struct.pack(f"{order}I", len(body)) + body


def identity(
    *,
    sop_class: str = CT,
    sop: str = SOP,
    study: str = STUDY,
    series: str = SERIES,
    explicit: bool = True,
    big: bool = False,
) -> dict[int, bytes]:
    """The four identity elements, keyed by tag (merge with others, then :func:`dataset`)."""
    return {
        0x00080016: element(0x00080016, "UI", sop_class, explicit=explicit, big=big),
        0x00080018: element(0x00080018, "UI", sop, explicit=explicit, big=big),
        0x0020000D: element(0x0020000D, "UI", study, explicit=explicit, big=big),
        0x0020000E: element(0x0020000E, "UI", series, explicit=explicit, big=big),
    }


def dataset(elements: dict[int, bytes]) -> bytes:
    """Encoded elements in tag order."""
    return b"".join(elements[tag] for tag in sorted(elements))


def meta(syntax: str = EXPLICIT, sop_class: str = CT, sop: str = SOP) -> bytes:
    """A File Meta group (always explicit VR little endian)."""
    body = (
        element(0x00020001, "OB", b"\0\1")
        + element(0x00020002, "UI", sop_class)
        + element(0x00020003, "UI", sop)
        + element(0x00020010, "UI", syntax)
    )
    return element(0x00020000, "UL", struct.pack("<I", len(body))) + body


def part10(body: bytes, *, syntax: str = EXPLICIT, sop_class: str = CT) -> bytes:
    """Preamble, 'DICM', meta and ``body``."""
    return b"\0" * 128 + b"DICM" + meta(syntax, sop_class) + body


def nested(depth: int, *, explicit: bool = True, big: bool = False) -> bytes:
    """``depth`` sequences nested inside one another, undefined lengths throughout."""
    inner = element(0x00081155, "UI", "1.2.3", explicit=explicit, big=big)
    for _ in range(depth):
        inner = sequence(
            0x00081140, [item(inner, big=big)], explicit=explicit, big=big, undefined=True
        )
    return inner


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- datasets --------------------------------------------------------------------------------


def base_dataset(sop_class: str, modality: str, sop: str = SOP) -> Dataset:
    """A dataset with file meta, identity, patient and modality."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = SERIES
    ds.Modality = modality
    ds.PatientID = "P1"
    ds.PatientName = "Test^Patient"
    return ds


def ref(sop_class: str | None, sop: str, **extra: object) -> Dataset:
    """An item holding a reference (and any other attributes given by keyword)."""
    entry = Dataset()
    if sop_class is not None:
        entry.ReferencedSOPClassUID = sop_class
    entry.ReferencedSOPInstanceUID = sop
    for keyword, value in extra.items():
        setattr(entry, keyword, value)
    return entry


def with_items(**sequences: list[Dataset]) -> Dataset:
    """An item holding the given sequences (and nothing else)."""
    entry = Dataset()
    for keyword, items in sequences.items():
        setattr(entry, keyword, Sequence(items))
    return entry


CT_STUDY = "1.2.826.0.1.3680043.10.2"
CT_SERIES = "1.2.826.0.1.3680043.10.2.1"


def slice_uid(index: int) -> str:
    return f"{CT_SERIES}.{index}"


def rtstruct(slices: int = 3, rois: int = 2) -> Dataset:
    """A structure set: the referenced slices listed per series, contours on each slice."""
    ds = base_dataset(RTSTRUCT, "RTSTRUCT")
    series = Dataset()
    series.SeriesInstanceUID = CT_SERIES
    series.ContourImageSequence = Sequence([ref(CT, slice_uid(i)) for i in range(slices)])
    study = ref(STUDY_CLASS, CT_STUDY)
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = "1.2.826.0.1.3680043.10.9"
    frame.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    roi_contours = []
    for roi in range(rois):
        contours = []
        for index in range(slices):
            contour = with_items(ContourImageSequence=[ref(CT, slice_uid(index))])
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = 4
            contour.ContourData = [0.0, 0.0, float(index), 1.0, 0.0, float(index)] * 2
            contours.append(contour)
        entry = with_items(ContourSequence=contours)
        entry.ReferencedROINumber = roi + 1
        roi_contours.append(entry)
    ds.ROIContourSequence = Sequence(roi_contours)
    return ds


def undefined_lengths(ds: Dataset) -> Dataset:
    """Mark every sequence and item of ``ds`` to be written with undefined length."""
    for elem in ds:
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for child in elem.value:
                child.is_undefined_length_sequence_item = True
                undefined_lengths(child)
    return ds


def save(ds: Dataset, path: Path, syntax: str = EXPLICIT) -> Path:
    """Write ``ds`` as a Part 10 file in ``syntax``."""
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    if syntax == IMPLICIT:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=True)
    elif syntax == BIG_ENDIAN:
        ds.save_as(path, implicit_vr=False, little_endian=False, enforce_file_format=True)
    else:
        ds.save_as(path, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return path
