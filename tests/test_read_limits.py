"""Hostile files against the reader's bounds (ReadLimits): deflate bombs built with zlib,
values that claim gigabytes, a scan that goes on past them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import extraction_corpus as corpus
from dicomref.catalog import Catalog
from dicomref.errors import DicomReadError, ReadLimitError
from dicomref.extraction import ReadLimits, read_object
from dicomref.extraction._limits import DEFAULT_MAX_INFLATED, DEFAULT_MAX_VALUE, MIB

DEFLATED = "1.2.840.10008.1.2.1.99"
GIB = 1 << 30
PRIVATE_BLOB = 0x00091010
PIXEL_DATA = 0x7FE00010


def deflated_file(path: Path, head: bytes, zeros: int, tag: int = PRIVATE_BLOB) -> Path:
    """A Deflated Explicit VR Little Endian file: the data set ``head``, then an OB element
    ``tag`` of ``zeros`` zero bytes, deflated (raw RFC 1951, as PS3.5 A.5 says) with zlib.

    The zeros are deflated 16 MiB at a time with a full flush between: each such block
    deflates to the same bytes, so a 3 GiB bomb is written in milliseconds.
    """
    block = 16 * MIB
    assert zeros % block == 0
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = deflater.compress(head + corpus.element(tag, "OB", b"", length=zeros))
    start += deflater.flush(zlib.Z_FULL_FLUSH)
    again = deflater.compress(bytes(block)) + deflater.flush(zlib.Z_FULL_FLUSH)
    with path.open("wb") as out:
        out.write(corpus.part10(b"", syntax=DEFLATED) + start)
        for _ in range(zeros // block):
            out.write(again)
        out.write(deflater.flush())
    return path


def identity() -> bytes:
    return corpus.dataset(corpus.identity())


def test_a_deflate_bomb_is_refused_at_the_limit_naming_the_file(tmp_path: Path) -> None:
    bomb = deflated_file(tmp_path / "bomb.dcm", identity(), 64 * MIB)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ReadLimitError) as caught:
        read_object(bomb, ReadLimits(max_inflated=8 * MIB))
    error = caught.value
    assert (error.path, error.limit, error.bound) == (str(bomb), "max_inflated", 8 * MIB)
    assert str(error).startswith(f"{bomb}: its deflated data set inflates past 8 MiB")
    assert "ReadLimits.max_inflated" in str(error)


def test_a_deflated_image_whose_pixels_pass_the_limit_still_reads(tmp_path: Path) -> None:
    """The header ends before the pixel data: inflating stops at the limit, the header is whole."""
    image = deflated_file(tmp_path / "ct.dcm", identity(), 32 * MIB, tag=PIXEL_DATA)
    summary = read_object(image, ReadLimits(max_inflated=1 * MIB))
    assert (summary.sop_instance, summary.transfer_syntax) == (corpus.SOP, DEFLATED)
    whole = read_object(image)  # within the default limit the whole data set inflates
    assert whole.sop_instance == corpus.SOP


def test_a_damaged_deflate_stream_is_a_read_error(tmp_path: Path) -> None:
    data = corpus.part10(b"\xff" * 64, syntax=DEFLATED)
    path = corpus.write(tmp_path / "damaged.dcm", data)
    with pytest.raises(DicomReadError, match="cannot be inflated") as caught:
        read_object(path)
    assert not isinstance(caught.value, ReadLimitError)


def test_the_3_gib_bomb_of_the_issue_stays_within_memory(tmp_path: Path) -> None:
    """3 MB inflating to 3 GiB once took 6.4 GB: read by a process limited to 1.5 GiB of
    address space, it is refused at the default limit, in bounded memory."""
    bomb = deflated_file(tmp_path / "bomb.dcm", identity(), 3 * GIB)
    assert bomb.stat().st_size < 4 * MIB
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({3 * GIB // 2}, {3 * GIB // 2}))\n"
        "from dicomref.errors import ReadLimitError\n"
        "from dicomref.extraction import read_object\n"
        "try:\n"
        "    read_object(sys.argv[1])\n"
        "except ReadLimitError as error:\n"
        "    print(error.limit, error.bound)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    limit, bound, peak_mib = done.stdout.split()
    assert (limit, int(bound)) == ("max_inflated", DEFAULT_MAX_INFLATED)
    assert int(peak_mib) < 3 * DEFAULT_MAX_INFLATED // MIB, peak_mib


def sparse_file(path: Path, head: bytes, size: int) -> Path:
    """``head``, then zeros up to ``size`` bytes (a sparse file: no disk used)."""
    with path.open("wb") as out:
        out.write(head)
        out.truncate(size)
    return path


@pytest.mark.parametrize("encoding", ["explicit", "implicit", "big endian"])
def test_a_value_claiming_more_than_max_value_is_refused(encoding: str, tmp_path: Path) -> None:
    length = DEFAULT_MAX_VALUE + 2
    explicit, big = encoding != "implicit", encoding == "big endian"
    # PatientName written with a VR that has a 4-byte length (UT), or implicit VR.
    elements = corpus.identity(explicit=explicit, big=big)
    elements[0x00100010] = corpus.element(
        0x00100010, "UT", b"", explicit=explicit, big=big, length=length
    )
    syntax = {"explicit": corpus.EXPLICIT, "implicit": corpus.IMPLICIT}.get(
        encoding, corpus.BIG_ENDIAN
    )
    head = corpus.part10(corpus.dataset(elements), syntax=syntax)
    path = sparse_file(tmp_path / "long-name.dcm", head, len(head) + length + 64)
    with pytest.raises(ReadLimitError) as caught:
        read_object(path)
    assert (caught.value.limit, caught.value.bound) == ("max_value", DEFAULT_MAX_VALUE)
    assert "(0010,0010)" in str(caught.value)
    assert f"{length:,} bytes" in str(caught.value)


def test_a_scan_goes_on_past_a_bomb(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    deflated_file(folder / "bomb.dcm", identity(), 3 * GIB)
    corpus.write(folder / "good.dcm", corpus.part10(identity()))
    with Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}") as catalog:
        report = catalog.scan([folder])
    assert report.indexed == 1
    [failure] = report.failed
    assert failure.path == str(folder / "bomb.dcm")
    assert "inflates past 256 MiB" in failure.error


def test_a_scan_takes_its_limits(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    deflated_file(folder / "bomb.dcm", identity(), 64 * MIB)
    with Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}") as catalog:
        assert catalog.scan([folder]).indexed == 1  # 64 MiB: within the default limit
        report = catalog.scan([tmp_path / "data"], limits=ReadLimits(max_inflated=8 * MIB))
    assert report.indexed == 0  # unchanged files are not read again: touch it first
    os.utime(folder / "bomb.dcm", ns=(0, 10**9))
    with Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}") as catalog:
        report = catalog.scan([folder], limits=ReadLimits(max_inflated=8 * MIB))
    [failure] = report.failed
    assert "inflates past 8 MiB" in failure.error


def test_the_cli_reports_the_bomb_and_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    deflated_file(folder / "a-bomb.dcm", identity(), 1 * GIB)
    corpus.write(folder / "b-good.dcm", corpus.part10(identity()))
    dicomref = str(Path(sys.executable).parent / "dicomref")
    db = f"sqlite:///{tmp_path / 'c.sqlite'}"
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [dicomref, "scan", str(folder), "--db", db, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["indexed"] == 1
    assert [f["path"] for f in report["failed"]] == [str(folder / "a-bomb.dcm")]


def test_the_limits_are_options_of_refs_and_scan(tmp_path: Path) -> None:
    blob = deflated_file(tmp_path / "blob.dcm", identity(), 64 * MIB)
    dicomref = str(Path(sys.executable).parent / "dicomref")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([dicomref, *args], capture_output=True, text=True, check=False)

    assert run("refs", str(blob)).returncode == 0  # 64 MiB inflated: within the default
    refused = run("refs", "--max-inflated-mib", "8", str(blob))
    assert refused.returncode == 3
    assert f"{blob}: its deflated data set inflates past 8 MiB" in refused.stderr
    db = f"sqlite:///{tmp_path / 'c.sqlite'}"
    scanned = run("scan", str(tmp_path), "--db", db, "--max-inflated-mib", "8", "--json")
    assert scanned.returncode == 1
    assert [f["path"] for f in json.loads(scanned.stdout)["failed"]] == [str(blob)]


# -- a file whose rest is zeros (a copy preallocated and never completed) ---------------------


def test_gigabytes_of_zeros_after_the_meta_header_are_refused_at_once(tmp_path: Path) -> None:
    """2 GB of zeros after a valid meta header took ~55 s to refuse; now it takes no time."""
    head = corpus.part10(b"")
    path = sparse_file(tmp_path / "zeros.dcm", head, len(head) + 2 * GIB)
    started = time.perf_counter()
    with pytest.raises(DicomReadError, match="found zero bytes where a data element should be"):
        read_object(path)
    assert time.perf_counter() - started < 2.0


def test_zeros_after_some_elements_are_refused_at_once(tmp_path: Path) -> None:
    elements = {0x00080005: corpus.element(0x00080005, "CS", "ISO_IR 100")}
    head = corpus.part10(corpus.dataset(elements))
    path = sparse_file(tmp_path / "zeros.dcm", head, len(head) + 1 * GIB)
    started = time.perf_counter()
    with pytest.raises(DicomReadError, match="zero bytes") as caught:
        read_object(path)
    assert caught.value.offset == len(head)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("explicit", [True, False])
def test_zero_padding_after_a_whole_data_set_is_the_end_of_it(
    explicit: bool, tmp_path: Path
) -> None:
    """Some writers pad files with zeros: the data set ends there, as pydicom reads it."""
    syntax = corpus.EXPLICIT if explicit else corpus.IMPLICIT
    body = corpus.dataset(corpus.identity(explicit=explicit))
    path = corpus.write(tmp_path / "padded.dcm", corpus.part10(body, syntax=syntax) + bytes(4096))
    assert read_object(path).sop_instance == corpus.SOP


def test_zeros_inside_an_item_are_refused(tmp_path: Path) -> None:
    entry = corpus.item(bytes(64), undefined=False)
    elements = corpus.identity()
    elements[0x00081140] = corpus.sequence(0x00081140, [entry], undefined=False)
    path = corpus.write(tmp_path / "item.dcm", corpus.part10(corpus.dataset(elements)))
    with pytest.raises(DicomReadError, match="zero bytes where a data element should be, inside"):
        read_object(path)
