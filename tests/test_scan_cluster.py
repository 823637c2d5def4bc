"""scan --cluster on a real Dask cluster (a scheduler and two worker processes on loopback):
a worker SIGKILLed mid-batch, its batch read again by the other, the catalog the same as a
local scan's with no duplicate row, the ledger complete; a rerun reads nothing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from cluster_support import LoggingReader, reads
from dicomref.catalog import Catalog, ScanReport, _catalog, _cluster
from dicomref.catalog._batches import Entry, batch_id
from dicomref.catalog._schema import scan_batches
from dicomref.errors import ClusterError
from dicomref.extraction import dicomdir_files
from dicomref.sample import generate_sample
from servers import ServerUnavailableError, free_port, unavailable
from servers._dask import DaskCluster

TESTS = Path(__file__).resolve().parent
BATCH = 8
DELAY = 0.01  # seconds per file read: enough to kill a worker mid-batch


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    dask = DaskCluster(tmp_path / "dask", workers=2, env=env)
    try:
        dask.start()
    except ServerUnavailableError as error:
        unavailable(str(error))  # a failure when CI is "true"
    try:
        yield dask
    finally:
        dask.stop()


def _data(root: Path) -> tuple[int, int]:
    """Five patients and some bad files under ``root``: (DICOM files, bad files)."""
    good = 0
    for seed in range(5):
        good += len(generate_sample(root / f"patient{seed}", seed=seed, slices=16).objects)
    (root / "notes.txt").write_text("not DICOM\n")
    (root / "empty.dcm").write_bytes(b"")
    first_ct = next((root / "patient0" / "study1" / "CT_1").iterdir())
    (root / "truncated.dcm").write_bytes(first_ct.read_bytes()[:300])
    return good, 3


def _rows(url: str) -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """Rows per table, and every reference row with its file's path."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {
                table: int(conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
                for table in ("patients", "studies", "series", "files", "refs")
            }
            refs = conn.execute(
                text(
                    "SELECT f.path, f.sop_instance, r.target_uid, r.kind, r.paths "
                    "FROM refs r JOIN files f ON f.id = r.file_id"
                )
            )
            return counts, sorted(tuple(row) for row in refs)
    finally:
        engine.dispose()


