"""Tests of dicomref.sample: determinism, layout, reference wiring, geometry, validity."""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    KeyObjectSelectionDocumentStorage,
    RTDoseStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    SegmentationStorage,
)

import dicomref.sample
from dicomref.errors import UsageError
from dicomref.sample import Sample, SampleObject, generate_sample
from servers import dcmtk_program

SEED = 3
SLICES = 12
ROWS = 32
COLUMNS = 40
PIXEL_SPACING = 1.5
SLICE_THICKNESS = 2.5
ROLE_COUNTS = {
    "ct": SLICES,
    "structure_set": 2,
    "plan": 2,
    "dose": 1,
    "seg": 1,
    "kos": 1,
    "second_study_ct": max(4, SLICES // 4),
    "second_study_structure_set": 1,
}


def _generate(out: Path, seed: int = SEED) -> Sample:
    return generate_sample(
        out,
        seed=seed,
        slices=SLICES,
        rows=ROWS,
        columns=COLUMNS,
        pixel_spacing=PIXEL_SPACING,
        slice_thickness=SLICE_THICKNESS,
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """A patient with a non-default matrix and spacing, shared read-only by this module."""
    return _generate(tmp_path_factory.mktemp("sample") / "out")


def read(obj: SampleObject) -> Dataset:
    return pydicom.dcmread(obj.path)


def z_of(ds: Dataset) -> float:
    return float(ds.ImagePositionPatient[2])


def walk(ds: Dataset) -> Iterator[Dataset]:
    """``ds`` and every sequence item in it, at any depth."""
    yield ds
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                yield from walk(item)


def ui_values(ds: Dataset) -> set[str]:
    return {
        str(element.value)
        for item in walk(ds)
        for element in item
        if element.VR == "UI" and element.value
    }


def ref(item: Dataset) -> tuple[str, str]:
    return (str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID))


def key(obj: SampleObject) -> tuple[str, str]:
    return (obj.sop_class, obj.sop_instance)


# --- public face -----------------------------------------------------------------


def test_public_names_are_exactly_the_documented_ones() -> None:
    assert dicomref.sample.__all__ == ["Sample", "SampleObject", "generate_sample"]


def test_value_objects_are_frozen(generated: Sample) -> None:
    obj = generated.ct[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.role = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        generated.root = Path()  # type: ignore[misc]
    assert not hasattr(obj, "__dict__")


# --- layout and bookkeeping ------------------------------------------------------


def test_counts_per_role(generated: Sample) -> None:
    for role, count in ROLE_COUNTS.items():
        assert len(generated.by_role(role)) == count, role
    assert len(generated.objects) == sum(ROLE_COUNTS.values())
    assert len(generated.structure_sets) == 2
    assert len(generated.plans) == 2
    assert generated.by_role("no such role") == ()
    assert generated.paths == tuple(obj.path for obj in generated.objects)
    assert len(set(generated.paths)) == len(generated.paths)


def test_files_are_laid_out_like_an_export(generated: Sample) -> None:
    written = sorted(p for p in generated.root.rglob("*") if p.is_file())
    assert written == sorted(generated.paths), "no stray (temporary) files"
    pattern = re.compile(r"study[12]/(CT|RTSTRUCT|RTPLAN|RTDOSE|SEG|KO)_\d+/\d{4}\.dcm")
    for obj in generated.objects:
        relative = obj.path.relative_to(generated.root).as_posix()
        assert pattern.fullmatch(relative), relative
        assert obj.path.parent.name.startswith(obj.modality + "_")
    expected = {
        "ct": "study1/CT_1",
        "structure_set": "study1/RTSTRUCT_2",
        "seg": "study1/SEG_6",
        "kos": "study1/KO_7",
        "dose": "study1/RTDOSE_5",
        "second_study_ct": "study2/CT_1",
        "second_study_structure_set": "study2/RTSTRUCT_2",
    }
    for role, folder in expected.items():
        for obj in generated.by_role(role):
            assert obj.path.parent == generated.root / folder
    assert [p.parent.name for p in (generated.plans[0].path, generated.plans[1].path)] == [
        "RTPLAN_3",
        "RTPLAN_4",
    ]


def test_sample_objects_describe_their_files(generated: Sample) -> None:
    for obj in generated.objects:
        ds = pydicom.dcmread(obj.path, stop_before_pixels=True)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID == obj.sop_class
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == obj.sop_instance
        assert (ds.StudyInstanceUID, ds.SeriesInstanceUID) == (obj.study, obj.series)
        assert ds.Modality == obj.modality
        assert ds.PatientID == generated.patient_id == f"DREF-{SEED}"
        assert ds.PatientName == generated.patient_name == f"DICOMREF^SAMPLE{SEED}"
        assert ds.SpecificCharacterSet == "ISO_IR 100"
        assert ds.PatientBirthDate and ds.PatientSex in ("M", "F")
    assert len({obj.sop_instance for obj in generated.objects}) == len(generated.objects)


def test_sop_classes_per_role(generated: Sample) -> None:
    classes = {
        "ct": CTImageStorage,
        "second_study_ct": CTImageStorage,
        "structure_set": RTStructureSetStorage,
        "second_study_structure_set": RTStructureSetStorage,
        "plan": RTPlanStorage,
        "dose": RTDoseStorage,
        "seg": SegmentationStorage,
        "kos": KeyObjectSelectionDocumentStorage,
    }
    for obj in generated.objects:
        assert obj.sop_class == classes[obj.role]


def test_series_attributes_agree_within_each_series(generated: Sample) -> None:
    seen: dict[str, tuple[object, ...]] = {}
    for obj in generated.objects:
        ds = pydicom.dcmread(obj.path, stop_before_pixels=True)
        series = (ds.SeriesNumber, ds.SeriesDate, ds.SeriesTime, ds.Modality, ds.StudyInstanceUID)
        assert seen.setdefault(obj.series, series) == series


# --- determinism -----------------------------------------------------------------


def _contents(generated: Sample) -> dict[str, bytes]:
    return {
        obj.path.relative_to(generated.root).as_posix(): obj.path.read_bytes()
        for obj in generated.objects
    }


def test_same_seed_gives_identical_bytes(generated: Sample, tmp_path: Path) -> None:
    again = _generate(tmp_path / "again")
    assert _contents(again) == _contents(generated)
    assert [dataclasses.replace(o, path=Path()) for o in again.objects] == [
        dataclasses.replace(o, path=Path()) for o in generated.objects
    ]


def test_another_seed_gives_another_patient(generated: Sample, tmp_path: Path) -> None:
    other = _generate(tmp_path / "other", seed=SEED + 1)
    assert other.patient_id != generated.patient_id
    assert other.patient_name != generated.patient_name
    assert not {o.sop_instance for o in other.objects} & {o.sop_instance for o in generated.objects}
    assert not set(other.study_uids) & set(generated.study_uids)
    first, second = read(generated.ct[0]), read(other.ct[0])
    assert first.StudyDate != second.StudyDate or first.StudyTime != second.StudyTime


# --- CT geometry -----------------------------------------------------------------


def test_ct_geometry(generated: Sample) -> None:
    slices = [read(obj) for obj in generated.ct]
    frames = {ds.FrameOfReferenceUID for ds in slices}
    assert len(frames) == 1
    zs = [z_of(ds) for ds in slices]
    for previous, current in itertools.pairwise(zs):
        assert current - previous == pytest.approx(SLICE_THICKNESS)
    for number, ds in enumerate(slices, start=1):
        assert ds.InstanceNumber == number
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in ds.PixelSpacing] == [PIXEL_SPACING] * 2
        assert float(ds.SliceThickness) == SLICE_THICKNESS
        assert float(ds.SliceLocation) == z_of(ds)
        x, y = (float(v) for v in ds.ImagePositionPatient[:2])
        assert x == pytest.approx(-(COLUMNS - 1) / 2 * PIXEL_SPACING)
        assert y == pytest.approx(-(ROWS - 1) / 2 * PIXEL_SPACING)
        assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.SamplesPerPixel) == (ROWS, COLUMNS, 16, 1)
        assert len(ds.PixelData) == ROWS * COLUMNS * 2
        assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)


