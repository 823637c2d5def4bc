"""read_object: the fast header reader, on real files nobody here wrote and on broken ones."""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import extraction_corpus as corpus
from dicomref.errors import DicomReadError, NotAnInstanceError, NotDicomError
from dicomref.extraction import _walker, read_object, references
from dicomref.model import ObjectSummary

TEST_FILES = Path(str(get_testdata_file("CT_small.dcm"))).parent


def pydicom_file(name: str) -> Path:
    return Path(str(get_testdata_file(name)))


def pydicom_read(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)


# -- real files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rtstruct.dcm", "rtplan.dcm", "rtdose.dcm"])
def test_rt_objects_are_read_with_what_people_name_them_by(name: str) -> None:
    """pydicom's RT files: labels, counts and dose fields as pydicom reads them, and the
    object's date from its family's date where it has no ContentDate."""
    path = pydicom_file(name)
    summary = read_object(path)
    ds = pydicom_read(path)

    def count(keyword: str) -> int | None:
        return len(ds[keyword].value) if keyword in ds else None

    assert (summary.label, summary.roi_count, summary.beam_count) == (
        ds.get("StructureSetLabel") or ds.get("RTPlanLabel"),
        count("StructureSetROISequence"),
        count("BeamSequence"),
    )
    assert (summary.dose_type, summary.dose_units, summary.dose_summation) == (
        ds.get("DoseType"),
        ds.get("DoseUnits"),
        ds.get("DoseSummationType"),
    )
    assert any((summary.label, summary.dose_units))  # each file names itself somehow
    date, time = next(
        (k, k.replace("Date", "Time"))
        for k in ("ContentDate", "StructureSetDate", "RTPlanDate", "InstanceCreationDate")
        if ds.get(k)
    )
    assert (summary.content_date, summary.content_time) == (ds[date].value, ds.get(time) or None)


def test_ct_small_summary_matches_pydicom_and_os_stat() -> None:
    path = pydicom_file("CT_small.dcm")
    summary = read_object(path)
    ds = pydicom_read(path)
    info = path.stat()
    assert summary == ObjectSummary(
        path=str(path),
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        sop_class=ds.SOPClassUID,
        sop_instance=ds.SOPInstanceUID,
        study=ds.StudyInstanceUID,
        series=ds.SeriesInstanceUID,
        transfer_syntax="1.2.840.10008.1.2.1",
        patient_id=ds.PatientID,
        patient_name="CompressedSamples^CT1",
        modality="CT",
        frame_of_reference=ds.FrameOfReferenceUID,
        study_date=ds.StudyDate,
        study_description=ds.StudyDescription,
        series_description=None,
        series_number=ds.SeriesNumber,
        instance_number=ds.InstanceNumber,
        number_of_frames=None,
        image_position=tuple(float(v) for v in ds.ImagePositionPatient),  # type: ignore[arg-type]
        image_orientation=tuple(float(v) for v in ds.ImageOrientationPatient),  # type: ignore[arg-type]
        study_time=ds.StudyTime,
        accession_number=ds.AccessionNumber or None,
        study_id=ds.StudyID,
        patient_birth_date=ds.PatientBirthDate or None,
        patient_sex=ds.PatientSex,
        content_date=ds.ContentDate,
        content_time=ds.ContentTime,
        references=(),
    )


@pytest.mark.parametrize(
    "name", ["MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm"]
)
def test_every_encoding_of_mr_small_reads_alike(name: str) -> None:
    reference = read_object(pydicom_file("MR_small.dcm"))
    other = read_object(pydicom_file(name))
    for field in ("sop_instance", "study", "series", "patient_name", "image_position"):
        assert getattr(other, field) == getattr(reference, field), field
    assert other.transfer_syntax == pydicom_read(pydicom_file(name)).file_meta.TransferSyntaxUID


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"])
def test_files_without_preamble_or_meta(name: str) -> None:
    summary = read_object(pydicom_file(name))
    ds = pydicom_read(pydicom_file(name))
    assert (summary.sop_instance, summary.study, summary.series) == (
        ds.SOPInstanceUID,
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
    )
    assert summary.transfer_syntax is None


