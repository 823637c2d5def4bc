"""The capability probe against real servers (Orthanc, dcmqrscp default and strict,
pynetdicom's qrscp), each loaded with a small generated patient, and against scripted peers.
The flags measured must be what DESIGN §2 and tests/test_dimse.py established.
Run inside scripts/in-netns.sh."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dicomref._dimse._node import DEFAULT_OUR_AE, Node, Timeouts
from dicomref.catalog import Catalog
from dicomref.cli import app
from dicomref.errors import AssociationError
from dicomref.remote.planner._capabilities import Capabilities
from dicomref.remote.probing._probe import probe
from dicomref.remote.probing._report import Outcome, ProbeReport
from dicomref.sample import generate_sample
from servers import (
    LOOPBACK,
    DcmqrscpServer,
    DicomServer,
    OrthancServer,
    Peer,
    QrscpServer,
    ScriptedPeer,
    free_port,
    running,
)

TIMEOUTS = Timeouts(connect=5.0, acse=10.0, dimse=20.0, network=30.0)
TESTS = (
    "echo",
    "study_root",
    "series_listing",
    "image_level",
    "duplicate_series_rows",
    "patient_root",
    "image_query_without_parents",
    "image_query_with_empty_parents",
    "uid_list_find",
    "series_query_without_study",
    "c_get",
    "c_move",
    "uid_list_get",
    "uid_list_move",
    "get_without_parents",
    "move_without_parents",
    "sequence_return_keys",
    "max_uid_list",
)

# What every server does alike with a small patient loaded and our AE known.
COMMON = {
    "echo": True,
    "study_root": True,
    "patient_root": True,
    "image_level": True,
    "c_move": True,
    "c_get": True,
    "max_uid_list": None,
}
EXPECTED: dict[str, dict[str, bool | int | None]] = {
    "orthanc": {
        **COMMON,
        "image_query_without_parents": True,
        "image_query_with_empty_parents": True,
        "uid_list_find": True,
        "uid_list_move": True,
        "uid_list_get": True,
        "series_query_without_study": True,
        "sequence_return_keys": True,
        "move_without_parents": True,
        "get_without_parents": True,
        "duplicate_series_rows": False,
    },
    "dcmqrscp": {
        **COMMON,
        "image_query_without_parents": False,  # 0xC000
        "image_query_with_empty_parents": True,
        "uid_list_find": True,
        "uid_list_move": True,
        "uid_list_get": True,
        "series_query_without_study": True,
        "sequence_return_keys": False,
        "move_without_parents": False,  # success, 0 sub-operations, nothing sent
        "get_without_parents": False,
        "duplicate_series_rows": False,
    },
    "dcmqrscp_strict": {
        **COMMON,
        "image_query_without_parents": False,  # 0xA900
        "image_query_with_empty_parents": False,  # 0xA900
        "uid_list_find": True,
        "uid_list_move": True,
        "uid_list_get": True,
        "series_query_without_study": False,
        "sequence_return_keys": False,
        "move_without_parents": False,
        "get_without_parents": False,
        "duplicate_series_rows": False,
    },
    "qrscp": {
        **COMMON,
        "image_query_without_parents": False,  # 0xA900
        "image_query_with_empty_parents": True,
        "uid_list_find": False,  # 0xC320
        "uid_list_move": False,  # 0xA801
        "uid_list_get": False,  # 0xC413
        "series_query_without_study": True,
        "sequence_return_keys": False,
        "move_without_parents": False,
        "get_without_parents": False,
        "duplicate_series_rows": True,
    },
}
SERVERS = tuple(EXPECTED)


# -- servers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    sample = generate_sample(tmp_path_factory.mktemp("probe") / "patient", slices=4)
    return [o.path for o in sample.objects]


@pytest.fixture(scope="module")
def store_port() -> int:
    """Where our storage SCP receives C-MOVE objects; every server is told about it."""
    return free_port()


def _serve(server: DicomServer, paths: list[Path]) -> Iterator[DicomServer]:
    with running(server):
        server.load(paths)
        yield server


def _peers(store_port: int) -> list[Peer]:
    return [Peer(DEFAULT_OUR_AE, LOOPBACK, store_port)]


@pytest.fixture(scope="module")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory, patient: list[Path], store_port: int
) -> Iterator[DicomServer]:
    workdir = tmp_path_factory.mktemp("orthanc")
    server = OrthancServer(workdir, peers=_peers(store_port), check_called_aet=True)
    yield from _serve(server, patient)


@pytest.fixture(scope="module")
def dcmqrscp(
    tmp_path_factory: pytest.TempPathFactory, patient: list[Path], store_port: int
) -> Iterator[DicomServer]:
    server = DcmqrscpServer(tmp_path_factory.mktemp("dcmqrscp"), peers=_peers(store_port))
    yield from _serve(server, patient)


@pytest.fixture(scope="module")
def dcmqrscp_strict(
    tmp_path_factory: pytest.TempPathFactory, patient: list[Path], store_port: int
) -> Iterator[DicomServer]:
    workdir = tmp_path_factory.mktemp("dcmqrscp-strict")
    server = DcmqrscpServer(workdir, peers=_peers(store_port), strict=True)
    yield from _serve(server, patient)


@pytest.fixture(scope="module")
def qrscp(
    tmp_path_factory: pytest.TempPathFactory, patient: list[Path], store_port: int
) -> Iterator[DicomServer]:
    server = QrscpServer(tmp_path_factory.mktemp("qrscp"), peers=_peers(store_port))
    yield from _serve(server, patient)


def node_of(
    server: DicomServer | ScriptedPeer, store_port: int | None = None, our_ae: str = DEFAULT_OUR_AE
) -> Node:
    peer = server.peer
    return Node(
        peer.ae, peer.host, peer.port, our_ae=our_ae, store_port=store_port, timeouts=TIMEOUTS
    )


@pytest.fixture(scope="module", params=SERVERS)
def probed(request: pytest.FixtureRequest, store_port: int) -> tuple[str, ProbeReport]:
    """Each server probed once: (its name, the report)."""
    name: str = request.param
    server: DicomServer = request.getfixturevalue(name)
    return name, probe(node_of(server), store_port=store_port)


DICOMWEB_ONLY = (
    "filter_honest",
    "uid_list_repeated",
    "url_budget",
    "sequence_includefield",
    "metadata_complete",
    "bulk_data_uris",
    "metadata_cost",
    "empty_as_204",
    "retrieve_urls_correct",
    "any_transfer_syntax",
    "concurrency",
    "metadata_size",
    "study_image_query",  # learnt by a DICOMweb fetch, not probed
)


def flags(caps: Capabilities) -> dict[str, bool | int | None]:
    """The flags measured, without the time and the costs (which vary run to run: the
    probe times its retrieves, so ``request_seconds`` is set wherever one worked)."""
    values = dataclasses.asdict(caps)
    for name in ("measured_at", "request_seconds", "object_seconds", "bytes_per_second"):
        del values[name]
    for name in DICOMWEB_ONLY:  # measured on DICOMweb servers alone
        assert values.pop(name) is None, name
    assert caps.object_seconds is None and caps.bytes_per_second is None
    works = caps.c_get is True or caps.c_move is True
    assert (caps.request_seconds is not None and caps.request_seconds > 0) is works
    return values


# -- what each server does -------------------------------------------------------------------------


def test_the_probe_measures_what_each_server_does(probed: tuple[str, ProbeReport]) -> None:
    name, report = probed
    assert flags(report.capabilities) == EXPECTED[name], [
        (r.name, r.outcome.value, r.detail) for r in report.results
    ]


def test_every_test_ran_timed_on_an_instance_the_probe_found(
    probed: tuple[str, ProbeReport],
) -> None:
    _, report = probed
    assert tuple(r.name for r in report.results) == TESTS
    assert all(0 <= r.seconds < 30 for r in report.results)
    assert report.capabilities.measured_at == report.measured_at
    assert datetime.fromisoformat(report.measured_at).utcoffset() is not None
    assert report.instance is not None
    assert report.instance.series_size is not None and report.instance.series_size >= 2
    assert report.sequence_instance is not None
    assert report.sequence_instance.modality == "RTPLAN"
    assert report.result("max_uid_list").outcome is Outcome.UNKNOWN
    for result in report.results:
        assert result.status is None or result.outcome is Outcome.NO
        assert result.detail


def test_what_the_probe_says_about_refusals(probed: tuple[str, ProbeReport]) -> None:
    name, report = probed
    details = {r.name: (r.status, r.detail) for r in report.results}
    if name == "dcmqrscp":
        for test in ("move_without_parents", "get_without_parents"):
            assert details[test] == (None, "0x0000 success but 0 sub-operations — nothing sent")
        assert details["image_query_without_parents"][0] == 0xC000
    elif name == "dcmqrscp_strict":
        for test in (
            "image_query_without_parents",
            "image_query_with_empty_parents",
            "series_query_without_study",
            "move_without_parents",
            "get_without_parents",
        ):
            status, detail = details[test]
            assert status == 0xA900
            assert detail.lower().startswith("0xa900 identifier does not match sop class")
    elif name == "qrscp":
        assert details["uid_list_find"][0] == 0xC320
        assert details["uid_list_get"][0] == 0xC413
        assert details["uid_list_move"][0] == 0xA801
        assert "de-duplicated" in details["duplicate_series_rows"][1]
    else:  # Orthanc serves a list of existing UIDs, but fails a C-GET list naming an absent one
        assert "absent UID fails (0xC000" in details["uid_list_get"][1]
        assert "ReferencedStructureSetSequence" in details["sequence_return_keys"][1]
    if name != "orthanc":
        assert "dropped" in details["sequence_return_keys"][1]


@pytest.mark.parametrize(("server_name", "status"), [("dcmqrscp", 0xA801), ("orthanc", 0xC000)])
def test_a_move_to_an_ae_the_server_does_not_know_says_what_to_configure(
    request: pytest.FixtureRequest, store_port: int, server_name: str, status: int
) -> None:
    server: DicomServer = request.getfixturevalue(server_name)
    report = probe(node_of(server, store_port, our_ae="STRANGER"))
    move = report.result("c_move")
    assert (move.outcome, move.status) == (Outcome.NO, status)
    assert "STRANGER" in move.detail
    assert f"configure the server with a DICOM node STRANGER at 127.0.0.1:{store_port}" in (
        move.detail
    )
    assert report.capabilities.c_move is False
    assert report.capabilities.c_get is True
    assert report.capabilities.uid_list_move is None
    assert report.capabilities.move_without_parents is None


def test_a_probe_without_a_store_port_says_to_give_one(dcmqrscp: DicomServer) -> None:
    report = probe(node_of(dcmqrscp))
    move = report.result("c_move")
    assert move.outcome is Outcome.NO
    assert "--store-port" in move.detail
    assert report.capabilities.c_get is True


# -- failures --------------------------------------------------------------------------------------


def test_nothing_listening_aborts_with_a_clear_error() -> None:
    node = Node("NOBODY", LOOPBACK, free_port(), timeouts=TIMEOUTS)
    with pytest.raises(AssociationError, match=r"cannot probe: cannot connect.*[Rr]efused"):
        probe(node)


def test_a_rejected_association_aborts_with_the_reason(dcmqrscp: DicomServer) -> None:
    node = Node("WRONG", LOOPBACK, dcmqrscp.port, timeouts=TIMEOUTS)
    with pytest.raises(AssociationError, match=r"cannot probe: .*called AE title not recognised"):
        probe(node)


def test_a_server_with_nothing_says_so_and_measures_the_rest_as_unknown() -> None:
    with ScriptedPeer(find="answer") as peer:  # echoes the identifier: no study UID
        report = probe(node_of(peer))
    assert report.instance is None
    assert report.result("series_listing").detail.startswith("the server holds no studies")
    caps = report.capabilities
    assert (caps.echo, caps.study_root, caps.patient_root) == (True, True, False)
    measured = {"echo", "study_root", "patient_root"}
    assert all(r.outcome is Outcome.UNKNOWN for r in report.results if r.name not in measured), (
        report.results
    )


def test_one_failing_test_does_not_stop_the_probe() -> None:
    with ScriptedPeer(find="abort") as peer:
        report = probe(node_of(peer))
    assert tuple(r.name for r in report.results) == TESTS
    study = report.result("study_root")
    assert study.outcome is Outcome.UNKNOWN
    assert "aborted the association" in study.detail
    assert report.result("patient_root").outcome is Outcome.NO  # measured after the abort
    assert report.capabilities.echo is True


# -- the command -----------------------------------------------------------------------------------

runner = CliRunner()


def test_probe_command_by_name_caches_the_capabilities(
    dcmqrscp: DicomServer, store_port: int, tmp_path: Path
) -> None:
    config = tmp_path / "nodes.toml"
    config.write_text(
        f'[nodes.dcm]\nae = "{dcmqrscp.ae}"\nhost = "{LOOPBACK}"\nport = {dcmqrscp.port}\n'
        f"store_port = {store_port}\ntimeouts = {{ dimse = 20 }}\n"
    )
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    result = runner.invoke(app, ["probe", "dcm", "--config", str(config), "--db", db, "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    node = f"{dcmqrscp.ae}@{LOOPBACK}:{dcmqrscp.port}"
    assert report["node"] == node
    assert report["instance"]["sop"]
    by_name = {r["name"]: r for r in report["results"]}
    assert by_name["move_without_parents"]["outcome"] == "no"
    assert by_name["image_query_without_parents"]["status"] == 0xC000
    measured = Capabilities.from_dict(report["capabilities"])
    assert flags(measured) == EXPECTED["dcmqrscp"]
    with Catalog(db) as catalog:
        assert catalog.load_capabilities(node) == measured

    table = runner.invoke(app, ["probe", "dcm", "--config", str(config), "--db", db])
    assert table.exit_code == 0, (table.stdout, table.stderr)
    lines = table.stdout.splitlines()
    assert any("✗" in line and "move_without_parents" in line for line in lines)
    assert any("✓" in line and "image_query_with_empty_parents" in line for line in lines)
    assert "success but 0 sub-operations — nothing sent" in table.stdout
    with Catalog(db) as catalog:
        cached = catalog.load_capabilities(node)
    assert cached is not None and cached.measured_at is not None
    assert measured.measured_at is not None
    assert cached.measured_at >= measured.measured_at


def test_probe_command_with_nothing_listening_exits_5(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    config = tmp_path / "empty.toml"
    config.write_text("")
    node = f"NOBODY@{LOOPBACK}:{free_port()}"
    result = runner.invoke(app, ["probe", node, "--config", str(config), "--db", db])
    assert result.exit_code == 5, (result.stdout, result.stderr)
    assert "cannot probe" in result.stderr
    assert "refused" in result.stderr.lower()
    with Catalog(db) as catalog:
        assert catalog.load_capabilities(node) is None


def test_probe_command_with_an_unknown_name_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "nodes.toml"
    config.write_text("")
    result = runner.invoke(app, ["probe", "pacs9", "--config", str(config)])
    assert result.exit_code == 2
    assert "no node named 'pacs9'" in result.stderr
