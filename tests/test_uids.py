"""UIDs that are not UIDs (a newline, ``../``, 200 characters) read from files: checked where
they enter, reported naming the file, and never stored or printed to break a line."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

import extraction_corpus as corpus
from dicomref.catalog import Catalog
from dicomref.errors import DicomReadError
from dicomref.extraction import read_object

NOT_UIDS = {
    "newline": "1.2.3\nINJECTED LINE",
    "path": "../../etc/passwd",
    "200 characters": "1." + "2" * 198,
    "letters": "1.2.840.abc",
    "escape": "1.2.3\x1b[31m",
}
IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def with_identity(
    path: Path, *, sop: str = corpus.SOP, study: str = corpus.STUDY, series: str = corpus.SERIES
) -> Path:
    elements = corpus.identity(sop=sop, study=study, series=series)
    return corpus.write(path, corpus.part10(corpus.dataset(elements)))


@pytest.mark.parametrize("name", list(NOT_UIDS))
@pytest.mark.parametrize("which", ["sop", "study", "series"])
def test_an_identity_uid_that_is_not_a_uid_fails_the_file(
    name: str, which: str, tmp_path: Path
) -> None:
    uids = {"sop": corpus.SOP, "study": corpus.STUDY, "series": corpus.SERIES}
    uids[which] = NOT_UIDS[name]
    path = with_identity(tmp_path / "x.dcm", **uids)
    with pytest.raises(DicomReadError, match="is not a UID") as caught:
        read_object(path)
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)
    assert str(caught.value).startswith(f"{path}: its (0020,000") or which == "sop"


def test_a_long_uid_of_digits_is_kept_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    long = "1.2.826.0.1.3680043." + "1234567890." * 6 + "1"  # 87 characters
    path = with_identity(tmp_path / "long.dcm", sop=long)
    with caplog.at_level(logging.WARNING, logger="dicomref"):
        assert read_object(path).sop_instance == long
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: (0008,0018) SOPInstanceUID '{long}' is longer than the 64 characters a UID "
        "may have (kept)"
    ]


def referencing(path: Path, targets: list[str], study_hint: str | None = None) -> Path:
    """A CT that references ``targets`` in ReferencedImageSequence (hand-built bytes)."""
    items = []
    for target in targets:
        body = corpus.element(0x00081150, "UI", IMAGE) + corpus.element(0x00081155, "UI", target)
        if study_hint is not None:
            body += corpus.element(0x0020000D, "UI", study_hint)
        items.append(corpus.item(body))
    elements = corpus.identity()
    elements[0x00081140] = corpus.sequence(0x00081140, items)
    return corpus.write(path, corpus.part10(corpus.dataset(elements)))


def test_a_reference_to_something_that_is_not_a_uid_is_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = referencing(tmp_path / "ct.dcm", ["1.2.3.4", NOT_UIDS["newline"], NOT_UIDS["path"]])
    with caplog.at_level(logging.WARNING, logger="dicomref"):
        summary = read_object(path)
    assert [r.target for r in summary.references] == ["1.2.3.4"]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        f"{path}: ReferencedSOPInstanceUID in ReferencedImageSequence[1] '1.2.3\\nINJECTED "
        "LINE' is not a UID (digits and dots, at most 64 characters): left out",
        f"{path}: ReferencedSOPInstanceUID in ReferencedImageSequence[2] '../../etc/passwd' "
        "is not a UID (digits and dots, at most 64 characters): left out",
    ]


def test_a_hint_that_is_not_a_uid_is_dropped(tmp_path: Path) -> None:
    path = referencing(tmp_path / "ct.dcm", ["1.2.3.4"], study_hint="../other-study")
    [found] = read_object(path).references
    assert (found.target, found.study) == ("1.2.3.4", None)


def dicomref(*args: str) -> subprocess.CompletedProcess[str]:
    program = str(Path(sys.executable).parent / "dicomref")
    return subprocess.run([program, *args], capture_output=True, text=True, check=False)


def test_no_output_line_of_refs_or_show_is_broken(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    ct = referencing(folder / "ct.dcm", ["1.2.3.4", NOT_UIDS["newline"]])
    with_identity(folder / "bad.dcm", sop=NOT_UIDS["newline"])
    refs = dicomref("refs", str(ct), str(folder / "bad.dcm"))
    assert refs.returncode == 3  # bad.dcm: not readable DICOM, reported; ct.dcm listed
    assert "INJECTED" not in refs.stdout
    assert [line for line in refs.stderr.splitlines() if line.startswith("INJECTED")] == []
    db = f"sqlite:///{tmp_path / 'c.sqlite'}"
    scan = dicomref("scan", str(folder), "--db", db, "--workers", "1")
    assert scan.returncode == 1
    assert not any(line.startswith("INJECTED") for line in scan.stdout.splitlines())
    with Catalog(db) as catalog:
        assert [s.sop_instance for s in catalog.instances()] == [corpus.SOP]
    show = dicomref("show", corpus.SOP, "--db", db)
    assert show.returncode == 0 and "INJECTED" not in show.stdout
    asked = dicomref("show", NOT_UIDS["newline"], "--db", db)
    assert asked.returncode == 2  # refused where it enters: the command line checks UIDs
    assert not any(line.startswith("INJECTED") for line in asked.stderr.splitlines())