def test_implicit_file_without_preamble() -> None:
    summary = read_object(pydicom_file("rtstruct.dcm"))
    assert summary.sop_class == corpus.RTSTRUCT
    assert summary.patient_name == "Test^Phantom30sep"
    assert summary.frame_of_reference == "1.2.826.0.1.3680043.8.498.2010020400001.2"


def test_no_meta_dcm_is_refused_as_not_dicom() -> None:
    # pydicom's no_meta.dcm starts with a stray byte (0x20) before (0008,0005): without
    # force, pydicom refuses it too; forced, it reads one garbage element (0820,0500).
    with pytest.raises(NotDicomError, match="not a DICOM file"):
        read_object(pydicom_file("no_meta.dcm"))


NOT_DICOM_STARTS = {
    "group 0008, then an impossible implicit length": b"\x08\x00\x10\x00\xff\xff\xff\x7f",
    "group 0008, then no VR and a length past the end": b"\x08\x00\x05\x00\x00\x01\x00\x00",
    "group 0002, an unknown VR": b"\x02\x00\x00\x00QQ\x04\x00",
    "big-endian group 0008, not a VR": b"\x00\x08\x00\x16\x00\x00\x00\x10",
    "group 0008, then an element of an earlier group": b"\x08\x00\x16\x00UI\x02\x001\x00"
    + b"\x02\x00\x10\x00UI\x02\x001\x00",
}


@pytest.mark.parametrize("name", list(NOT_DICOM_STARTS))
def test_two_bytes_that_look_like_a_group_do_not_make_a_dicom_file(
    name: str, tmp_path: Path
) -> None:
    path = corpus.write(tmp_path / "data.bin", NOT_DICOM_STARTS[name] + bytes(40))
    with pytest.raises(NotDicomError, match="not a DICOM file"):
        read_object(path)


@pytest.mark.parametrize("explicit", [True, False])
def test_a_file_starting_with_a_valid_element_is_dicom_even_when_it_cannot_be_read(
    explicit: bool, tmp_path: Path
) -> None:
    body = corpus.dataset(corpus.identity(explicit=explicit))
    cut = body[: len(body) - 10]  # the last element's value is cut short
    path = corpus.write(tmp_path / "monaco-plan", cut)
    with pytest.raises(DicomReadError) as caught:
        read_object(path)
    assert not isinstance(caught.value, NotDicomError), caught.value
    whole = corpus.write(tmp_path / "whole", body)
    assert read_object(whole).sop_instance == corpus.SOP


def test_deflated_file_goes_through_pydicom() -> None:
    summary = read_object(pydicom_file("image_dfl.dcm"))
    assert summary.transfer_syntax == "1.2.840.10008.1.2.1.99"
    assert summary.sop_instance == pydicom_read(pydicom_file("image_dfl.dcm")).SOPInstanceUID


def test_number_of_frames(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.SEG, "SEG")
    ds.NumberOfFrames = 12
    assert read_object(corpus.save(ds, tmp_path / "seg.dcm")).number_of_frames == 12


def test_truncated_rtplan_names_the_sequence_and_offset() -> None:
    path = pydicom_file("rtplan_truncated.dcm")
    with pytest.raises(DicomReadError) as caught:
        read_object(path)
    error = caught.value
    assert error.path == str(path)
    assert error.tag == "(300A,00B0) BeamSequence"
    assert error.offset == 1410
    assert "truncated" in str(error) and "copy it again" in str(error)


