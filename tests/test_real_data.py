"""Real files from treatment planning systems and scanners, downloaded from PyPI at test time
(tests/real_data.py; provenance and licences in tests/REAL_DATA.md).

Each test states what the files must give: the kinds and counts of their references, their
hints, no false DANGLING_REFERENCE, no crash, ``dicomref refs`` exiting 0.  The references
the files name but do not ship (97 of 98 CT slices, DRRs, Monaco structure sets) are really
absent: reporting them is right.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pydicom
import pytest
from typer.testing import CliRunner

import real_data
from dicomref.catalog import Catalog
from dicomref.check import run_checks
from dicomref.cli import app
from dicomref.extraction import _walker, read_object, references
from dicomref.extraction._layout import Layouts
from dicomref.model import Kind, ObjectSummary

RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
RTPLAN = "1.2.840.10008.5.1.4.1.1.481.5"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
STUDY_COMPONENT_MANAGEMENT = "1.2.840.10008.3.1.2.3.2"
VARIAN_ROOT = "1.2.246.352."


def _fetched(dist: real_data.Distribution) -> dict[str, Path]:
    """The distribution's files by file name; a skip (or, in CI, a failure) if unavailable."""
    try:
        found = real_data.files(dist)
    except real_data.Unavailable as exc:
        if real_data.in_ci():
            pytest.fail(f"real data {dist.key} could not be downloaded: {exc}")
        pytest.skip(f"real data {dist.key} not available: {exc}")
    return {path.name: path for path in found.values()}


@pytest.fixture(scope="module")
def eclipse() -> dict[str, Path]:
    return _fetched(real_data.DICOMPYLER_CORE)


@pytest.fixture(scope="module")
def monaco() -> dict[str, Path]:
    return _fetched(real_data.PYMEDPHYS)


def _read(path: Path) -> ObjectSummary:
    return read_object(path)


# -- Varian Eclipse: structure set, plan, dose on a CT ------------------------------------------


def test_eclipse_files_are_what_the_provenance_says(eclipse: dict[str, Path]) -> None:
    for name in ("rtss.dcm", "rtplan.dcm", "rtdose.dcm"):
        head = pydicom.dcmread(eclipse[name], stop_before_pixels=True)
        assert str(head.SOPInstanceUID).startswith(VARIAN_ROOT), name
        assert str(head.file_meta.ImplementationClassUID).startswith(VARIAN_ROOT), name


def test_eclipse_structure_set(eclipse: dict[str, Path]) -> None:
    ct = _read(eclipse["ct.0.dcm"])
    rtss = _read(eclipse["rtss.dcm"])
    assert (rtss.modality, rtss.frame_of_reference) == ("RTSTRUCT", ct.frame_of_reference)
    kinds = Counter((r.kind, r.instance) for r in rtss.references)
    assert kinds == {(Kind.CONTOUR_IMAGE, True): 98 + 441, (Kind.STUDY, False): 1}
    [study] = [r for r in rtss.references if r.kind is Kind.STUDY]
    assert (study.target, study.target_class) == (ct.study, STUDY_COMPONENT_MANAGEMENT)
    images = [r for r in rtss.references if r.kind is Kind.CONTOUR_IMAGE]
    assert len({r.target for r in images}) == 98
    assert ct.sop_instance in {r.target for r in images}
    assert {(r.study, r.series, r.target_class) for r in images} == {
        (ct.study, ct.series, CT_IMAGE)
    }
    assert {r.source for r in rtss.references} == {rtss.sop_instance}


def test_eclipse_plan_and_dose(eclipse: dict[str, Path]) -> None:
    rtss, plan, dose = (_read(eclipse[n]) for n in ("rtss.dcm", "rtplan.dcm", "rtdose.dcm"))
    assert [(r.kind, r.target) for r in plan.references if r.kind is Kind.STRUCTURE_SET] == [
        (Kind.STRUCTURE_SET, rtss.sop_instance)
    ]
    drrs = [r for r in plan.references if r.kind is Kind.RT_IMAGE]
    assert len(drrs) == 4 and len(plan.references) == 5
    assert all(r.instance and r.path.startswith("BeamSequence[") for r in drrs)
    assert [(r.kind, r.target) for r in dose.references] == [
        (Kind.PLAN, plan.sop_instance),
        (Kind.STRUCTURE_SET, rtss.sop_instance),
    ]
    assert (dose.modality, dose.number_of_frames) == ("RTDOSE", 98)  # a 10 MB grid, not read
    assert dose.frame_of_reference == rtss.frame_of_reference


