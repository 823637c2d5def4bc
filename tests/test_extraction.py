"""references() and dicomdir_files(): what objects reference, named and located."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

import extraction_corpus as corpus
from dicomref.errors import DicomReadError, NotDicomError
from dicomref.extraction import _rules, _walker, dicomdir_files, read_object, references
from dicomref.extraction._walk import find_references
from dicomref.model import Kind, Reference

TEST_FILES = Path(str(get_testdata_file("CT_small.dcm"))).parent
DICOMDIRS = TEST_FILES / "dicomdirtests"
ENCODINGS = [corpus.EXPLICIT, corpus.IMPLICIT, corpus.BIG_ENDIAN]


def pydicom_file(name: str) -> Path:
    return Path(str(get_testdata_file(name)))


def summary_of(ds: Dataset, tmp_path: Path, syntax: str = corpus.EXPLICIT) -> list[Reference]:
    """The references read back from ``ds`` saved in ``syntax``; checks the Dataset walk too."""
    path = corpus.save(ds, tmp_path / f"object-{syntax}.dcm", syntax)
    found = list(read_object(path).references)
    assert found == references(ds)
    return found


def brief(found: list[Reference]) -> list[tuple[str, str, Kind]]:
    return [(r.path, r.target, r.kind) for r in found]


# -- real files ------------------------------------------------------------------------------


def test_rtplan_names_its_structure_set() -> None:
    source = "1.2.777.777.77.7.7777.7777.20030903150023"
    assert references(pydicom_file("rtplan.dcm")) == [
        Reference(
            source=source,
            target="1.9.999.999.99.9.9999.9999.20030903145128",
            target_class=corpus.RTPLAN,
            kind=Kind.PLAN,
            path="ReferencedRTPlanSequence[0]",
        ),
        Reference(
            source=source,
            target="1.2.333.444.55.6.7777.88888",
            target_class=corpus.RTSTRUCT,
            kind=Kind.STRUCTURE_SET,
            path="ReferencedStructureSetSequence[0]",
        ),
    ]


def test_rtdose_names_its_plan() -> None:
    [found] = references(pydicom_file("rtdose.dcm"))
    assert (found.kind, found.target_class, found.path) == (
        Kind.PLAN,
        corpus.RTPLAN,
        "ReferencedRTPlanSequence[0]",
    )


def test_rtstruct_study_is_not_an_instance() -> None:
    [found] = references(pydicom_file("rtstruct.dcm"))
    assert found.kind is Kind.STUDY
    assert found.instance is False
    assert found.path == "ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]"


def test_comprehensive_sr() -> None:
    found = references(pydicom_file("test-SR.dcm"))
    assert [(r.path, r.kind) for r in found] == [
        (
            "PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]",
            Kind.OTHER,
        ),
        ("ContentSequence[3].ReferencedSOPSequence[0]", Kind.OTHER),  # a COMPOSITE text SR
        ("ContentSequence[4].ReferencedSOPSequence[0]", Kind.REFERENCED_IMAGE),
        (
            "ContentSequence[4].ReferencedSOPSequence[0].ReferencedSOPSequence[0]",
            Kind.PRESENTATION_STATE,
        ),
        (
            "ContentSequence[4].ContentSequence[1].ContentSequence[0].ReferencedSOPSequence[0]",
            Kind.REFERENCED_IMAGE,
        ),
        (
            "ContentSequence[4].ContentSequence[1].ContentSequence[1].ReferencedSOPSequence[0]",
            Kind.OTHER,  # a waveform
        ),
    ]
    assert found[0].study == "1.2.276.0.7230010.3.1.4.2139363186.7819.982086466.2"
    assert found[0].series == "1.2.276.0.7230010.3.1.4.2139363186.7819.982086466.3"
    assert found[2].frames == (5, 2)


def test_placeholder_references_in_reportsi() -> None:
    found = references(pydicom_file("reportsi.dcm"))
    assert [(r.target, r.target_class, r.study) for r in found] == [("0", "0", None)] * 2


def test_segmentation_names_its_source_images() -> None:
    found = references(pydicom_file("liver_1frame.dcm"))
    assert {r.kind for r in found} == {Kind.SOURCE_IMAGE}
    assert len(found) == 6
    series = "1.2.392.200103.20080913.113635.1.2009.6.22.21.43.10.23430.1"
    assert {r.series for r in found} == {series}  # per-frame ones borrow the series listed
    assert found[3].path == (
        "PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]"
    )


def test_un_sequence_is_read_as_implicit_items() -> None:
    path = pydicom_file("UN_sequence.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = references(pydicom.dcmread(path))
    header = _walker.read_header(path)
    assert header.tree is not None
    assert find_references(header.tree, "", None) == expected
    assert [r.path for r in expected] == [
        "(4453,100C)[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]"
    ]


def test_nested_private_sequences_are_kept() -> None:
    header = _walker.read_header(pydicom_file("nested_priv_SQ.dcm"))
    assert header.tree is not None
    assert header.tree == {0x00010001: [{0x00010001: [{}]}]}  # two levels, undefined lengths


# -- structure sets, in every encoding -------------------------------------------------------


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
@pytest.mark.parametrize("syntax", ENCODINGS, ids=["explicit", "implicit", "big-endian"])
def test_structure_set_contour_images(syntax: str, undefined: bool, tmp_path: Path) -> None:
    ds = corpus.rtstruct(slices=3, rois=2)
    if undefined:
        corpus.undefined_lengths(ds)
    found = summary_of(ds, tmp_path, syntax)
    base = "ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]"
    listed = [
        (f"{base}.RTReferencedSeriesSequence[0].ContourImageSequence[{i}]", corpus.slice_uid(i))
        for i in range(3)
    ]
    contours = [
        (
            f"ROIContourSequence[{roi}].ContourSequence[{i}].ContourImageSequence[0]",
            corpus.slice_uid(i),
        )
        for roi in range(2)
        for i in range(3)
    ]
    assert [(r.path, r.target) for r in found] == [(base, corpus.CT_STUDY), *listed, *contours]
    study, *images = found
    assert (study.kind, study.instance, study.target_class) == (
        Kind.STUDY,
        False,
        corpus.STUDY_CLASS,
    )
    for image in images:
        assert (image.kind, image.instance, image.target_class) == (
            Kind.CONTOUR_IMAGE,
            True,
            corpus.CT,
        )
        assert (image.study, image.series) == (corpus.CT_STUDY, corpus.CT_SERIES)
        assert image.source == corpus.SOP
    path = tmp_path / f"object-{syntax}.dcm"
    assert read_object(path).frame_of_reference == "1.2.826.0.1.3680043.10.9"


def test_large_structure_set_beyond_the_first_read(tmp_path: Path) -> None:
    ds = corpus.undefined_lengths(corpus.rtstruct(slices=150, rois=6))
    path = corpus.save(ds, tmp_path / "large.dcm")
    assert path.stat().st_size > 4 * _walker.FIRST_READ
    found = read_object(path).references
    assert len(found) == 1 + 150 + 6 * 150
    assert list(found) == references(ds)


# -- the kinds table -------------------------------------------------------------------------


def test_key_object_selection(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.KOS, "KO")
    series = Dataset()
    series.SeriesInstanceUID = corpus.CT_SERIES
    series.ReferencedSOPSequence = Sequence([corpus.ref(corpus.CT, corpus.slice_uid(7))])
    study = Dataset()
    study.StudyInstanceUID = corpus.CT_STUDY
    study.ReferencedSeriesSequence = Sequence([series])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([study])
    image = corpus.with_items(ReferencedSOPSequence=[corpus.ref(corpus.CT, corpus.slice_uid(7))])
    image.ValueType = "IMAGE"
    image.RelationshipType = "CONTAINS"
    ds.ContentSequence = Sequence([image])
    found = summary_of(ds, tmp_path)
    assert [(r.path, r.kind, r.study, r.series) for r in found] == [
        (
            "CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]"
            ".ReferencedSOPSequence[0]",
            Kind.EVIDENCE,
            corpus.CT_STUDY,
            corpus.CT_SERIES,
        ),
        (  # hints shared from the evidence
            "ContentSequence[0].ReferencedSOPSequence[0]",
            Kind.REFERENCED_IMAGE,
            corpus.CT_STUDY,
            corpus.CT_SERIES,
        ),
    ]


def test_presentation_state(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.GSPS, "PR")
    series = corpus.with_items(ReferencedImageSequence=[corpus.ref(corpus.CT, "1.5.1")])
    series.SeriesInstanceUID = corpus.CT_SERIES
    ds.ReferencedSeriesSequence = Sequence([series])
    ds.GraphicAnnotationSequence = Sequence(
        [corpus.with_items(ReferencedImageSequence=[corpus.ref(corpus.CT, "1.5.1")])]
    )
    found = summary_of(ds, tmp_path)
    assert brief(found) == [
        ("ReferencedSeriesSequence[0].ReferencedImageSequence[0]", "1.5.1", Kind.REFERENCED_IMAGE),
        ("GraphicAnnotationSequence[0].ReferencedImageSequence[0]", "1.5.1", Kind.REFERENCED_IMAGE),
    ]
    assert [r.series for r in found] == [corpus.CT_SERIES] * 2


def test_spatial_registration(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.REG, "REG")
    registration = corpus.with_items(ReferencedImageSequence=[corpus.ref(corpus.CT, "1.6.1")])
    registration.FrameOfReferenceUID = "1.6.9"
    ds.RegistrationSequence = Sequence([registration])
    series = corpus.with_items(ReferencedInstanceSequence=[corpus.ref(corpus.CT, "1.6.2")])
    series.SeriesInstanceUID = "1.6.8"
    study = corpus.with_items(ReferencedSeriesSequence=[series])
    study.StudyInstanceUID = "1.6.7"
    ds.StudiesContainingOtherReferencedInstancesSequence = Sequence([study])
    found = summary_of(ds, tmp_path)
    assert brief(found) == [
        ("StudiesContainingOtherReferencedInstancesSequence[0].ReferencedSeriesSequence[0]"
         ".ReferencedInstanceSequence[0]", "1.6.2", Kind.SOURCE_IMAGE),
        ("RegistrationSequence[0].ReferencedImageSequence[0]", "1.6.1", Kind.SOURCE_IMAGE),
    ]  # fmt: skip
    assert (found[0].study, found[0].series) == ("1.6.7", "1.6.8")


def test_radiotherapy_roles(tmp_path: Path) -> None:
    dose = corpus.base_dataset(corpus.RTDOSE, "RTDOSE")
    dose.ReferencedRTPlanSequence = Sequence([corpus.ref(corpus.RTIONPLAN, "2.1")])
    dose.ReferencedStructureSetSequence = Sequence([corpus.ref(corpus.RTSTRUCT, "2.2")])
    assert brief(summary_of(dose, tmp_path)) == [
        ("ReferencedRTPlanSequence[0]", "2.1", Kind.PLAN),
        ("ReferencedStructureSetSequence[0]", "2.2", Kind.STRUCTURE_SET),
    ]
    plan = corpus.base_dataset(corpus.RTPLAN, "RTPLAN", sop="2.3")
    plan.ReferencedDoseSequence = Sequence([corpus.ref(corpus.RTDOSE, "2.4")])
    beam = corpus.with_items(
        ReferencedReferenceImageSequence=[corpus.ref("1.2.840.10008.5.1.4.1.1.481.1", "2.5")]
    )
    plan.BeamSequence = Sequence([beam])
    plan.ReferencedTreatmentRecordSequence = Sequence(
        [corpus.ref("1.2.840.10008.5.1.4.1.1.481.4", "2.6")]
    )
    assert brief(summary_of(plan, tmp_path)) == [
        ("ReferencedTreatmentRecordSequence[0]", "2.6", Kind.TREATMENT_RECORD),
        ("BeamSequence[0].ReferencedReferenceImageSequence[0]", "2.5", Kind.RT_IMAGE),
        ("ReferencedDoseSequence[0]", "2.4", Kind.DOSE),
    ]


def test_targets_that_are_not_stored_objects(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.CT, "CT")
    study = corpus.ref(None, "3.1")
    study.ReferencedImageSequence = Sequence([corpus.ref(corpus.CT, "3.2")])
    ds.ReferencedStudySequence = Sequence([study])
    ds.ReferencedPerformedProcedureStepSequence = Sequence([corpus.ref(corpus.MPPS, "3.3")])
    ds.ReferencedPatientSequence = Sequence([corpus.ref("1.2.840.10008.3.1.2.1.1", "3.4")])
    found = summary_of(ds, tmp_path)
    assert [(r.target, r.kind, r.instance) for r in found] == [
        ("3.1", Kind.STUDY, False),
        ("3.2", Kind.REFERENCED_IMAGE, True),
        ("3.3", Kind.PROCEDURE_STEP, False),
        ("3.4", Kind.PATIENT, False),
    ]
    assert found[1].study == "3.1"  # the study item locates what it holds


def test_images_and_their_targets(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.CT, "CT")
    ds.SourceImageSequence = Sequence([corpus.ref(corpus.CT, "4.1")])
    ds.ReferencedImageSequence = Sequence(
        [corpus.ref(corpus.CT, "4.2"), corpus.ref(corpus.SEG, "4.3", ReferencedSegmentNumber=2)]
    )
    ds.add_new(0x00090010, "LO", "DICOMREF TEST")
    ds.add_new(0x00091010, "SQ", Sequence([corpus.ref(corpus.CT, "4.4")]))
    found = summary_of(ds, tmp_path)
    assert brief(found) == [
        ("ReferencedImageSequence[0]", "4.2", Kind.REFERENCED_IMAGE),
        ("ReferencedImageSequence[1]", "4.3", Kind.SEGMENTATION),
        ("SourceImageSequence[0]", "4.1", Kind.SOURCE_IMAGE),
        ("(0009,1010)[0]", "4.4", Kind.OTHER),
    ]
    assert found[1].segments == (2,)


def test_frames_and_segments(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.CT, "CT")
    ds.ReferencedImageSequence = Sequence(
        [
            corpus.ref(
                corpus.SEG, "5.1", ReferencedFrameNumber=[1, 3], ReferencedSegmentNumber=[2, 4]
            )
        ]
    )
    for syntax in ENCODINGS:
        [found] = summary_of(ds, tmp_path, syntax)
        assert (found.frames, found.segments) == ((1, 3), (2, 4)), syntax


def test_rules_tables_are_consistent() -> None:
    assert set(_rules.CLASS_KINDS) <= _rules.STORAGE_CLASSES
    assert set(_rules.FAMILY_RULES) <= _rules.STORAGE_CLASSES
    assert not set(_rules.NON_INSTANCE_CLASSES) & _rules.STORAGE_CLASSES
    assert corpus.KOS in _rules.SR_CLASSES
    assert corpus.RTIONPLAN in _rules.RT_CLASSES
    assert _rules.CLASS_KINDS[corpus.RTIONPLAN] is Kind.PLAN
    context = _rules.Context(None, (), None, None)
    assert _rules.classify(context) == (Kind.OTHER, True)


# -- datasets --------------------------------------------------------------------------------


def test_dataset_without_identity_has_an_empty_source() -> None:
    ds = Dataset()
    ds.ReferencedImageSequence = Sequence([corpus.ref(corpus.CT, "6.1")])
    [found] = references(ds)
    assert (found.source, found.target) == ("", "6.1")


def test_deeply_nested_dataset_is_refused() -> None:
    ds = Dataset()
    inner = ds
    for _ in range(100):
        child = Dataset()
        inner.ReferencedImageSequence = Sequence([child])
        inner = child
    with pytest.raises(DicomReadError, match="nested deeper than 64"):
        references(ds)


# -- DICOMDIR --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["DICOMDIR", "DICOMDIR-implicit", "DICOMDIR-bigEnd"])
def test_dicomdir_files(name: str) -> None:
    files = dicomdir_files(DICOMDIRS / name)
    assert len(files) == 31
    assert len(set(files)) == len(files)
    assert all(path.is_file() and path.is_relative_to(DICOMDIRS) for path in files)
    assert files[0] == DICOMDIRS / "77654033" / "CR1" / "6154"


def test_dicomdir_with_names_in_another_case(tmp_path: Path) -> None:
    root = tmp_path / "media"
    shutil.copytree(DICOMDIRS, root)
    (root / "77654033" / "CR1").rename(root / "77654033" / "cr1")
    (root / "98892001" / "CT2N").rename(root / "98892001" / "Ct2n")
    files = dicomdir_files(root / "DICOMDIR")
    assert root / "77654033" / "cr1" / "6154" in files
    assert any(path.parent == root / "98892001" / "Ct2n" for path in files)
    assert all(path.exists() for path in files)


def write_dicomdir(path: Path, file_ids: list[list[str]]) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.1.3.10")
    ds.file_meta.MediaStorageSOPInstanceUID = UID("1.2.3")
    ds.file_meta.TransferSyntaxUID = UID(corpus.EXPLICIT)
    ds.FileSetID = "TEST"
    records = []
    for parts in file_ids:
        record = Dataset()
        record.DirectoryRecordType = "IMAGE"
        record.ReferencedFileID = parts
        records.append(record)
    ds.DirectoryRecordSequence = Sequence(records)
    ds.save_as(path, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return path


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS")
@pytest.mark.parametrize("parts", [["..", "ETC", "PASSWD"], ["A", "..", "..", "B"]])
def test_dicomdir_entries_outside_the_folder_are_refused(parts: list[str], tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    path = write_dicomdir(tmp_path / "media" / "DICOMDIR", [["IMG1"], parts])
    with pytest.raises(DicomReadError, match="outside the DICOMDIR's folder"):
        dicomdir_files(path)


def test_dicomdir_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "LINK").symlink_to(tmp_path)
    path = write_dicomdir(tmp_path / "media" / "DICOMDIR", [["LINK", "SECRET"]])
    with pytest.raises(DicomReadError, match="outside the DICOMDIR's folder"):
        dicomdir_files(path)


def test_not_a_dicomdir(tmp_path: Path) -> None:
    with pytest.raises(NotDicomError, match="not a DICOMDIR"):
        dicomdir_files(pydicom_file("CT_small.dcm"))
    with pytest.raises(DicomReadError, match="cannot read it"):
        dicomdir_files(tmp_path / "absent")