def test_pixel_data_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = corpus.base_dataset(corpus.CT, "CT")
    ds.Rows = ds.Columns = 512
    ds.BitsAllocated = 16
    ds.PixelData = bytes(512 * 512 * 2)
    ds.add_new(0x00091010, "OB", bytes(30000))  # a header longer than the first read
    path = corpus.save(ds, tmp_path / "ct.dcm")
    reads: list[tuple[int, int]] = []
    real_pread = os.pread

    def recording_pread(fd: int, length: int, offset: int) -> bytes:
        reads.append((offset, length))
        return real_pread(fd, length, offset)

    monkeypatch.setattr(os, "pread", recording_pread)
    read_object(path)
    pixel_offset = path.stat().st_size - 512 * 512 * 2
    # A chunk read for the header may run into the pixels, the pixels themselves are not read.
    assert sum(length for _, length in reads) < pixel_offset + _walker.SECOND_READ
    assert len(reads) == 2


def test_patient_names_decode_with_their_character_set() -> None:
    checked = 0
    for path in map(Path, get_charset_files("chr*.dcm")):
        ds = pydicom_read(path)
        if "PatientName" not in ds or "SOPInstanceUID" not in ds or "StudyInstanceUID" not in ds:
            continue
        summary = read_object(path)
        assert summary.patient_name == str(ds.PatientName).strip(), path.name
        checked += 1
    assert checked >= 10


def readable_test_files() -> Iterator[Path]:
    yield from sorted(TEST_FILES.glob("*.dcm"))


#: pydicom reads these (it does not check lengths against the file size); dicomref refuses them.
TRUNCATED = {"MR_truncated.dcm", "rtplan_truncated.dcm"}


@pytest.mark.parametrize("path", list(readable_test_files()), ids=lambda p: p.name)
def test_parity_with_pydicom(path: Path) -> None:
    """Wherever pydicom reads an object, read_object agrees on identity and references."""
    if path.name in TRUNCATED:
        with pytest.raises(DicomReadError, match="truncated"):
            read_object(path)
        return
    try:
        ds = pydicom_read(path)
        required = [ds.get(k) for k in ("SOPClassUID", "SOPInstanceUID")]
        required += [ds.get(k) for k in ("StudyInstanceUID", "SeriesInstanceUID")]
        expected = references(ds)
    except (DicomReadError, AttributeError, ValueError, TypeError, KeyError, EOFError):
        pytest.skip("pydicom cannot read it either")
    if not all(required):
        with pytest.raises(DicomReadError):
            read_object(path)
        return
    summary = read_object(path)
    assert summary.sop_class == ds.SOPClassUID
    assert summary.sop_instance == ds.SOPInstanceUID
    assert summary.study == ds.StudyInstanceUID
    assert summary.series == ds.SeriesInstanceUID
    assert summary.modality == (ds.get("Modality") or None)
    assert list(summary.references) == expected


# -- what is read, and how -------------------------------------------------------------------


def test_header_straddling_the_first_read(tmp_path: Path) -> None:
    """Elements whose header or value crosses the end of the first read are read whole."""
    for filler in range(_walker.FIRST_READ - 200, _walker.FIRST_READ - 150, 2):
        elements = corpus.identity()
        elements[0x00091010] = corpus.element(0x00091010, "OB", bytes(filler))
        elements[0x00100010] = corpus.element(0x00100010, "PN", "Far^Away")
        path = corpus.write(tmp_path / f"f{filler}.dcm", corpus.part10(corpus.dataset(elements)))
        assert read_object(path).patient_name == "Far^Away"


def test_items_switching_to_implicit_vr_in_an_explicit_file(tmp_path: Path) -> None:
    implicit_item = corpus.element(0x00081150, "UI", corpus.CT, explicit=False)
    implicit_item += corpus.element(0x00081155, "UI", "1.2.3.4", explicit=False)
    elements = corpus.identity()
    elements[0x00081140] = corpus.sequence(0x00081140, [corpus.item(implicit_item)])
    path = corpus.write(tmp_path / "switch.dcm", corpus.part10(corpus.dataset(elements)))
    [found] = read_object(path).references
    assert (found.target, found.path) == ("1.2.3.4", "ReferencedImageSequence[0]")


