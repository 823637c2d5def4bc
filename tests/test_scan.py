"""Catalog.scan with a fake file reader: what is found, skipped, re-read, removed, failed."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from dicomref.catalog import Catalog, ScanProgress, _reading
from dicomref.errors import UsageError
from dicomref.model import ObjectSummary
from test_catalog_support import (
    BUG,
    DAMAGED,
    NOT_INSTANCE,
    db_url,
    fake_reader,
    make_patient,
    summary,
    uid,
    write_fake,
)

__all__ = ["db_url", "fake_reader"]

pytestmark = pytest.mark.usefixtures("fake_reader")


def _bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _state(cat: Catalog) -> tuple[set[tuple[str, str]], int, dict[str, int]]:
    """What a catalog holds, to compare two catalogs."""
    held = {(s.path, s.sop_instance) for s in cat.instances()}
    return held, len(cat.dangling()), cat.counts()


def test_scan_a_folder(db_url: str, tmp_path: Path) -> None:
    objects = make_patient(tmp_path / "p", slices=5)
    (tmp_path / "p/README.txt").write_text("not dicom")
    (tmp_path / "p/DICOMDIR").write_text(NOT_INSTANCE)
    (tmp_path / "p/other.bin").write_text(NOT_INSTANCE)
    (tmp_path / "p/bad.dcm").write_text(DAMAGED)
    with Catalog(db_url) as cat:
        report = cat.scan([tmp_path / "p"])
        assert (report.files, report.indexed, report.not_instances, report.skipped) == (10, 6, 2, 3)
        assert report.not_dicom == (str(tmp_path / "p/README.txt"),)
        assert [f.path for f in report.failed] == [str(tmp_path / "p/bad.dcm")]
        assert "bad.dcm: the file is damaged" in report.failed[0].error
        assert report.references == 6 and report.removed == 0 and report.duplicates == 0
        rs = objects[-1]
        found = cat.get(rs.sop_instance)
        assert (found.path, found.references) == (rs.path, rs.references)
        assert found.size == Path(rs.path).stat().st_size
        assert cat.counts()["files"] == 6


def test_rescan_reads_only_what_changed_and_drops_what_is_gone(db_url: str, tmp_path: Path) -> None:
    objects = make_patient(tmp_path / "p", slices=5)
    with Catalog(db_url) as cat:
        cat.scan([tmp_path / "p"])
        again = cat.scan([tmp_path / "p"])
        assert (again.files, again.indexed, again.unchanged, again.references) == (6, 0, 6, 0)

        rs_path = Path(objects[-1].path)
        _bump_mtime(rs_path)
        Path(objects[0].path).unlink()
        changed = cat.scan([tmp_path / "p"])
        assert (changed.indexed, changed.unchanged, changed.removed) == (1, 4, 1)
        assert changed.references == 6  # the structure set's, replaced, not doubled
        assert cat.counts()["references"] == 6
        assert cat.locate(objects[0].sop_instance) == []
        assert [r.target for r in cat.dangling()] == [objects[0].sop_instance]


def test_a_file_that_goes_bad_loses_its_rows(db_url: str, tmp_path: Path) -> None:
    objects = make_patient(tmp_path / "p", slices=2)
    with Catalog(db_url) as cat:
        cat.scan([tmp_path / "p"])
        Path(objects[0].path).write_text(DAMAGED)
        Path(objects[1].path).write_text("not DICOM any more")
        report = cat.scan([tmp_path / "p"])
        assert [f.path for f in report.failed] == [objects[0].path]
        assert report.not_dicom == (objects[1].path,)
        assert cat.locate(objects[0].sop_instance) == []
        assert cat.locate(objects[1].sop_instance) == []
        assert cat.counts()["files"] == 1


def test_files_and_series_moved_away_leave_no_orphans(db_url: str, tmp_path: Path) -> None:
    make_patient(tmp_path / "p", slices=3)
    with Catalog(db_url) as cat:
        cat.scan([tmp_path])
        for path in (tmp_path / "p").rglob("*.dcm"):
            path.unlink()
        report = cat.scan([tmp_path])
        assert report.removed == 4
        assert cat.counts() == dict.fromkeys(
            ("patients", "studies", "series", "instances", "files", "references"), 0
        )


def test_scanning_a_subfolder_removes_nothing_outside_it(db_url: str, tmp_path: Path) -> None:
    make_patient(tmp_path / "a", slices=2, series_no=1)
    make_patient(tmp_path / "ab", slices=2, series_no=2)  # shares the prefix "a"
    with Catalog(db_url) as cat:
        cat.scan([tmp_path])
        report = cat.scan([tmp_path / "a"])
        assert (report.files, report.unchanged, report.removed) == (3, 3, 0)
        assert cat.counts()["files"] == 6


def test_folder_names_with_like_wildcards_match_only_themselves(
    db_url: str, tmp_path: Path
) -> None:
    make_patient(tmp_path / "a_b%", slices=1, series_no=1)
    make_patient(tmp_path / "aXbY", slices=1, series_no=2)
    with Catalog(db_url) as cat:
        cat.scan([tmp_path])
        report = cat.scan([tmp_path / "a_b%"])
        assert (report.files, report.unchanged, report.removed) == (2, 2, 0)
        assert cat.counts()["files"] == 4


def test_explicit_files_and_overlapping_paths_count_once(db_url: str, tmp_path: Path) -> None:
    objects = make_patient(tmp_path / "p", slices=2)
    with Catalog(db_url) as cat:
        report = cat.scan([objects[0].path, tmp_path / "p", tmp_path / "p/ct"])
        assert (report.files, report.indexed) == (3, 3)


def test_a_dicomdir_given_explicitly_indexes_the_files_it_lists(
    db_url: str, tmp_path: Path
) -> None:
    objects = make_patient(tmp_path / "media", slices=3)
    (tmp_path / "media/DICOMDIR").write_text("DICOMDIR\nct/00001.dcm\nct/00002.dcm\nct/gone.dcm\n")
    with Catalog(db_url) as cat:
        report = cat.scan([tmp_path / "media/DICOMDIR"])
        assert (report.files, report.indexed, report.not_instances) == (4, 2, 1)
        assert [f.path for f in report.failed] == [str(tmp_path / "media/ct/gone.dcm")]
        assert {s.sop_instance for s in cat.instances()} == {o.sop_instance for o in objects[:2]}


def test_a_missing_path_is_a_usage_error_before_anything_is_done(
    db_url: str, tmp_path: Path
) -> None:
    make_patient(tmp_path / "p", slices=1)
    with Catalog(db_url) as cat:
        with pytest.raises(UsageError, match="no/such/place"):
            cat.scan([tmp_path / "p", tmp_path / "no/such/place"])
        assert cat.counts()["files"] == 0
        with pytest.raises(UsageError, match="workers"):
            cat.scan([tmp_path / "p"], workers=0)


def test_symlink_loops_are_walked_once(db_url: str, tmp_path: Path) -> None:
    make_patient(tmp_path / "p", slices=2)
    (tmp_path / "p/ct/loop").symlink_to(tmp_path / "p")
    (tmp_path / "p/broken").symlink_to(tmp_path / "nowhere")
    with Catalog(db_url) as cat:
        report = cat.scan([tmp_path / "p"])
        assert (report.files, report.indexed, report.failed) == (3, 3, ())


def test_a_folder_that_cannot_be_listed_is_reported_and_its_rows_kept(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_patient(tmp_path / "p", slices=2)
    with Catalog(db_url) as cat:
        cat.scan([tmp_path / "p"])
        real_scandir = os.scandir
        locked = str(tmp_path / "p/ct")

        def scandir(path: str) -> object:
            if path == locked:
                raise PermissionError(13, "Permission denied", path)
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
        report = cat.scan([tmp_path / "p"])
        assert [f.path for f in report.failed] == [locked]
        assert "Permission denied" in report.failed[0].error
        assert (report.files, report.removed) == (1, 0)
        assert cat.counts()["files"] == 3


def test_progress_is_reported(db_url: str, tmp_path: Path) -> None:
    make_patient(tmp_path / "p", slices=5)
    seen: list[ScanProgress] = []
    with Catalog(db_url) as cat:
        cat.scan([tmp_path / "p"], progress=seen.append)
    assert seen[0].total is None  # not known while walking
    assert seen[-1] == ScanProgress(6, 6, 6)
    assert all(a.files_done <= b.files_done for a, b in itertools.pairwise(seen))
    assert len(seen) < 10  # at most every 0.1 s, plus a few milestones


def test_a_reader_bug_stops_the_scan_and_keeps_what_was_written(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dicomref.catalog._writer.BATCH_FILES", 2)
    make_patient(tmp_path / "p", slices=5)
    (tmp_path / "p/zz").mkdir()
    (tmp_path / "p/zz/bug.dcm").write_text(BUG)  # met last: folders are walked after files
    with Catalog(db_url) as cat:
        with pytest.raises(RuntimeError, match="a bug in the reader"):
            cat.scan([tmp_path / "p"])
        assert cat.counts()["files"] == 6  # written in the batches before the bug


# -- reading in worker processes -------------------------------------------------------


def _many(root: Path, n: int) -> list[ObjectSummary]:
    out = []
    for i in range(n):
        s = summary(root / f"{i // 100:02d}/{i:05d}.dcm", uid(3, i), number=i)
        write_fake(Path(s.path), s)
        out.append(s)
    return out


def test_a_large_scan_reads_in_worker_processes_and_gives_the_same_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_reading, "SMALL_SCAN", 50)
    monkeypatch.setattr(_reading, "CHUNK", 8)
    _many(tmp_path / "data", 200)
    make_patient(tmp_path / "data/patient", slices=20)
    (tmp_path / "data/bad.dcm").write_text(DAMAGED)
    (tmp_path / "data/notes.txt").write_text("junk")
    states = []
    for workers in (1, 2):
        with Catalog(f"sqlite:///{tmp_path / f'w{workers}.sqlite'}") as cat:
            report = cat.scan([tmp_path / "data"], workers=workers)
            assert (report.files, report.indexed, len(report.failed)) == (223, 221, 1)
            assert report.not_dicom == (str(tmp_path / "data/notes.txt"),)
            states.append(_state(cat))
    assert states[0] == states[1]


def test_a_reader_bug_in_a_worker_stops_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_reading, "SMALL_SCAN", 20)
    _many(tmp_path / "data", 60)
    (tmp_path / "data/00/00030.dcm").write_text(BUG)
    with (
        Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}") as cat,
        pytest.raises(RuntimeError, match="a bug in the reader"),
    ):
        cat.scan([tmp_path / "data"], workers=2)
