"""Catalog.scan over real DICOM files: a generated patient, pydicom's test files, a DICOMDIR."""

from __future__ import annotations

import gzip
import os
import shutil
import zipfile
from pathlib import Path

import pydicom.data
import pytest

from dicomref.catalog import Catalog
from dicomref.model import Kind
from dicomref.sample import Sample, generate_sample
from test_catalog_support import db_url

__all__ = ["db_url"]


def _testdata(name: str) -> Path:
    return Path(pydicom.data.get_testdata_file(name))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return generate_sample(tmp_path_factory.mktemp("scan-real") / "patient", slices=12)


def test_a_generated_patient_is_indexed_with_its_references(db_url: str, patient: Sample) -> None:
    with Catalog(db_url) as cat:
        report = cat.scan([patient.root])
        assert (report.files, report.indexed, report.failed) == (len(patient.paths),) * 2 + ((),)
        assert report.duplicates == 0
        ss0, ss1 = (s.sop_instance for s in patient.structure_sets)
        plan0 = patient.plans[0].sop_instance
        dose = patient.dose.sop_instance
        assert {(r.source, r.kind) for r in cat.referrers(ss0)} >= {
            (plan0, Kind.STRUCTURE_SET),
            (dose, Kind.STRUCTURE_SET),
        }
        assert [r.target for r in cat.references_from(patient.plans[1].sop_instance)] == [ss1]
        assert plan0 in {r.target for r in cat.references_from(dose)}
        ct = patient.ct[3]
        assert {r.source for r in cat.referrers(ct.sop_instance)} >= {ss0, ss1}
        assert cat.dangling() == []
        assert cat.locate(ct.sop_instance)[0].path == str(ct.path)
        series = cat.series_instances(ct.series)
        assert [s.sop_instance for s in series] == [c.sop_instance for c in patient.ct]
        assert series[0].image_position is not None
        study = {s.uid: s for s in cat.study_series(patient.study_uids[0])}
        assert study[ct.series].count == len(patient.ct)
        assert cat.get(patient.structure_sets[0].sop_instance).references == tuple(
            cat.references_from(ss0)
        )
        counts = cat.counts()
        assert (counts["patients"], counts["studies"]) == (1, 2)
        assert counts["files"] == len(patient.paths)
        assert counts["references"] == report.references

        again = cat.scan([patient.root])
        assert (again.unchanged, again.indexed, again.references) == (len(patient.paths), 0, 0)