def test_un_sequences(tmp_path: Path) -> None:
    """UN of undefined length, UN of a dictionary sequence, private UN holding items."""
    inner = corpus.item(corpus.element(0x00081155, "UI", "9.9.1", explicit=False))
    elements = corpus.identity()
    elements[0x00081140] = corpus.sequence(0x00081140, [inner], vr="UN", undefined=False)
    elements[0x00091010] = corpus.element(0x00090010, "LO", "PRIVATE")
    elements[0x00091011] = corpus.sequence(0x00091011, [inner], vr="UN", undefined=True)
    defined = corpus.item(
        corpus.element(0x00081155, "UI", "9.9.2", explicit=False), undefined=False
    )
    elements[0x00091012] = corpus.element(0x00091012, "UN", defined)
    elements[0x00091013] = corpus.element(0x00091013, "UN", b"\xfe\xff\x00\xe0garbage!")
    path = corpus.write(tmp_path / "un.dcm", corpus.part10(corpus.dataset(elements)))
    found = [(r.path, r.target) for r in read_object(path).references]
    assert found == [
        ("ReferencedImageSequence[0]", "9.9.1"),
        ("(0009,1011)[0]", "9.9.1"),
        ("(0009,1012)[0]", "9.9.2"),
    ]


def test_encapsulated_icon_inside_an_item_is_skipped(tmp_path: Path) -> None:
    fragments = (
        struct.pack("<HHI", 0xFFFE, 0xE000, 0)
        + struct.pack("<HHI", 0xFFFE, 0xE000, 4)
        + b"\xff\xd8\xff\xd9"
        + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    )
    pixel = struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\0\0" + struct.pack("<I", 0xFFFFFFFF)
    icon = corpus.item(corpus.element(0x00280010, "US", b"\x01\x00") + pixel + fragments)
    elements = corpus.identity()
    elements[0x00880200] = corpus.sequence(0x00880200, [icon])
    elements[0x00100010] = corpus.element(0x00100010, "PN", "After^Icon")
    path = corpus.write(tmp_path / "icon.dcm", corpus.part10(corpus.dataset(elements)))
    assert read_object(path).patient_name == "After^Icon"


def test_values_stored_with_other_vrs_are_normalised(tmp_path: Path) -> None:
    entry = corpus.element(0x00081155, "UI", "1.2.3")
    entry += corpus.element(0x00081160, "US", struct.pack("<2H", 4, 7))  # IS written as US
    entry += corpus.element(0x0062000B, "IS", "2\\5")  # US written as IS
    elements = corpus.identity()
    elements[0x00081140] = corpus.sequence(0x00081140, [corpus.item(entry)])
    path = corpus.write(tmp_path / "vrs.dcm", corpus.part10(corpus.dataset(elements)))
    [found] = read_object(path).references
    assert (found.frames, found.segments) == ((4, 7), (2, 5))


def test_geometry_garbage_is_none(tmp_path: Path) -> None:
    elements = corpus.identity()
    elements[0x00200032] = corpus.element(0x00200032, "DS", "1\\two\\3")
    elements[0x00200037] = corpus.element(0x00200037, "DS", "1\\0\\0\\0\\1")
    elements[0x00200013] = corpus.element(0x00200013, "IS", "seven")
    elements[0x00200011] = corpus.element(0x00200011, "IS", " 4 ")
    path = corpus.write(tmp_path / "garbage.dcm", corpus.part10(corpus.dataset(elements)))
    summary = read_object(path)
    assert summary.image_position is None
    assert summary.image_orientation is None
    assert summary.instance_number is None
    assert summary.series_number == 4


def test_odd_but_consistent_lengths_are_read_as_pydicom_does(tmp_path: Path) -> None:
    elements = corpus.identity()
    elements[0x00100020] = (
        struct.pack("<HH", 0x0010, 0x0020) + b"LO" + struct.pack("<H", 3) + b"abc"
    )
    path = corpus.write(tmp_path / "odd.dcm", corpus.part10(corpus.dataset(elements)))
    assert read_object(path).patient_id == "abc"


