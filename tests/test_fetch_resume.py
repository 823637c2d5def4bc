"""A fetch killed mid-transfer (SIGKILL, a real process) and run again: the objects the
first run left in --out are reused, and indexed (issue 9.5: they were reused unindexed,
340 catalog rows for 502 files, and ``check`` reported the missing ones as dangling)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from backends import BOTH_BACKENDS
from dicomref._dimse._node import DEFAULT_OUR_AE
from dicomref.catalog import Catalog
from dicomref.extraction import read_object
from dicomref.remote.fetching._holdings import stored_files
from dicomref.sample import generate_sample
from servers import LOOPBACK, DcmqrscpServer, Peer, free_port, running


def dicomref(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "dicomref", *map(str, args)]


def kill_when_stored(command: list[str], out: Path, count: int) -> int:
    """Start ``command``, SIGKILL it once ``count`` objects are in ``out``; how many were."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if out.is_dir() and len(stored_files(out)) >= count:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        process.wait(timeout=30)
        assert process.stderr is not None
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL, f"not killed mid-transfer: {stderr}"
    return len(stored_files(out))


@BOTH_BACKENDS
def test_a_fetch_killed_mid_transfer_and_rerun_indexes_every_file_it_reuses(
    tmp_path: Path, catalog_url: str
) -> None:
    patient = generate_sample(tmp_path / "patient", slices=160, rows=256, columns=256)
    out = tmp_path / "out"
    db = catalog_url
    store_port = free_port()
    server = DcmqrscpServer(tmp_path / "pacs", peers=[Peer(DEFAULT_OUR_AE, LOOPBACK, store_port)])
    with running(server):
        server.load([o.path for o in patient.objects])
        node = f"{server.ae}@{LOOPBACK}:{server.port}"
        fetch = dicomref(
            "fetch", node, patient.plans[0].path, "--out", out, "--db", db,
            "--store-port", str(store_port),
        )  # fmt: skip
        left = kill_when_stored(fetch, out, 8)  # past the structure set, inside the slices
        with Catalog(db) as catalog:
            indexed = {s.path for s in catalog.instances()}
        assert len(indexed) < left  # the case of the issue: files the first run never indexed
        print(f"killed with {left} objects in --out, {len(indexed)} indexed")

        second = subprocess.run(
            [*fetch, "-v"], capture_output=True, text=True, timeout=300, check=False
        )
        assert second.returncode == 0, second.stderr + second.stdout

    files = stored_files(out)
    assert len(files) > left
    present = {read_object(p).sop_instance for p in files}
    with Catalog(db) as catalog:
        rows = {Path(s.path) for s in catalog.instances()}
        assert rows == {p.absolute() for p in files}  # every file in --out, and nothing else
        assert {s.sop_instance for s in catalog.instances()} == present
    check = subprocess.run(
        dicomref("check", "--db", db, "--json"), capture_output=True, text=True, check=False
    )
    findings = json.loads(check.stdout)
    dangling = {f["target"] for f in findings if f["code"] == "DANGLING_REFERENCE"}
    assert dangling & present == set()  # no reference to an object in --out is dangling
    assert patient.structure_sets[0].sop_instance in present
    assert list(out.glob(".holding-*")) == []  # a holding folder the killed run left: removed
    assert f"{left - len(indexed)} objects found in {out}" in second.stdout  # said in -v steps
