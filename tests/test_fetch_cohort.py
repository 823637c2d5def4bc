"""Cohort fetches (issue 11.3) against real servers: Orthanc, dcmqrscp and ``dicomref serve``,
each loaded with three generated patients (seeds 0-2).

Starts come from ``--from-file`` and from ``--query Modality=RTPLAN``, over 1 and 4
associations; the output folder must hold exactly the union of the starts' closures, each
object moved once, and ``--json`` must say per start what it needed (the closure is read
here from the files with pydicom, not with dicomref).  A fetch killed mid-run resumes; a
start no server has is listed missing with exit 1.  Run inside scripts/in-netns.sh.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from typer.testing import CliRunner

from dicomref._dimse._node import DEFAULT_OUR_AE
from dicomref.catalog import Catalog
from dicomref.cli import app
from dicomref.extraction import read_object
from dicomref.remote.fetching._holdings import stored_files
from dicomref.sample import Sample, SampleObject, generate_sample
from dicomref.server import Server, ServerConfig
from servers import (
    LOOPBACK,
    DcmqrscpServer,
    DicomServer,
    OrthancServer,
    Peer,
    free_port,
    running,
)

SERVERS = ["orthanc", "dcmqrscp", "serve"]
ABSENT = "1.2.826.0.1.3680043.8.498.999999999"


@dataclass(frozen=True)
class Pacs:
    node: str
    store_port: int


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    root = tmp_path_factory.mktemp("cohort")
    return [generate_sample(root / f"p{seed}", slices=6, seed=seed) for seed in range(3)]


@pytest.fixture(scope="module")
def store_port() -> int:
    return free_port()


def _loaded(server: DicomServer, cohort: list[Sample], store_port: int) -> Iterator[Pacs]:
    """``server`` started with every patient of the cohort, as the Pacs to fetch from."""
    with running(server):
        server.load([o.path for s in cohort for o in s.objects])
        yield Pacs(f"{server.peer.ae}@{LOOPBACK}:{server.peer.port}", store_port)


@pytest.fixture(scope="module")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory, cohort: list[Sample], store_port: int
) -> Iterator[Pacs]:
    peers = [Peer(DEFAULT_OUR_AE, LOOPBACK, store_port)]
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"), peers=peers)
    yield from _loaded(server, cohort, store_port)


@pytest.fixture(scope="module")
def dcmqrscp(
    tmp_path_factory: pytest.TempPathFactory, cohort: list[Sample], store_port: int
) -> Iterator[Pacs]:
    peers = [Peer(DEFAULT_OUR_AE, LOOPBACK, store_port)]
    server = DcmqrscpServer(tmp_path_factory.mktemp("dcmqrscp"), peers=peers)
    yield from _loaded(server, cohort, store_port)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, cohort: list[Sample]) -> Iterator[Pacs]:
    url = f"sqlite:///{tmp_path_factory.mktemp('serve') / 'catalog.sqlite'}"
    with Catalog(url) as catalog:
        catalog.scan([s.root for s in cohort])
    server = Server(ServerConfig(ae_title="SERVE", port=0), url)
    server.start()
    try:
        yield Pacs(f"SERVE@{LOOPBACK}:{server.port}", free_port())
    finally:
        server.stop()


@pytest.fixture
def pacs(request: pytest.FixtureRequest) -> Pacs:
    found: Pacs = request.getfixturevalue(request.param)
    return found


# -- the oracle: closures read with pydicom --------------------------------------------------------


def closure(sample: Sample, start: SampleObject) -> set[str]:
    """``start`` and what it references, transitively, among the sample's objects: a plan
    names its structure set, whose contours name the CT slices they lie on."""
    by_uid = {o.sop_instance: o for o in sample.objects}
    found: set[str] = set()
    todo = [start.sop_instance]
    while todo:
        uid = todo.pop()
        if uid in found:
            continue
        found.add(uid)
        ds = pydicom.dcmread(by_uid[uid].path, stop_before_pixels=True)
        for item in ds.get("ReferencedStructureSetSequence", []):
            todo.append(item.ReferencedSOPInstanceUID)
        for roi in ds.get("ROIContourSequence", []):
            for contour in roi.get("ContourSequence", []):
                for image in contour.get("ContourImageSequence", []):
                    todo.append(image.ReferencedSOPInstanceUID)
    return found


def plans(cohort: list[Sample]) -> list[tuple[Sample, SampleObject]]:
    return [(s, p) for s in cohort for p in s.plans]


def cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout + result.stderr


def fetch_args(pacs: Pacs, out: Path, db: str, *more: str | Path) -> list[str | Path]:
    return [
        "fetch",
        pacs.node,
        "--out",
        out,
        "--db",
        db,
        "--store-port",
        str(pacs.store_port),
        *more,
    ]


def arrived(steps: list[str]) -> int:
    """Objects moved, from the request lines ("… -> 3 arrived …")."""
    return sum(int(m[1]) for line in steps if (m := re.search(r"-> (\d+) arrived", line)))


def check_store(out: Path, expected: set[str]) -> None:
    files = stored_files(out)
    uids = [read_object(f).sop_instance for f in files]
    assert sorted(uids) == sorted(expected)  # exactly the union, each object once


# -- the cases -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pacs", SERVERS, indirect=True)
@pytest.mark.parametrize("associations", [1, 4])
def test_from_file_brings_the_union_of_the_closures_each_object_once(
    pacs: Pacs, cohort: list[Sample], associations: int, tmp_path: Path
) -> None:
    chosen = plans(cohort)
    listing = tmp_path / "starts.txt"
    lines = ["# the cohort: every plan of three patients", ""]
    lines += [p.sop_instance + "  " for _, p in chosen[1:]]
    lines.append(str(chosen[0][1].path))  # a file: read here, its references fetched
    listing.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"

    code, text = cli(
        *fetch_args(pacs, out, db, "--from-file", listing),
        "--associations", str(associations), "--json",
    )  # fmt: skip
    assert code == 0, text
    data = json.loads(text)
    union = set().union(*(closure(s, p) for s, p in chosen)) - {chosen[0][1].sop_instance}
    check_store(out, union)
    assert data["objects"] == len(union)
    assert arrived(data["steps"]) == len(union)  # nothing moved twice, nothing extra
    assert data["missing"] == [] and data["discarded"]["objects"] == 0
    assert len(data["starts"]) == len(chosen)
    first, *rest = data["starts"]
    assert first["start"] == str(chosen[0][1].path)
    assert set(first["needed"]) == closure(*chosen[0]) - {chosen[0][1].sop_instance}
    for result, (sample, plan) in zip(rest, chosen[1:], strict=True):
        assert result["start"] == result["uid"] == plan.sop_instance
        assert set(result["needed"]) == closure(sample, plan)
        assert result["complete"] and result["missing"] == []
    assert data["associations"] <= associations
    if associations > 1 and pacs.node.startswith("ORTHANC"):
        assert data["associations"] > 1  # the phases did go out in parallel


@pytest.mark.parametrize("pacs", SERVERS, indirect=True)
@pytest.mark.parametrize("associations", [1, 4])
def test_query_selects_every_plan_and_fetches_their_closures(
    pacs: Pacs, cohort: list[Sample], associations: int, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    code, text = cli(
        *fetch_args(pacs, out, db, "--query", "Modality=RTPLAN"),
        "--associations", str(associations), "--json",
    )  # fmt: skip
    assert code == 0, text
    data = json.loads(text)
    chosen = plans(cohort)
    union = set().union(*(closure(s, p) for s, p in chosen))
    check_store(out, union)
    assert arrived(data["steps"]) == len(union)
    by_uid = {r["uid"]: r for r in data["starts"]}
    assert set(by_uid) == {p.sop_instance for _, p in chosen}
    for sample, plan in chosen:
        assert set(by_uid[plan.sop_instance]["needed"]) == closure(sample, plan)

    # one patient only, with two keys in one --query: its two plans
    again = tmp_path / "again"
    code, text = cli(
        *fetch_args(pacs, again, f"sqlite:///{tmp_path / 'again.sqlite'}"),
        "--query", f"Modality=RTPLAN PatientID={cohort[1].patient_id}", "--json",
    )  # fmt: skip
    assert code == 0, text
    assert {r["uid"] for r in json.loads(text)["starts"]} == {
        p.sop_instance for p in cohort[1].plans
    }


@pytest.mark.parametrize("pacs", ["orthanc", "dcmqrscp"], indirect=True)
def test_a_start_no_server_has_is_listed_missing_and_exit_1(
    pacs: Pacs, cohort: list[Sample], tmp_path: Path
) -> None:
    listing = tmp_path / "starts.txt"
    listing.write_text(f"{cohort[0].plans[0].sop_instance}\n{ABSENT}\n")
    out = tmp_path / "out"
    code, text = cli(
        *fetch_args(pacs, out, f"sqlite:///{tmp_path / 'c.sqlite'}", "--from-file", listing),
        "--json",
    )  # fmt: skip
    assert code == 1, text
    data = json.loads(text)
    good, absent = data["starts"]
    assert good["complete"] and set(good["needed"]) == closure(cohort[0], cohort[0].plans[0])
    assert not absent["complete"] and absent["needed"] == [ABSENT]
    assert [m["uid"] for m in absent["missing"]] == [ABSENT]
    assert absent["missing"][0]["reason"]
    assert [m["uid"] for m in data["missing"]] == [ABSENT]
    check_store(out, closure(cohort[0], cohort[0].plans[0]))


def test_bad_lines_and_queries_are_usage_errors(tmp_path: Path) -> None:
    listing = tmp_path / "starts.txt"
    listing.write_text("# ok\n1.2.3\n1.02.3\n")
    code, text = cli("fetch", "A@127.0.0.1:1", "--out", tmp_path / "o", "--from-file", listing)
    assert code == 2 and "line 3" in text and "leading zero" in text, text
    for query, why in [
        ("PatientName=X", "not a key"),
        ("Modality", "KEY=VALUE"),
        ("StudyDate=2024", "YYYYMMDD"),
        ("SeriesInstanceUID=1..2", "empty component"),
        ("Modality=rtplan", "upper-case"),
    ]:
        code, text = cli("fetch", "A@127.0.0.1:1", "--out", tmp_path / "o", "--query", query)
        assert code == 2 and why in text, (query, text)
    code, text = cli("fetch", "A@127.0.0.1:1", "--out", tmp_path / "o")
    assert code == 2 and "give the starts" in text, text


def stop_when_stored(command: list[str], out: Path, count: int, signum: int) -> float:
    """Start ``command``, send ``signum`` once ``count`` objects are in ``out``; the
    seconds it took to exit after the signal."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    sent = time.monotonic()
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_dir() and len(stored_files(out)) >= count:
            sent = time.monotonic()
            os.kill(process.pid, signum)
            break
        time.sleep(0.002)
    process.wait(60)
    spent = time.monotonic() - sent
    assert process.stderr is not None
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    expected = -signal.SIGKILL if signum == signal.SIGKILL else 130
    assert process.returncode == expected, f"not stopped mid-run: {stderr}"
    return spent