# -- Elekta Monaco: plans without preamble or file meta -----------------------------------------


def test_monaco_plans_without_preamble_or_meta(monaco: dict[str, Path]) -> None:
    assert len(monaco) == 4
    for path in monaco.values():
        data = path.read_bytes()
        assert data[128:132] != b"DICM" and data[:2] == b"\x08\x00", path.name  # group 0008
        head = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        assert (head.Manufacturer, head.ManufacturerModelName) == ("CMS, Inc.", "Monaco")
        plan = _read(path)
        assert (plan.sop_class, plan.modality, plan.transfer_syntax) == (RTPLAN, "RTPLAN", None)
        [structure_set] = plan.references
        assert (structure_set.kind, structure_set.instance) == (Kind.STRUCTURE_SET, True)
        assert structure_set.target_class == RTSTRUCT
        assert structure_set.target.startswith(RTSTRUCT + ".")  # built on the class root


# -- every reader agrees, on every real file ---------------------------------------------------


def test_the_walker_the_layouts_and_pydicom_agree(
    eclipse: dict[str, Path], monaco: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_walker, "_LAYOUTS", Layouts())
    for path in [*eclipse.values(), *monaco.values()]:
        walked = list(_read(path).references)
        again = list(_read(path).references)  # the header's layout, where it was learnt
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        assert walked == again == references(dataset), path.name


# -- the catalog and check ------------------------------------------------------------------------


def test_scan_and_check_report_only_what_is_really_missing(
    eclipse: dict[str, Path], monaco: dict[str, Path], tmp_path: Path
) -> None:
    ct, rtss, plan = (_read(eclipse[n]) for n in ("ct.0.dcm", "rtss.dcm", "rtplan.dcm"))
    slices = {r.target for r in rtss.references if r.kind is Kind.CONTOUR_IMAGE}
    drrs = {r.target for r in plan.references if r.kind is Kind.RT_IMAGE}
    monaco_sets = {_read(p).references[0].target for p in monaco.values()}
    absent = (slices - {ct.sop_instance}) | drrs | monaco_sets
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        report = catalog.scan([eclipse["ct.0.dcm"].parent, next(iter(monaco.values())).parent])
        assert (report.indexed, report.failed) == (8, ())
        findings = run_checks(catalog)
        study = catalog.referrers(ct.study)
    assert {f.code for f in findings} == {"DANGLING_REFERENCE"}
    assert {f.target for f in findings} == absent
    assert len(findings) == len(absent) == 97 + 4 + 4
    assert [(r.source, r.kind, r.instance) for r in study] == [
        (rtss.sop_instance, Kind.STUDY, False)
    ]


def test_refs_command_reads_every_file(eclipse: dict[str, Path], monaco: dict[str, Path]) -> None:
    paths = [str(p) for p in [*eclipse.values(), *monaco.values()]]
    result = CliRunner().invoke(app, ["refs", "--json", *paths])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert {entry["file"] for entry in listed} == set(paths) - {str(eclipse["ct.0.dcm"])}
    assert len(listed) == 540 + 5 + 2 + 4


# -- the download helper itself ---------------------------------------------------------------


def _unreachable_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip pointed at a closed loopback port, with no configuration file or local wheels."""
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)


def test_a_cached_distribution_is_not_downloaded_again(
    monaco: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _unreachable_index(monkeypatch)
    assert {p.name: p for p in real_data.files(real_data.PYMEDPHYS).values()} == monaco


def test_a_failed_download_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _unreachable_index(monkeypatch)
    monkeypatch.setenv("DICOMREF_TEST_DATA", str(tmp_path / "empty-cache"))
    with pytest.raises(real_data.Unavailable, match=r"pymedphys==0\.41\.0 failed .* PyPI"):
        real_data.files(real_data.PYMEDPHYS)
    assert list((tmp_path / "empty-cache").iterdir()) == []  # nothing half-made left behind
