"""The consistency checks, each provoked by a real change to a generated patient."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pydicom
import pytest

from backends import BOTH_BACKENDS
from dicomref.catalog import Catalog
from dicomref.check import CheckOptions, Severity, run_checks
from dicomref.errors import UsageError
from dicomref.model import Kind
from dicomref.sample import Sample

pytestmark = BOTH_BACKENDS


def codes(catalog: Catalog, **kw: object) -> list[str]:
    return [f.code for f in run_checks(catalog, **kw)]  # type: ignore[arg-type]


def test_clean_sample_has_no_errors(scanned: Callable[[], Catalog]) -> None:
    with scanned() as catalog:
        findings = run_checks(catalog)
    assert [f for f in findings if f.severity is Severity.ERROR] == []


def test_missing_slice_is_a_dangling_contour_image(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    gone = sample.ct[3]
    gone.path.unlink()
    with scanned() as catalog:
        findings = run_checks(catalog, only=["DANGLING_REFERENCE"])
    about_gone = [f for f in findings if f.target == gone.sop_instance]
    assert about_gone, findings
    assert {f.severity for f in about_gone} == {Severity.ERROR}
    assert any(f.source == sample.structure_sets[0].sop_instance for f in about_gone)
    assert all(gone.sop_instance in f.message for f in about_gone)
    assert any("contour image" in f.message for f in about_gone)


def test_duplicates_say_whether_content_is_the_same(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    plan = sample.plans[0]
    shutil.copy(plan.path, plan.path.with_name("copy.dcm"))
    ds = pydicom.dcmread(sample.plans[1].path)
    ds.SOPInstanceUID = sample.dose.sop_instance  # a different object under the dose's UID
    ds.save_as(sample.plans[1].path.with_name("clash.dcm"))
    with scanned() as catalog:
        findings = run_checks(catalog, only=["DUPLICATE_SOP_INSTANCE_UID"])
    by_uid = {f.source: f for f in findings}
    assert by_uid[plan.sop_instance].severity is Severity.WARNING
    assert "identical" in by_uid[plan.sop_instance].message
    assert by_uid[sample.dose.sop_instance].severity is Severity.ERROR
    assert "DIFFERENT" in by_uid[sample.dose.sop_instance].message


def test_contour_moved_off_its_slice(sample: Sample, scanned: Callable[[], Catalog]) -> None:
    ss = sample.structure_sets[0]
    ds = pydicom.dcmread(ss.path)
    contour = ds.ROIContourSequence[0].ContourSequence[0]
    points = [float(v) for v in contour.ContourData]
    points[2::3] = [z + 1.0 for z in points[2::3]]
    contour.ContourData = points
    ds.save_as(ss.path)
    with scanned() as catalog:
        findings = run_checks(catalog, CheckOptions(contour_tolerance_mm=0.5))
        relaxed = run_checks(
            catalog, CheckOptions(contour_tolerance_mm=1.5), only=["CONTOUR_OFF_SLICE"]
        )
    off = [f for f in findings if f.code == "CONTOUR_OFF_SLICE"]
    assert len(off) == 1
    assert off[0].source == ss.sop_instance
    assert off[0].path == "ROIContourSequence[0].ContourSequence[0].ContourImageSequence[0]"
    assert "1.000 mm" in off[0].message
    assert relaxed == []


def test_contour_without_image_reference_is_matched_by_geometry(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    ss = sample.structure_sets[1]
    ds = pydicom.dcmread(ss.path)
    on_slice = ds.ROIContourSequence[0].ContourSequence[0]
    del on_slice.ContourImageSequence
    off_slice = ds.ROIContourSequence[1].ContourSequence[0]
    del off_slice.ContourImageSequence
    points = [float(v) for v in off_slice.ContourData]
    points[2::3] = [z + 1.2 for z in points[2::3]]  # between slices 2.5 mm apart
    off_slice.ContourData = points
    ds.save_as(ss.path)
    with scanned() as catalog:
        findings = run_checks(catalog, only=["CONTOUR_OFF_SLICE"])
    assert [f.path for f in findings] == ["ROIContourSequence[1].ContourSequence[0]"]
    assert "names no slice" in findings[0].message


def test_dose_in_another_frame_of_reference(sample: Sample, scanned: Callable[[], Catalog]) -> None:
    ds = pydicom.dcmread(sample.dose.path)
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.10.543.999"
    ds.save_as(sample.dose.path)
    with scanned() as catalog:
        findings = run_checks(catalog, only=["FRAME_OF_REFERENCE_MISMATCH"])
    assert {f.source for f in findings} == {sample.dose.sop_instance}
    assert {f.target for f in findings} == {
        sample.plans[0].sop_instance,
        sample.structure_sets[0].sop_instance,
    }
    assert all(f.severity is Severity.ERROR for f in findings)


def test_unknown_check_is_a_usage_error(scanned: Callable[[], Catalog]) -> None:
    with scanned() as catalog, pytest.raises(UsageError, match="NO_SUCH_CHECK"):
        run_checks(catalog, only=["NO_SUCH_CHECK"])


def test_kinds_in_dangling_findings_are_named(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    sample.structure_sets[0].path.unlink()
    with scanned() as catalog:
        findings = run_checks(catalog, only=["DANGLING_REFERENCE"])
    plan_findings = [f for f in findings if f.source == sample.plans[0].sop_instance]
    assert len(plan_findings) == 1
    assert plan_findings[0].path.startswith("ReferencedStructureSetSequence[0]")  # type: ignore[union-attr]
    assert Kind.STRUCTURE_SET.value.replace("_", " ") in plan_findings[0].message


def test_varian_study_reference_is_a_warning_not_a_dangling_structure_set(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    """ARIA and Brainlab: the study item claims RT Structure Set Storage, holds the study."""
    ss = sample.structure_sets[0]
    ds = pydicom.dcmread(ss.path)
    study_item = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    study_item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    series_item = study_item.RTReferencedSeriesSequence[0]
    series_item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # a second slip, same file
    series_item.ReferencedSOPInstanceUID = series_item.SeriesInstanceUID
    ds.save_as(ss.path)
    study = study_item.ReferencedSOPInstanceUID
    with scanned() as catalog:
        findings = run_checks(catalog)
        [ref] = [r for r in catalog.references_from(ss.sop_instance) if r.target == study]
        referrers = catalog.referrers(study)
    assert (ref.kind, ref.instance) == (Kind.STUDY, False)
    assert ss.sop_instance in {r.source for r in referrers}
    assert not [f for f in findings if f.code == "DANGLING_REFERENCE" and f.target == study]
    assert [f for f in findings if f.severity is Severity.ERROR] == []
    [warning] = [f for f in findings if f.code == "NONCONFORMING_REFERENCE"]
    assert (warning.severity, warning.source, warning.target) == (
        Severity.WARNING,
        ss.sop_instance,
        study,
    )
    assert "RT Structure Set Storage" in warning.message
    assert "Varian/Brainlab" in warning.message and "1 more" in warning.message
    assert f"read as the study {study}" in warning.message


def test_conforming_sample_has_no_nonconforming_reference(scanned: Callable[[], Catalog]) -> None:
    with scanned() as catalog:
        assert run_checks(catalog, only=["NONCONFORMING_REFERENCE"]) == []