# -- broken files: each must raise a DicomReadError that says what is wrong ------------------


def good_rtstruct(tmp_path: Path, *, undefined: bool) -> bytes:
    ds = corpus.rtstruct(slices=4)
    if undefined:
        corpus.undefined_lengths(ds)
    return corpus.save(ds, tmp_path / "source.dcm").read_bytes()


def offset_of(data: bytes, tag: int) -> int:
    """Where the (explicit VR) element ``tag`` starts in ``data``."""
    return data.index(struct.pack("<HH", tag >> 16, tag & 0xFFFF))


BROKEN: dict[str, tuple[type[DicomReadError], str]] = {
    "empty": (NotDicomError, "empty"),
    "text": (NotDicomError, "not a DICOM file"),
    "png": (NotDicomError, "not a DICOM file"),
    "truncated in a value": (DicomReadError, "truncated"),
    "truncated in a header": (DicomReadError, "truncated"),
    "truncated in an undefined-length sequence": (DicomReadError, "ROIContourSequence"),
    "truncated in a defined-length sequence": (DicomReadError, "truncated"),
    "truncated in the pixel data": (DicomReadError, "PixelData"),
    "wrong VR": (DicomReadError, "VR bytes 01 02 are not a VR"),
    "length past the end": (DicomReadError, "truncated or damaged"),
    "odd length, one short": (DicomReadError, "damaged"),
    "item length past its sequence": (DicomReadError, "past the end of its sequence"),
    "garbage where an item should be": (DicomReadError, "expected an item"),
    "500 nested sequences": (DicomReadError, "nested deeper than 64"),
    "500 nested sequences, implicit": (DicomReadError, "nested deeper than 64"),
    "500 nested sequences, big endian": (DicomReadError, "nested too deeply"),
    "missing SOPInstanceUID": (DicomReadError, "SOPInstanceUID is missing"),
    "empty StudyInstanceUID": (DicomReadError, "StudyInstanceUID is empty"),
    "DICOMDIR": (NotAnInstanceError, "DICOMDIR"),
    "not a stored object": (NotAnInstanceError, "Basic Film Session"),
}


