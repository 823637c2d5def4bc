"""pydicom's warnings name the file they are about, for every file (they once reached stderr
bare, as ``UserWarning: …``, and only for the first file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import extraction_corpus as corpus

UNKNOWN = "Unknown encoding 'ISO_IR 999'"


def odd_charset(path: Path, *, big: bool = False, sop: str = corpus.SOP) -> Path:
    """A file whose Specific Character Set pydicom does not know, with a non-ASCII name."""
    elements = corpus.identity(big=big, sop=sop)
    elements[0x00080005] = corpus.element(0x00080005, "CS", "ISO_IR 999", big=big)
    name = "Müller^Hans".encode("latin-1")
    elements[0x00100010] = corpus.element(0x00100010, "PN", name, big=big)
    syntax = corpus.BIG_ENDIAN if big else corpus.EXPLICIT
    return corpus.write(path, corpus.part10(corpus.dataset(elements), syntax=syntax))


def dicomref(*args: str) -> subprocess.CompletedProcess[str]:
    program = str(Path(sys.executable).parent / "dicomref")
    return subprocess.run([program, *args], capture_output=True, text=True, check=False)


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    return [
        odd_charset(folder / "a.dcm", sop="1.2.3.1"),
        odd_charset(folder / "b.dcm", sop="1.2.3.2"),  # same name, same warning: said again
        odd_charset(folder / "c-big-endian.dcm", big=True, sop="1.2.3.3"),  # pydicom's reader
    ]


def test_refs_names_the_file_of_each_warning(files: list[Path]) -> None:
    done = dicomref("refs", *map(str, files))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "UserWarning" not in done.stderr
    for path in files:
        about = [line for line in lines if f"{path}: pydicom: {UNKNOWN}" in line]
        assert len(about) == 1, (path, lines)
    assert len(lines) == len(files), lines


def test_scan_names_the_file_of_each_warning(files: list[Path], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.sqlite'}"
    done = dicomref("scan", str(files[0].parent), "--db", db, "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "UserWarning" not in done.stderr
    for path in files:
        assert f"{path}: pydicom: {UNKNOWN}" in done.stderr, done.stderr