def test_ct_pixels_show_the_phantom(generated: Sample) -> None:
    ds = read(generated.ct[0])
    intercept = float(ds.RescaleIntercept)

    def hu(row: int, column: int) -> float:
        offset = 2 * (row * ds.Columns + column)
        return int.from_bytes(ds.PixelData[offset : offset + 2], "little") + intercept

    assert hu(0, 0) == pytest.approx(-1000)
    assert hu(ds.Rows // 2, ds.Columns // 2) == pytest.approx(0)


def test_encoder_output_equals_pydicom_encoding(generated: Sample) -> None:
    """The CT fast path writes exactly what pydicom would write for the same dataset."""
    for obj in (generated.ct[0], generated.ct[-1], generated.by_role("second_study_ct")[1]):
        raw = obj.path.read_bytes()
        buffer = io.BytesIO()
        dcmwrite(buffer, pydicom.dcmread(obj.path), enforce_file_format=True)
        assert buffer.getvalue() == raw


# --- references ------------------------------------------------------------------


def _check_structure_set(structure_set: SampleObject, ct: tuple[SampleObject, ...]) -> Dataset:
    ds = read(structure_set)
    slice_z = {obj.sop_instance: z_of(read(obj)) for obj in ct}
    frame_of_reference = read(ct[0]).FrameOfReferenceUID

    (frame,) = ds.ReferencedFrameOfReferenceSequence
    assert frame.FrameOfReferenceUID == frame_of_reference == ds.FrameOfReferenceUID
    (study,) = frame.RTReferencedStudySequence
    assert study.ReferencedSOPClassUID == "1.2.840.10008.3.1.2.3.1"
    assert study.ReferencedSOPInstanceUID == ct[0].study
    (series,) = study.RTReferencedSeriesSequence
    assert series.SeriesInstanceUID == ct[0].series
    assert [ref(item) for item in series.ContourImageSequence] == [key(obj) for obj in ct]

    numbers = [roi.ROINumber for roi in ds.StructureSetROISequence]
    assert [c.ReferencedROINumber for c in ds.ROIContourSequence] == numbers
    assert [o.ReferencedROINumber for o in ds.RTROIObservationsSequence] == numbers
    for roi in ds.StructureSetROISequence:
        assert roi.ReferencedFrameOfReferenceUID == frame_of_reference
    for roi_contour in ds.ROIContourSequence:
        assert len(roi_contour.ContourSequence) > 0
        for contour in roi_contour.ContourSequence:
            assert contour.ContourGeometricType == "CLOSED_PLANAR"
            data = [float(v) for v in contour.ContourData]
            assert len(data) == 3 * contour.NumberOfContourPoints
            zs = set(data[2::3])
            assert len(zs) == 1
            (image,) = contour.ContourImageSequence
            assert image.ReferencedSOPClassUID == CTImageStorage
            assert slice_z[image.ReferencedSOPInstanceUID] == zs.pop()
    return ds


def test_structure_sets_contour_their_ct_slices(generated: Sample) -> None:
    names = []
    for structure_set in generated.structure_sets:
        ds = _check_structure_set(structure_set, generated.ct)
        names.append([roi.ROIName for roi in ds.StructureSetROISequence])
        counts = {
            roi.ROIName: len(contours.ContourSequence)
            for roi, contours in zip(ds.StructureSetROISequence, ds.ROIContourSequence, strict=True)
        }
        assert counts["BODY"] == SLICES
        assert 0 < min(counts.values()) < SLICES, "some ROIs lie on a few slices only"
    assert names == [["BODY", "PTV", "SPINALCORD"], ["BODY", "PTV_BOOST", "HEART"]]
    assert [read(s).InstanceNumber for s in generated.structure_sets] == [1, 2]
    assert len({s.series for s in generated.structure_sets}) == 1


def test_plan_i_references_structure_set_i(generated: Sample) -> None:
    frame_of_reference = read(generated.ct[0]).FrameOfReferenceUID
    for plan, structure_set in zip(generated.plans, generated.structure_sets, strict=True):
        ds = read(plan)
        (referenced,) = ds.ReferencedStructureSetSequence
        assert ref(referenced) == key(structure_set)
        assert ds.FrameOfReferenceUID == frame_of_reference
        rois = {roi.ROINumber: roi.ROIName for roi in read(structure_set).StructureSetROISequence}
        (dose_reference,) = ds.DoseReferenceSequence
        assert rois[dose_reference.ReferencedROINumber].startswith("PTV")
        (group,) = ds.FractionGroupSequence
        assert group.NumberOfBeams == len(ds.BeamSequence) == len(group.ReferencedBeamSequence)
        for beam in ds.BeamSequence:
            assert beam.NumberOfControlPoints == len(beam.ControlPointSequence) == 2
    assert generated.plans[0].series != generated.plans[1].series


def test_dose_references_plan_0_and_structure_set_0(generated: Sample) -> None:
    ds = read(generated.dose)
    (plan,) = ds.ReferencedRTPlanSequence
    assert ref(plan) == key(generated.plans[0])
    (structure_set,) = ds.ReferencedStructureSetSequence
    assert ref(structure_set) == key(generated.structure_sets[0])
    assert ds.FrameOfReferenceUID == read(generated.ct[0]).FrameOfReferenceUID
    frames = int(ds.NumberOfFrames)
    assert frames > 1
    assert len(ds.GridFrameOffsetVector) == frames
    assert float(ds.GridFrameOffsetVector[0]) == 0
    assert len(ds.PixelData) == ds.Rows * ds.Columns * frames * ds.BitsAllocated // 8
    (dvh,) = ds.DVHSequence
    (roi,) = dvh.DVHReferencedROISequence
    structure_set_0 = read(generated.structure_sets[0])
    rois = {r.ROINumber: r.ROIName for r in structure_set_0.StructureSetROISequence}
    assert rois[roi.ReferencedROINumber] == "PTV"
    assert len(dvh.DVHData) == 2 * dvh.DVHNumberOfBins
    maximum = max(
        ds.PixelData[i] | ds.PixelData[i + 1] << 8 for i in range(0, len(ds.PixelData), 2)
    )
    assert maximum * float(ds.DoseGridScaling) == pytest.approx(float(dvh.DVHMaximumDose), rel=1e-3)


def test_seg_references_ct_slices(generated: Sample) -> None:
    ds = read(generated.seg)
    ct = {obj.sop_instance: read(obj) for obj in generated.ct}
    (series,) = ds.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == generated.ct[0].series
    referenced = [ref(item) for item in series.ReferencedInstanceSequence]
    assert referenced and all(sop in ct and cls == CTImageStorage for cls, sop in referenced)
    assert ds.FrameOfReferenceUID == read(generated.ct[0]).FrameOfReferenceUID
    frames = ds.PerFrameFunctionalGroupsSequence
    assert len(frames) == int(ds.NumberOfFrames) > 0
    segment_numbers = {segment.SegmentNumber for segment in ds.SegmentSequence}
    assert segment_numbers == {1, 2}
    for frame in frames:
        (derivation,) = frame.DerivationImageSequence
        (source,) = derivation.SourceImageSequence
        assert ref(source) in referenced
        image = ct[source.ReferencedSOPInstanceUID]
        (plane,) = frame.PlanePositionSequence
        assert [float(v) for v in plane.ImagePositionPatient] == [
            float(v) for v in image.ImagePositionPatient
        ]
        (segment,) = frame.SegmentIdentificationSequence
        assert segment.ReferencedSegmentNumber in segment_numbers
        assert (
            frame.FrameContentSequence[0].DimensionIndexValues[0] == segment.ReferencedSegmentNumber
        )
    bits = ds.Rows * ds.Columns * len(frames)
    assert len(ds.PixelData) == (bits + 7) // 8 + ((bits + 7) // 8) % 2
    assert any(ds.PixelData), "segments are not empty"


def test_kos_selects_two_ct_slices_and_plan_0(generated: Sample) -> None:
    ds = read(generated.kos)
    assert ds.ConceptNameCodeSequence[0].CodeValue == "113000"
    assert ds.ConceptNameCodeSequence[0].CodingSchemeDesignator == "DCM"
    selected = [
        ref(item.ReferencedSOPSequence[0])
        for item in ds.ContentSequence
        if item.ValueType in ("IMAGE", "COMPOSITE")
    ]
    ct = {key(obj) for obj in generated.ct}
    assert len([s for s in selected if s in ct]) == 2
    assert len(set(selected)) == 3
    assert key(generated.plans[0]) in selected
    evidence = {
        (study.StudyInstanceUID, series.SeriesInstanceUID, ref(item))
        for study in ds.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    by_key = {key(obj): obj for obj in generated.objects}
    assert evidence == {(by_key[s].study, by_key[s].series, s) for s in selected}


def test_second_study_is_separate(generated: Sample) -> None:
    first, second = generated.study_uids
    ct2 = generated.by_role("second_study_ct")
    (structure_set,) = generated.by_role("second_study_structure_set")
    assert {obj.study for obj in (*ct2, structure_set)} == {second}
    _check_structure_set(structure_set, ct2)
    a, b = read(generated.ct[0]), read(ct2[0])
    assert b.StudyDate > a.StudyDate
    assert a.FrameOfReferenceUID != b.FrameOfReferenceUID
    assert a.PatientID == b.PatientID
    study_2_uids = {second} | {obj.sop_instance for obj in (*ct2, structure_set)}
    study_2_uids |= {obj.series for obj in (*ct2, structure_set)} | {b.FrameOfReferenceUID}
    for obj in generated.objects:
        if obj.study == first:
            assert not ui_values(read(obj)) & study_2_uids, obj.role


# --- arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"seed": -1},
        {"slices": 0},
        {"rows": 8},
        {"columns": 5000},
        {"pixel_spacing": 0.0},
        {"slice_thickness": math.nan},
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, arguments: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        generate_sample(tmp_path / "out", **arguments)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_refuses_to_write_into_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        generate_sample(tmp_path)
    with pytest.raises(UsageError, match="not a folder"):
        generate_sample(tmp_path / "keep.txt")


def test_one_slice_sample_is_complete(tmp_path: Path) -> None:
    small = generate_sample(tmp_path / "one", slices=1, rows=16, columns=16)
    assert len(small.ct) == 1
    assert len(small.by_role("second_study_ct")) == 4
    _check_structure_set(small.structure_sets[0], small.ct)


# --- validity with external tools -------------------------------------------------


def _tool(name: str) -> str:
    # DCMTK's dcmdump is checked to be DCMTK's; dciodvfy (dicom3tools) has no namesake.
    path = dcmtk_program(name) if name.startswith("dcm") else shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install dicom3tools dcmtk)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run the validators")
        pytest.skip(message)
    return path


def test_every_object_kind_passes_dciodvfy(generated: Sample) -> None:
    dciodvfy = _tool("dciodvfy")
    kinds = [objects[0] for objects in (generated.by_role(role) for role in ROLE_COUNTS)]
    kinds += [generated.ct[-1], generated.structure_sets[1], generated.plans[1]]
    for obj in kinds:
        result = subprocess.run(
            [dciodvfy, str(obj.path)], capture_output=True, text=True, check=False
        )
        report = result.stdout + result.stderr
        findings = [line for line in report.splitlines() if line.startswith(("Error", "Abort"))]
        assert result.returncode >= 0, f"dciodvfy crashed on {obj.role}:\n{report}"
        assert not findings, f"{obj.role} {obj.path}:\n{report}"


def test_dcmtk_reads_every_file(generated: Sample) -> None:
    dcmdump = _tool("dcmdump")
    for obj in generated.objects:
        result = subprocess.run(
            [dcmdump, "-q", str(obj.path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{obj.path}: {result.stderr}"


def test_template_encoder_rejects_unknown_or_missing_variables(generated: Sample) -> None:
    from dicomref.sample._template import TemplateEncoder

    template = pydicom.dcmread(generated.ct[0].path)
    with pytest.raises(ValueError, match="NoSuchKeyword"):
        TemplateEncoder(template, ["InstanceNumber", "NoSuchKeyword"])
    encoder = TemplateEncoder(template, ["InstanceNumber"])
    with pytest.raises(KeyError):
        encoder.encode({})
    assert encoder.encode({"InstanceNumber": "1"}) == generated.ct[0].path.read_bytes()