def broken(name: str, tmp_path: Path) -> bytes:
    if name == "empty":
        return b""
    if name == "text":
        return b"Patient notes\nnothing to see here, " * 20
    if name == "png":
        return b"\x89PNG\r\n\x1a\n" + bytes(300)
    if name.startswith("truncated in a"):
        undefined = "undefined" in name
        data = good_rtstruct(tmp_path, undefined=undefined)
        if name == "truncated in a value":
            return data[: offset_of(data, 0x00100010) + 12]
        if name == "truncated in a header":  # inside the first item's first element header
            return data[: offset_of(data, 0x30060010) + 12 + 8 + 5]
        return data[: offset_of(data, 0x30060039) + 300]
    if name == "truncated in the pixel data":
        ds = corpus.base_dataset(corpus.CT, "CT")
        ds.BitsAllocated = 16
        ds.PixelData = bytes(2000)
        return corpus.save(ds, tmp_path / "ct.dcm").read_bytes()[:-100]
    if name == "wrong VR":
        elements = corpus.identity()
        elements[0x00100010] = corpus.element(0x00100010, "PN", "Wrong^VR")
        data = corpus.part10(corpus.dataset(elements))
        at = offset_of(data, 0x00100010) + 4
        return data[:at] + b"\x01\x02" + data[at + 2 :]
    if name == "length past the end":
        elements = corpus.identity()
        elements[0x00100010] = corpus.element(0x00100010, "PN", "Long^Name", length=0xFFF0)
        return corpus.part10(corpus.dataset(elements))
    if name == "odd length, one short":
        elements = corpus.identity()
        elements[0x00100010] = corpus.element(0x00100010, "PN", "Odd^Name", length=7)
        elements[0x00100020] = corpus.element(0x00100020, "LO", "ID")
        return corpus.part10(corpus.dataset(elements))
    if name == "item length past its sequence":
        entry = corpus.item(corpus.element(0x00081155, "UI", "1.2"), undefined=False)
        entry = entry[:4] + struct.pack("<I", 400) + entry[8:]
        elements = corpus.identity()
        elements[0x00081140] = corpus.sequence(0x00081140, [entry], undefined=False)
        elements[0x00100010] = corpus.element(0x00100010, "PN", "After^Sequence" * 40)
        return corpus.part10(corpus.dataset(elements))
    if name == "garbage where an item should be":
        elements = corpus.identity()
        not_item = corpus.element(0x00100010, "PN", "Not^Item")
        elements[0x00081140] = corpus.sequence(0x00081140, [not_item])
        return corpus.part10(corpus.dataset(elements))
    if name == "500 nested sequences":
        return corpus.part10(corpus.dataset(corpus.identity()) + corpus.nested(500))
    if name == "500 nested sequences, implicit":
        body = corpus.dataset(corpus.identity(explicit=False)) + corpus.nested(500, explicit=False)
        return corpus.part10(body, syntax=corpus.IMPLICIT)
    if name == "500 nested sequences, big endian":
        body = corpus.dataset(corpus.identity(big=True)) + corpus.nested(500, big=True)
        return corpus.part10(body, syntax=corpus.BIG_ENDIAN)
    if name == "missing SOPInstanceUID":
        elements = corpus.identity()
        del elements[0x00080018]
        return corpus.part10(corpus.dataset(elements))
    if name == "empty StudyInstanceUID":
        elements = corpus.identity()
        elements[0x0020000D] = corpus.element(0x0020000D, "UI", "")
        return corpus.part10(corpus.dataset(elements))
    if name == "DICOMDIR":
        return (TEST_FILES / "dicomdirtests" / "DICOMDIR").read_bytes()
    if name == "not a stored object":
        elements = corpus.identity(sop_class="1.2.840.10008.5.1.1.1")
        return corpus.part10(corpus.dataset(elements))
    raise AssertionError(name)


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_files_raise_a_read_error_that_says_why(name: str, tmp_path: Path) -> None:
    error_type, reason = BROKEN[name]
    path = corpus.write(tmp_path / "broken file.dcm", broken(name, tmp_path))
    with pytest.raises(error_type) as caught:
        read_object(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert reason in message, message
    assert caught.value.path == str(path)


def test_truncated_sequence_message_names_the_sequence(tmp_path: Path) -> None:
    data = broken("truncated in an undefined-length sequence", tmp_path)
    path = corpus.write(tmp_path / "cut.dcm", data)
    with pytest.raises(DicomReadError) as caught:
        read_object(path)
    message = str(caught.value)
    assert f"the file ends at byte {len(data):,}, inside ROIContourSequence[0]." in message
    assert "copy it again from its source" in message


def test_placeholder_uids_do_not_crash(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.CT, "CT", sop="0")
    entry = corpus.ref("0", "0")
    entry.StudyInstanceUID = "0"
    entry.SeriesInstanceUID = ""
    ds.ReferencedImageSequence = Sequence([entry])
    path = corpus.save(ds, tmp_path / "placeholder.dcm")
    summary = read_object(path)
    assert summary.sop_instance == "0"
    [found] = summary.references
    assert (found.target, found.target_class, found.study, found.series) == ("0", "0", None, None)


ODD_NAMES = {
    "with space.dcm": "with space.dcm",
    "ünïcødé ✓.dcm": "ünïcødé ✓.dcm",
    "new\nline.dcm": "new\\nline.dcm",
    "-dash": "-dash",
    "back\\slash": "back\\\\slash",
    os.fsdecode(b"caf\xe9.dcm"): "caf\\xe9.dcm",  # Latin-1: not UTF-8
}


@pytest.mark.parametrize("name", list(ODD_NAMES))
def test_odd_file_names(name: str, tmp_path: Path) -> None:
    """The summary keeps the exact name; messages show it on one line, escaped losslessly."""
    good = Path(shutil.copy(pydicom_file("CT_small.dcm"), tmp_path / name))
    assert read_object(good).path == str(good)
    bad = corpus.write(tmp_path / f"bad {name}", b"not dicom at all" * 10)
    with pytest.raises(NotDicomError, match="not a DICOM file") as caught:
        read_object(bad)
    assert caught.value.path == str(bad)
    assert f"{tmp_path}/bad {ODD_NAMES[name]}: " in str(caught.value)
    assert "\n" not in str(caught.value)
    str(caught.value).encode()  # printable as UTF-8


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DicomReadError, match="cannot open it: No such file or directory"):
        read_object(tmp_path / "absent.dcm")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DicomReadError, match="not a regular file"):
        read_object(tmp_path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    with pytest.raises(DicomReadError, match="not a regular file"):
        read_object(fifo)


def test_permission_denied() -> None:
    """Root reads files whatever their mode, so as root the read runs as user nobody;
    the same read of the file made readable again is the control."""
    code = (
        "import os, sys\n"
        "from dicomref.errors import DicomReadError\n"
        "from dicomref.extraction import read_object\n"
        "if os.geteuid() == 0:\n"
        "    os.setgid(65534); os.setuid(65534)\n"
        "try:\n"
        "    print(read_object(sys.argv[1]).sop_class)\n"
        "except DicomReadError as exc:\n"
        "    print(exc)\n"
    )
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        Path(folder).chmod(0o755)  # traversable by nobody: only the file's mode matters
        path = Path(shutil.copy(pydicom_file("CT_small.dcm"), Path(folder) / "secret.dcm"))

        def read_as_other_user() -> str:
            command = [sys.executable, "-c", code, str(path)]
            return subprocess.run(command, capture_output=True, text=True, check=True).stdout

        path.chmod(0o644)
        assert read_as_other_user().strip() == "1.2.840.10008.5.1.4.1.1.2"
        path.chmod(0)
        denied = read_as_other_user()
    assert "secret.dcm" in denied
    assert "cannot open it: Permission denied" in denied


def test_file_shrinking_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = corpus.rtstruct(slices=200)
    path = corpus.save(ds, tmp_path / "big.dcm")
    assert path.stat().st_size > _walker.FIRST_READ
    real_pread = os.pread

    def short_pread(fd: int, length: int, offset: int) -> bytes:
        return real_pread(fd, length, offset) if offset == 0 else b""

    monkeypatch.setattr(os, "pread", short_pread)
    with pytest.raises(DicomReadError, match="being written or truncated"):
        read_object(path)


def test_mutated_files_raise_nothing_but_read_errors(tmp_path: Path) -> None:
    """Seeded fuzzing: truncations and flipped bytes of real files never escape as other errors."""
    sources = [
        pydicom_file(name).read_bytes()
        for name in ("CT_small.dcm", "rtplan.dcm", "rtstruct.dcm", "test-SR.dcm", "UN_sequence.dcm")
    ]
    sources.append(
        corpus.save(corpus.undefined_lengths(corpus.rtstruct()), tmp_path / "u.dcm").read_bytes()
    )
    rng = random.Random(20240101)
    path = tmp_path / "mutant.dcm"
    for _ in range(600):
        data = bytearray(rng.choice(sources))
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            read_object(path)
        except DicomReadError as error:
            assert str(error).startswith(f"{path}: ")


def test_facts_follow_the_summary_field_for_field() -> None:
    """The scan's Facts tuple is ObjectSummary without its references, in the same order
    (ObjectSummary(*facts) relies on it)."""
    from dataclasses import fields

    from dicomref.extraction._summary import Facts
    from dicomref.model import ObjectSummary

    names = [f.name for f in fields(ObjectSummary)]
    assert names[-1] == "references"
    assert list(Facts._fields) == names[:-1]