def test_pydicom_test_files_and_bad_files_mixed_in(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("rtplan.dcm", "rtstruct.dcm", "rtdose.dcm", "CT_small.dcm", "MR_small.dcm"):
        shutil.copy(_testdata(name), folder / name)
    (folder / "notes.txt").write_text("not DICOM at all")
    (folder / "truncated.dcm").write_bytes(_testdata("CT_small.dcm").read_bytes()[:400])
    shutil.copy(_testdata("rtplan.dcm"), folder / "rtplan-copy.dcm")
    with Catalog(db_url) as cat:
        report = cat.scan([folder])
        failed = {Path(f.path).name: f.error for f in report.failed}
        assert set(failed) == {"truncated.dcm"}
        assert all(str(folder) in message for message in failed.values())
        assert report.not_dicom == (str(folder / "notes.txt"),)
        assert (report.files, report.indexed, report.duplicates) == (8, 6, 1)
        [group] = cat.duplicates()
        assert group.same_content is True
        assert len(group.paths) == 2
        plan = cat.get(group.sop_uid)
        assert any(r.kind == Kind.STRUCTURE_SET for r in plan.references)
        # Earlier rows are kept and the bad files are tried again next time.
        again = cat.scan([folder])
        assert (again.unchanged, len(again.failed), len(again.not_dicom)) == (6, 1, 1)


def test_a_dicomdir_and_the_folder_it_sits_in(db_url: str, tmp_path: Path) -> None:
    media = tmp_path / "media"
    shutil.copytree(_testdata("DICOMDIR").parent, media)
    from dicomref.extraction import dicomdir_files

    listed = dicomdir_files(media / "DICOMDIR")
    with Catalog(db_url) as cat:
        report = cat.scan([media / "DICOMDIR"])
        assert report.indexed == len(listed) > 0
        assert (report.not_instances, report.failed) == (1, ())
        by_folder = cat.scan([media])
        assert by_folder.unchanged == len(listed)
        assert by_folder.not_instances >= 1  # the DICOMDIRs met in the folder
        assert (
            by_folder.indexed
            + by_folder.unchanged
            + by_folder.not_instances
            + len(by_folder.not_dicom)
            + len(by_folder.failed)
            == by_folder.files
        )


def _nrrd() -> bytes:
    header = (
        "NRRD0004\n# Complete NRRD file format specification at:\n"
        "# http://teem.sourceforge.net/nrrd/format.html\ntype: short\ndimension: 3\n"
        "space: left-posterior-superior\nsizes: 4 4 2\nencoding: raw\nendian: little\n\n"
    )
    return header.encode() + bytes(4 * 4 * 2 * 2)


def _headerless(data: bytes) -> bytes:
    """The dataset of a Part 10 file without its preamble and File Meta (as Monaco writes)."""
    meta_length = int.from_bytes(data[140:144], "little")  # (0002,0000) UL, right after DICM
    return data[144 + meta_length :]


def test_files_that_are_not_dicom_are_counted_not_failed(db_url: str, tmp_path: Path) -> None:
    cd = tmp_path / "patient-cd"
    (cd / "viewer").mkdir(parents=True)
    ct = _testdata("CT_small.dcm").read_bytes()
    shutil.copy(_testdata("CT_small.dcm"), cd / "IM0001")
    (cd / "IM0002").write_bytes(_headerless(_testdata("MR_small.dcm").read_bytes()))
    # Not DICOM at all: exit 0, listed apart.
    (cd / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge")
    (cd / "autorun.inf").write_text("[autorun]\r\nopen=viewer\\viewer.exe\r\nicon=cd.ico\r\n")
    shutil.copy("/bin/true", cd / "viewer/viewer.exe")  # a real ELF program
    with zipfile.ZipFile(cd / "images.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(cd / "IM0001", "IM0001.dcm")
    (cd / "ct.nrrd").write_bytes(_nrrd())
    (cd / "notes.gz").write_bytes(gzip.compress(b"follow-up in 6 weeks\n" * 50))
    (cd / "empty.txt").write_bytes(b"")
    # Two bytes that look like group 0008, then nothing that holds together as an element.
    (cd / "odd.bin").write_bytes(b"\x08\x00\x10\x00\xff\xff\xff\x7f" + bytes(200))
    # Claims to be DICOM but cannot be read: failures, exit 1.
    (cd / "cut.dcm").write_bytes(ct[:400])  # DICM at 128, cut inside the dataset
    (cd / "cut-headerless").write_bytes(_headerless(ct)[:300])  # a valid first element
    not_dicom = [
        "LICENSE", "autorun.inf", "ct.nrrd", "empty.txt", "images.zip", "notes.gz", "odd.bin",
        "viewer/viewer.exe",
    ]  # fmt: skip
    with Catalog(db_url) as cat:
        report = cat.scan([cd])
        assert report.not_dicom == tuple(str(cd / name) for name in not_dicom)
        failed = {Path(f.path).name: f.error for f in report.failed}
        assert set(failed) == {"cut.dcm", "cut-headerless"}, failed
        assert all(message.startswith(str(cd)) for message in failed.values())
        assert (report.files, report.indexed) == (12, 2)
        assert report.skipped == len(not_dicom)
        assert {s.path for s in cat.instances()} == {str(cd / "IM0001"), str(cd / "IM0002")}


def test_file_and_folder_names_that_are_not_utf8(db_url: str, tmp_path: Path) -> None:
    """Latin-1 names (not valid UTF-8) are indexed, kept exactly, and found again."""
    root = os.fsencode(tmp_path / "media")
    latin_folder = os.path.join(root, b"s\xe9rie")  # noqa: PTH118 (bytes: no pathlib)
    os.makedirs(latin_folder)  # noqa: PTH103
    ct = _testdata("CT_small.dcm").read_bytes()
    for name, data in {
        os.path.join(root, b"caf\xe9.dcm"): ct,  # noqa: PTH118
        os.path.join(latin_folder, b"IM1"): _testdata("MR_small.dcm").read_bytes(),  # noqa: PTH118
        os.path.join(latin_folder, b"notes \xff.txt"): b"not DICOM",  # noqa: PTH118
        os.path.join(latin_folder, b"cut \xe9.dcm"): ct[:1000],  # noqa: PTH118
        os.path.join(root, b"\xef\xb7\x90 U+FDD0.dcm"): _testdata("rtplan.dcm").read_bytes(),  # noqa: PTH118
    }.items():
        with open(name, "wb") as out:  # noqa: PTH123
            out.write(data)
    folder = os.fsdecode(root)
    names = {
        os.fsdecode(n): n for n in (b"caf\xe9.dcm", b"s\xe9rie/IM1", b"\xef\xb7\x90 U+FDD0.dcm")
    }
    with Catalog(db_url) as cat:
        report = cat.scan([folder])
        assert (report.files, report.indexed) == (5, 3), report
        assert report.not_dicom == (f"{folder}/s\udce9rie/notes \udcff.txt",)
        [failure] = report.failed
        assert failure.path == f"{folder}/s\udce9rie/cut \udce9.dcm"
        assert failure.error.startswith(f"{folder}/s\\xe9rie/cut \\xe9.dcm: ")
        held = {s.path for s in cat.instances()}
        assert held == {f"{folder}/{name}" for name in names}
        for path in held:  # the exact names: open() finds each file
            assert Path(path).read_bytes()[128:132] == b"DICM"
        again = cat.scan([folder])
        assert (again.unchanged, again.indexed, again.removed) == (3, 0, 0)
        # A scan of the Latin-1 folder alone finds its rows by their prefix.
        os.rename(os.path.join(latin_folder, b"IM1"), os.path.join(latin_folder, b"IM\xe92"))  # noqa: PTH104, PTH118
        inside = cat.scan([os.fsdecode(latin_folder)])
        assert (inside.indexed, inside.removed) == (1, 1)
        assert f"{folder}/s\udce9rie/IM\udce92" in {s.path for s in cat.instances()}