def _ledger(url: str) -> list[tuple[str, int]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = select(scan_batches.c.batch_id, scan_batches.c.files)
            return [(row[0], row[1]) for row in conn.execute(query)]
    finally:
        engine.dispose()


def _ledger_size(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(scan_batches)) or 0)
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("catalog_backend", ["sqlite", "postgresql"], indirect=True)
def test_a_worker_killed_mid_batch_leaves_the_catalog_complete(
    cluster: DaskCluster,
    catalog_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    good, bad = _data(data)
    read_log = tmp_path / "reads"
    read_log.mkdir()
    monkeypatch.setattr(
        _catalog, "_file_readers", lambda: (LoggingReader(read_log, DELAY), dicomdir_files)
    )
    monkeypatch.setattr(_cluster, "BATCH_FILES", BATCH)
    Catalog(catalog_url).close()  # migrated before the workers write

    outcome: list[ScanReport | BaseException] = []

    def scan() -> None:
        try:
            with Catalog(catalog_url) as catalog:
                outcome.append(catalog.scan([data], cluster=cluster.address))
        except BaseException as error:  # noqa: BLE001 - raised again in the test's thread
            outcome.append(error)

    scanning = threading.Thread(target=scan)
    scanning.start()
    victim = cluster.workers[0]
    victim_log = read_log / f"reads-{victim.pid}.txt"
    deadline = time.monotonic() + 60
    while _ledger_size(catalog_url) < 3 or not victim_log.exists():
        assert scanning.is_alive(), f"the scan ended before a worker could be killed: {outcome}"
        assert time.monotonic() < deadline, "the cluster wrote no batch in 60 s"
        time.sleep(0.01)
    # Kill it just after it starts reading a file: its batch cannot be committed yet.
    seen = len(victim_log.read_text().splitlines())
    while len(victim_log.read_text().splitlines()) == seen:
        assert scanning.is_alive(), "the scan ended before a worker could be killed"
        time.sleep(0.001)
    victim.kill()  # SIGKILL
    killed_reads = set(victim_log.read_text().splitlines())
    scanning.join(120)
    assert not scanning.is_alive(), "the scan did not finish after a worker was killed"
    [report] = outcome
    assert isinstance(report, ScanReport), report

    assert report.files == good + bad
    assert (report.indexed, report.unchanged, report.removed) == (good, 0, 0)
    assert len(report.not_dicom) == 2
    assert [f.path for f in report.failed] == [str(data / "truncated.dcm")]
    # The killed worker's batch was read again by the other: at least once.
    read = reads(read_log)
    again = {path for path in read if read.count(path) > 1}
    assert again and again <= killed_reads

    # The same catalog as a local scan's: every row, none twice.
    local = f"sqlite:///{tmp_path / 'local.sqlite'}"
    monkeypatch.undo()
    with Catalog(local) as catalog:
        local_report = catalog.scan([data], workers=1)
    assert local_report.indexed == good
    counts, refs = _rows(catalog_url)
    assert (counts, refs) == _rows(local)
    assert counts["files"] == good
    assert len(refs) == len(set(refs))

    # The ledger: one row per batch, every file in one.
    ledger = _ledger(catalog_url)
    assert len(ledger) == math.ceil((good + bad) / BATCH)
    assert sum(files for _, files in ledger) == good + bad

    # A rerun reads nothing and reports the same failures; a changed file alone is read.
    monkeypatch.setattr(
        _catalog, "_file_readers", lambda: (LoggingReader(read_log, DELAY), dicomdir_files)
    )
    monkeypatch.setattr(_cluster, "BATCH_FILES", BATCH)
    before = len(reads(read_log))
    with Catalog(catalog_url) as catalog:
        rerun = catalog.scan([data], cluster=cluster.address)
        assert len(reads(read_log)) == before
        assert (rerun.indexed, rerun.unchanged) == (0, good)
        assert rerun.failed == report.failed and rerun.not_dicom == report.not_dicom
        changed = data / "patient1" / "study1" / "RTPLAN_3" / "0001.dcm"
        stat = changed.stat()
        os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        touched = catalog.scan([data], cluster=cluster.address)
    assert reads(read_log)[before:] == [str(changed)]
    assert (touched.indexed, touched.unchanged) == (1, good - 1)
    assert _rows(catalog_url) == _rows(local)


def test_the_command_line_scans_on_a_cluster(
    cluster: DaskCluster, tmp_path: Path, catalog_url: str
) -> None:
    data = tmp_path / "data"
    objects = len(generate_sample(data, slices=4).objects)
    (data / "notes.txt").write_text("not DICOM\n")

    def scan(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "dicomref", "scan", str(data), "--db", catalog_url]
        return subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=120)

    first = scan("--cluster", cluster.address, "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["indexed"], len(report["not_dicom"])) == (objects, 1)
    assert _ledger(catalog_url) and report["references"] > 0
    again = json.loads(scan("--cluster", cluster.address, "--json").stdout)
    assert (again["indexed"], again["unchanged"], again["not_dicom"]) == (
        0,
        objects,
        report["not_dicom"],
    )
    nobody = f"tcp://127.0.0.1:{free_port()}"
    down = scan("--cluster", nobody)
    assert down.returncode == 5
    assert f"cannot reach the Dask scheduler at {nobody}" in down.stderr


def test_a_batch_is_named_by_its_paths_sizes_and_times() -> None:
    files = [Entry("/a/1.dcm", 10, 5), Entry("/a/2.dcm", 20, 6)]
    name = batch_id(files)
    assert name == batch_id(list(files)) and len(name) == 64
    assert name != batch_id([files[0], Entry("/a/2.dcm", 20, 7)])  # a time changed
    assert name != batch_id([files[0], Entry("/a/2.dcm", 21, 6)])  # a size changed
    assert name != batch_id(files[::-1])
    assert name != batch_id(files, salt="again:")
    assert batch_id([Entry("/a/\udcff.dcm", 1, 1)]) != batch_id([Entry("/a/\udcfe.dcm", 1, 1)])


def test_an_in_memory_catalog_cannot_be_shared() -> None:
    from dicomref.errors import UsageError

    with pytest.raises(UsageError, match="memory"):
        _cluster.shared_url("sqlite://")
    assert (
        _cluster.shared_url("sqlite:///rel/cat.sqlite") == f"sqlite:///{Path.cwd()}/rel/cat.sqlite"
    )
    url = "postgresql+psycopg://u:secret@h/db"
    assert _cluster.shared_url(url) == url


def test_a_worker_that_cannot_run_the_tasks_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster lacks the reader's module (tests/ is not on its path): ClusterError."""
    data = tmp_path / "data"
    generate_sample(data, slices=2)
    monkeypatch.setattr(
        _catalog, "_file_readers", lambda: (LoggingReader(tmp_path, 0.0), dicomdir_files)
    )
    dask = DaskCluster(tmp_path / "dask", workers=1)
    try:
        dask.start()
    except ServerUnavailableError as error:
        unavailable(str(error))
    try:
        with (
            Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}") as catalog,
            pytest.raises(ClusterError, match="cannot run the scan's tasks"),
        ):
            catalog.scan([data], cluster=dask.address)
    finally:
        dask.stop()
