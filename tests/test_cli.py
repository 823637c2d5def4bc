"""Every command through the command line, as a user runs it."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from backends import BOTH_BACKENDS
from dicomref.cli import app
from dicomref.sample import Sample

runner = CliRunner()


def pydicom_file(name: str) -> str:
    """The path of one of pydicom's own test files."""
    path = get_testdata_file(name)
    assert isinstance(path, str), name
    return path


def run(*args: str | Path, code: int = 0, env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result.stdout


def test_refs_json_of_a_real_rtplan() -> None:
    path = pydicom_file("rtplan.dcm")
    rows = json.loads(run("refs", path, "--json"))
    assert isinstance(rows, list) and rows
    for key in ("source", "target", "target_class", "kind", "path", "study", "series", "instance"):
        assert key in rows[0]
    # the plan names its structure set, and the plan it was derived from
    assert sorted(r["kind"] for r in rows if r["instance"]) == ["plan", "structure_set"]
    assert all(r["file"] == path for r in rows)


def test_refs_reports_bad_files_and_goes_on(tmp_path: Path) -> None:
    bad = tmp_path / "not dicom.txt"
    bad.write_text("hello")
    good = pydicom_file("rtdose.dcm")
    result = runner.invoke(app, ["refs", str(bad), good, "--json"])
    assert result.exit_code == 3
    assert "not dicom.txt" in result.stderr
    assert any(r["kind"] == "plan" for r in json.loads(result.stdout))


def test_refs_goes_on_past_every_kind_of_unreadable_file(tmp_path: Path) -> None:
    """Each unreadable FILE is reported on its own line; the readable ones after it are
    listed; the exit status is 3 (README: exit codes), never 2 (usage)."""
    ct = Path(pydicom_file("CT_small.dcm")).read_bytes()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    (tmp_path / "truncated.dcm").write_bytes(ct[:1000])
    with (tmp_path / "zeros.dcm").open("wb") as out:  # valid meta header, then 1 GB of zeros
        out.write(ct[: 132 + 12 + int.from_bytes(ct[140:144], "little")])
        out.truncate(1 << 30)
    bad = ["fifo", "folder", "missing.dcm", "truncated.dcm", "zeros.dcm"]
    good = pydicom_file("rtdose.dcm")
    dicomref = str(Path(sys.executable).parent / "dicomref")
    done = subprocess.run(
        [dicomref, "refs", *(str(tmp_path / name) for name in bad), good],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    errors = done.stderr.splitlines()
    assert [line.split(": ")[1].rpartition("/")[2] for line in errors] == bad, errors
    assert done.stdout.startswith(f"{good}: RTDOSE RT Dose Storage ")


@BOTH_BACKENDS
def test_scan_show_check_graph(sample: Sample, catalog_url: str) -> None:
    report = json.loads(run("scan", sample.root, "--db", catalog_url, "--json"))
    assert report["files"] == len(sample.objects)
    assert report["indexed"] == len(sample.objects)
    assert report["failed"] == []
    assert report["references"] > 0
    assert "skipped" in report

    plan = sample.plans[0]
    view = json.loads(run("show", plan.sop_instance, "--db", catalog_url, "--json"))
    assert view["files"][0]["path"] == str(plan.path)
    assert view["references"][0]["resolved"] is True
    human = run("show", sample.structure_sets[0].sop_instance, "--db", catalog_url)
    assert "referenced by" in human and plan.sop_instance in human
    assert "Structure set 'SET0' (3 ROIs)" in human and "date 2018-01-01 " in human

    findings = json.loads(run("check", "--db", catalog_url, "--json"))
    assert all(f["severity"] != "error" for f in findings)
    dot = run("graph", plan.sop_instance, "--db", catalog_url, "--format", "dot")
    assert dot.startswith("digraph")


def test_db_from_environment_and_check_exit_status(sample: Sample, catalog_url: str) -> None:
    env = {"DICOMREF_DB": catalog_url}
    sample.ct[0].path.unlink()
    run("scan", sample.root, env=env)
    findings = json.loads(run("check", "--json", env=env, code=1))
    assert {"code", "severity", "source", "target", "path", "message"} <= set(findings[0])
    assert any(f["code"] == "DANGLING_REFERENCE" for f in findings)


def test_show_unknown_uid_exits_4(catalog_url: str) -> None:
    result = runner.invoke(app, ["show", "1.2.3.999", "--db", catalog_url])
    assert result.exit_code == 4
    assert "1.2.3.999" in result.stderr
    assert "dicomref scan" in result.stderr


def test_scan_bad_files_exit_1_and_are_listed(tmp_path: Path, catalog_url: str) -> None:
    (tmp_path / "data").mkdir()
    ct = Path(pydicom_file("CT_small.dcm")).read_bytes()
    (tmp_path / "data" / "cut.dcm").write_bytes(ct[:1000])  # claims DICOM, cannot be read
    good = pydicom_file("rtstruct.dcm")
    (tmp_path / "data" / "rtstruct.dcm").write_bytes(Path(good).read_bytes())
    result = runner.invoke(app, ["scan", str(tmp_path / "data"), "--db", catalog_url, "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["indexed"] == 1
    assert [f["path"] for f in report["failed"]] == [str(tmp_path / "data" / "cut.dcm")]


def test_scan_files_that_are_not_dicom_exit_0_and_are_listed_with_v(
    tmp_path: Path, catalog_url: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "LICENSE").write_text("Permission is hereby granted, free of charge, to any person")
    (data / "empty.dcm").write_bytes(b"")
    (data / "rtstruct.dcm").write_bytes(Path(pydicom_file("rtstruct.dcm")).read_bytes())
    report = json.loads(run("scan", data, "--db", catalog_url, "--json"))
    assert (report["indexed"], report["failed"]) == (1, [])
    assert report["not_dicom"] == [str(data / "LICENSE"), str(data / "empty.dcm")]
    text = run("scan", data, "--db", catalog_url, "-v")
    assert "2 not DICOM, 0 failed" in text
    assert f"  not DICOM: {data / 'LICENSE'}" in text.splitlines()
    assert "not DICOM:" not in run("scan", data, "--db", catalog_url)


def process(*args: str, code: int) -> str:
    """Run ``dicomref`` as a process (stdout a real UTF-8 pipe, as in a shell); its stdout."""
    dicomref = str(Path(sys.executable).parent / "dicomref")
    done = subprocess.run(
        [dicomref, *args],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},  # strict: no silent replacement
        check=False,
    )
    assert done.returncode == code, (done.stdout, done.stderr)
    assert b"Traceback" not in done.stderr, done.stderr
    return done.stdout.decode()  # valid UTF-8, whatever the file names hold


def test_names_that_are_not_utf8_from_scan_to_show(tmp_path: Path, catalog_url: str) -> None:
    """A Latin-1 file and folder name once ended scan in a UnicodeEncodeError traceback and
    indexed nothing: now they are indexed, and printed escaped, on one line, losslessly."""
    root = os.fsencode(tmp_path / "data")
    os.makedirs(os.path.join(root, b"s\xe9rie"))  # noqa: PTH103, PTH118
    ct = Path(pydicom_file("CT_small.dcm")).read_bytes()
    files = {
        b"caf\xe9.dcm": ct,
        b"s\xe9rie/cut\n\xe9.dcm": ct[:1000],
        b"s\xe9rie/notes \xff.txt": b"not DICOM",
    }
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as out:  # noqa: PTH118, PTH123
            out.write(data)
    folder = os.fsdecode(root)
    text = process("scan", folder, "--db", catalog_url, "-v", code=1)
    assert "1 indexed" in text and "1 not DICOM, 1 failed" in text
    assert f"  not DICOM: {tmp_path}/data/s\\xe9rie/notes \\xff.txt" in text.splitlines()
    failed = [line for line in text.splitlines() if line.startswith("  failed: ")]
    assert len(failed) == 1
    assert failed[0].startswith(f"  failed: {tmp_path}/data/s\\xe9rie/cut\\n\\xe9.dcm: ")
    report = json.loads(process("scan", folder, "--db", catalog_url, "--json", code=1))
    assert report["unchanged"] == 1
    assert report["not_dicom"] == [os.fsdecode(os.path.join(root, b"s\xe9rie/notes \xff.txt"))]  # noqa: PTH118
    assert [f["path"] for f in report["failed"]] == [f"{folder}/s\udce9rie/cut\n\udce9.dcm"]
    sop = str(pydicom.dcmread(io.BytesIO(ct)).SOPInstanceUID)
    shown = process("show", sop, "--db", catalog_url, code=0)
    assert f"file {tmp_path}/data/caf\\xe9.dcm" in shown
    listed = process("refs", f"{folder}/caf\udce9.dcm", code=0)
    assert listed.startswith(f"{tmp_path}/data/caf\\xe9.dcm: CT ")


@pytest.mark.slow
def test_demo_fetches_from_a_strict_server_and_leaves_nothing_running(tmp_path: Path) -> None:
    text = run("demo", "--keep", tmp_path / "demo", "--slices", "10")
    port = int(re.search(r"DEMO_PACS@127\.0\.0\.1:(\d+)", text).group(1))  # type: ignore[union-attr]
    fetched = re.search(r"Fetched (\d+) objects", text)
    whole = re.search(r"would have moved (\d+) objects", text)
    assert fetched and whole, text
    # plan 0, structure set 0, its 10 slices and the dose; not the rest of the study
    assert int(fetched.group(1)) == 13
    assert int(whole.group(1)) > 2 * 13
    assert "No problems found." in text
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the demo left its server running"
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "fetched",
        "local.sqlite",
        "pacs-data",
        "pacs.sqlite",
    ]


def test_sample_command(tmp_path: Path) -> None:
    data = json.loads(run("sample", tmp_path / "s", "--slices", "5", "--seed", "3", "--json"))
    assert data["patient_id"]
    assert len(data["objects"]) >= 5


def test_progress_is_drawn_on_a_terminal_only(tmp_path: Path, sample: Sample) -> None:
    """On a terminal, scan draws rich's progress on stderr; piped, it loads none of it."""
    import pty

    dicomref = str(Path(sys.executable).parent / "dicomref")
    db = f"sqlite:///{tmp_path / 'tty.sqlite'}"
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [dicomref, "scan", str(sample.root), "--db", db],
            stderr=follower,
            stdout=subprocess.PIPE,
            timeout=120,
            check=False,
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is closed once the child and we are done
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0, drawn[-2000:]
    assert b"\x1b[" in drawn  # rich drew (and cleared) its progress line
    probe = (
        "import sys\nfrom dicomref.cli import app\n"
        "app(['scan', sys.argv[1], '--db', sys.argv[2]], standalone_mode=False)\n"
        "print('rich.progress' in sys.modules)"
    )
    piped = subprocess.run(
        [sys.executable, "-c", probe, str(sample.root), f"sqlite:///{tmp_path / 'p.sqlite'}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert piped.stdout.strip().splitlines()[-1] == "False", piped.stderr[-2000:]


def test_the_process_ends_at_once_with_everything_written(tmp_path: Path, sample: Sample) -> None:
    """main() skips the interpreter's teardown: exit codes, every byte of output, and the
    exit handlers (here logging's) are kept; a reader that goes away early is no crash."""
    dicomref = str(Path(sys.executable).parent / "dicomref")
    structure_set = sample.structure_sets[0].path
    done = subprocess.run(
        [dicomref, "refs", "--json", str(structure_set)], capture_output=True, timeout=120
    )
    assert done.returncode == 0 and len(json.loads(done.stdout)) > 40
    missing = subprocess.run([dicomref, "refs", str(tmp_path / "absent.dcm")], capture_output=True)
    assert missing.returncode == 3 and b"absent.dcm" in missing.stderr
    usage = subprocess.run([dicomref, "show", "1..2"], capture_output=True)
    assert usage.returncode == 2
    with subprocess.Popen(
        [dicomref, "refs", "--json", str(structure_set)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        reader.stdout.read(10)
        reader.stdout.close()  # like `| head -c 10`
        stderr = reader.stderr.read()
        assert reader.wait(timeout=120) in (0, 1)
    assert b"Traceback" not in stderr


def test_the_log_handler_writes_to_the_stderr_of_the_moment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A thread logging after its command ended (a server's, in a test runner) writes to
    the stderr of that moment, never to a stream swapped out and closed since."""
    import io
    import logging
    import sys

    from dicomref.cli._common import setup_logging

    old = sys.stderr
    swapped = io.StringIO()
    sys.stderr = swapped
    try:
        setup_logging(0)
    finally:
        sys.stderr = old
    swapped.close()
    logging.getLogger("dicomref.test").warning("after the swap")
    err = capsys.readouterr().err
    assert "WARNING dicomref.test: after the swap" in err
    assert "Logging error" not in err