def test_a_cohort_fetch_interrupted_then_killed_mid_run_resumes(tmp_path: Path) -> None:
    cohort = [
        generate_sample(tmp_path / f"p{seed}", slices=60, rows=256, columns=256, seed=seed)
        for seed in range(3)
    ]
    out = tmp_path / "out"
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    peers = [Peer(DEFAULT_OUR_AE, LOOPBACK, free_port())]
    with running(OrthancServer(tmp_path / "orthanc", peers=peers)) as server:
        server.load([o.path for s in cohort for o in s.objects])
        node = f"{server.peer.ae}@{LOOPBACK}:{server.peer.port}"
        command = [
            sys.executable, "-m", "dicomref", "fetch", node, "--out", str(out), "--db", db,
            "--query", "Modality=RTPLAN", "--associations", "4", "--json",
        ]  # fmt: skip
        # Ctrl-C with requests out on several associations: they are aborted, not awaited
        assert stop_when_stored(command, out, 20, signal.SIGINT) < 10
        stop_when_stored(command, out, len(stored_files(out)) + 20, signal.SIGKILL)
        left = len(stored_files(out))

        second = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert second.returncode == 0, second.stderr + second.stdout
    data = json.loads(second.stdout)
    union = set().union(*(closure(s, p) for s, p in plans(cohort)))
    check_store(out, union)
    assert data["held"] >= left  # what the first runs left is reused, not fetched again
    assert data["objects"] == len(union) - data["held"]
    assert all(r["complete"] for r in data["starts"])
    with Catalog(db) as catalog:
        indexed = {Path(s.path) for s in catalog.instances()}
    assert indexed == {f.absolute() for f in stored_files(out)}


@pytest.mark.parametrize("pacs", ["dcmqrscp", "orthanc"], indirect=True)
def test_a_cohort_by_c_move_over_several_associations(
    pacs: Pacs, cohort: list[Sample], tmp_path: Path
) -> None:
    """C-MOVEs share one receiver port: sent one at a time, the C-FINDs in parallel."""
    out = tmp_path / "out"
    code, text = cli(
        *fetch_args(pacs, out, f"sqlite:///{tmp_path / 'c.sqlite'}"),
        *(p.sop_instance for _, p in plans(cohort)),
        "--retrieve", "move", "--associations", "4", "--json",
    )  # fmt: skip
    assert code == 0, text
    data = json.loads(text)
    union = set().union(*(closure(s, p) for s, p in plans(cohort)))
    check_store(out, union)
    assert arrived(data["steps"]) == len(union)
    assert data["requests"]["C-MOVE"] > 0 and data["requests"]["C-GET"] == 0
    assert all(r["complete"] for r in data["starts"])
