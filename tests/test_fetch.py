"""locate and fetch against real servers: Orthanc, dcmqrscp (default and strict -XF -XM) and
pynetdicom's qrscp, each started once for the module and loaded with two generated patients.

Patient A is loaded whole; patient B without its structure set 0, so that B's plan 0 names
an object no server has.  Every fetch is checked by reading back the output folder: it must
hold exactly the objects asked for and what they reference, nothing else.  Run inside
scripts/in-netns.sh.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backends import BOTH_BACKENDS
from dicomref._dimse._node import DEFAULT_OUR_AE, Node, Timeouts
from dicomref.catalog import Catalog
from dicomref.cli import app
from dicomref.errors import AssociationError, StatusError
from dicomref.extraction import read_object
from dicomref.remote import Capabilities, FetchReport, Wanted, fetch, locate
from dicomref.sample import Sample, SampleObject, generate_sample
from dicomref.store import ManagedStore
from servers import (
    LOOPBACK,
    DcmqrscpServer,
    DicomServer,
    OrthancServer,
    Peer,
    QrscpServer,
    free_port,
    running,
)

TIMEOUTS = Timeouts(connect=5.0, acse=10.0, dimse=20.0, network=30.0)
SERVERS = ["orthanc", "dcmqrscp", "dcmqrscp_strict", "qrscp"]

#: What the probe measures on Orthanc 1.10 (DESIGN §2): flat queries, lists, sequences.
ORTHANC_MEASURED = Capabilities(
    echo=True,
    study_root=True,
    patient_root=True,
    image_level=True,
    image_query_without_parents=True,
    image_query_with_empty_parents=True,
    uid_list_find=True,
    uid_list_move=True,
    uid_list_get=True,
    series_query_without_study=True,
    c_move=True,
    c_get=True,
    sequence_return_keys=True,
    move_without_parents=True,
    get_without_parents=True,
    duplicate_series_rows=False,
    measured_at="2024-05-01T10:00:00Z",
)


# -- data and servers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patients:
    a: Sample
    b: Sample

    @property
    def lacking(self) -> SampleObject:
        """Patient B's structure set 0: named by B's plan 0, on no server."""
        return self.b.structure_sets[0]


@pytest.fixture(scope="module")
def patients(tmp_path_factory: pytest.TempPathFactory) -> Patients:
    root = tmp_path_factory.mktemp("patients")
    return Patients(
        a=generate_sample(root / "a", slices=8, seed=0),
        b=generate_sample(root / "b", slices=8, seed=1),
    )


@pytest.fixture(scope="module")
def store_port() -> int:
    return free_port()


def _serve(server: DicomServer, patients: Patients) -> Iterator[DicomServer]:
    with running(server):
        server.load([o.path for o in patients.a.objects])
        server.load([o.path for o in patients.b.objects if o != patients.lacking])
        yield server


def _peers(store_port: int) -> list[Peer]:
    return [Peer(DEFAULT_OUR_AE, LOOPBACK, store_port)]


@pytest.fixture(scope="module")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory, patients: Patients, store_port: int
) -> Iterator[DicomServer]:
    server = OrthancServer(
        tmp_path_factory.mktemp("orthanc"), peers=_peers(store_port), check_called_aet=True
    )
    yield from _serve(server, patients)


@pytest.fixture(scope="module")
def dcmqrscp(
    tmp_path_factory: pytest.TempPathFactory, patients: Patients, store_port: int
) -> Iterator[DicomServer]:
    server = DcmqrscpServer(tmp_path_factory.mktemp("dcmqrscp"), peers=_peers(store_port))
    yield from _serve(server, patients)


@pytest.fixture(scope="module")
def dcmqrscp_strict(
    tmp_path_factory: pytest.TempPathFactory, patients: Patients, store_port: int
) -> Iterator[DicomServer]:
    server = DcmqrscpServer(
        tmp_path_factory.mktemp("dcmqrscp-strict"), peers=_peers(store_port), strict=True
    )
    yield from _serve(server, patients)


@pytest.fixture(scope="module")
def qrscp(
    tmp_path_factory: pytest.TempPathFactory, patients: Patients, store_port: int
) -> Iterator[DicomServer]:
    server = QrscpServer(tmp_path_factory.mktemp("qrscp"), peers=_peers(store_port))
    yield from _serve(server, patients)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> DicomServer:
    """The server named by the test's ``server`` parameter."""
    found: DicomServer = request.getfixturevalue(request.param)
    return found


def node_of(server: DicomServer, store_port: int, *, ae: str | None = None) -> Node:
    peer = server.peer
    return Node(ae or peer.ae, peer.host, peer.port, store_port=store_port, timeouts=TIMEOUTS)


def node_text(server: DicomServer) -> str:
    return f"{server.peer.ae}@{server.peer.host}:{server.peer.port}"


# -- helpers ---------------------------------------------------------------------------------------


def held_uids(folder: Path) -> list[str]:
    """The SOP Instance UIDs of every file in ``folder``, read back (one per file)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sorted(read_object(p).sop_instance for p in files)


def uids_of(*objects: SampleObject) -> list[str]:
    return sorted(o.sop_instance for o in objects)


def chain_of_plan_0(sample: Sample) -> list[SampleObject]:
    """Plan 0, structure set 0, and the CT slices its contours lie on (all of them here)."""
    return [sample.plans[0], sample.structure_sets[0], *sample.ct]


def run_fetch(
    server: DicomServer,
    store_port: int,
    out: Path,
    starts: list[str | Path],
    *,
    catalog: Catalog | None = None,
    capabilities: Capabilities | None = None,
    follow: bool = True,
    with_dependents: bool = False,
) -> FetchReport:
    return fetch(
        node_of(server, store_port),
        starts,
        out=ManagedStore(out, fsync=False),
        catalog=catalog,
        capabilities=capabilities,
        follow=follow,
        with_dependents=with_dependents,
    )


# -- the seed case ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "catalog_backend"),
    [*((server, "sqlite") for server in SERVERS), ("dcmqrscp", "postgresql")],
    indirect=True,
)
def test_a_plan_uid_brings_its_structure_set_and_ct_and_nothing_else(
    server: DicomServer, store_port: int, patients: Patients, tmp_path: Path, catalog_url: str
) -> None:
    sample = patients.a
    catalog = Catalog(catalog_url)
    report = run_fetch(
        server, store_port, tmp_path / "out", [sample.plans[0].sop_instance], catalog=catalog
    )
    assert held_uids(tmp_path / "out") == uids_of(*chain_of_plan_0(sample))
    assert report.missing == ()
    assert (report.objects, report.held, report.discarded, report.refused) == (10, 0, 0, 0)
    assert report.bytes == sum(p.stat().st_size for p in (tmp_path / "out").rglob("*.dcm"))
    assert report.associations == 1
    assert report.requests.c_find >= 1
    assert report.requests.c_move + report.requests.c_get >= 2
    whole = report.whole_study
    assert whole is not None
    assert whole.studies == (sample.plans[0].study,)
    assert whole.objects == 15
    assert report.saved is not None and 0.0 < report.saved < 0.5
    # every object fetched is indexed, at its place in the store
    structure_set = catalog.locate(sample.structure_sets[0].sop_instance)
    assert [Path(s.path).parent.parent.parent for s in structure_set] == [tmp_path / "out"]
    catalog.close()

    # a rerun asks the server for nothing: everything is held, nothing duplicated
    again = run_fetch(server, store_port, tmp_path / "out", [sample.plans[0].sop_instance])
    assert held_uids(tmp_path / "out") == uids_of(*chain_of_plan_0(sample))
    assert (again.objects, again.held, again.requests.total, again.associations) == (0, 10, 0, 0)
    assert again.whole_study is None


@pytest.mark.parametrize("server", SERVERS, indirect=True)
def test_a_plan_file_brings_what_it_references(
    server: DicomServer, store_port: int, patients: Patients, tmp_path: Path
) -> None:
    sample = patients.a
    report = run_fetch(server, store_port, tmp_path / "out", [sample.plans[0].path])
    assert held_uids(tmp_path / "out") == uids_of(*chain_of_plan_0(sample)[1:])
    assert (report.objects, report.missing) == (9, ())


@pytest.mark.parametrize("server", SERVERS, indirect=True)
def test_with_dependents_brings_the_dose_of_the_plan_and_not_the_other_plan(
    server: DicomServer, store_port: int, patients: Patients, tmp_path: Path
) -> None:
    sample = patients.a
    report = run_fetch(
        server,
        store_port,
        tmp_path / "out",
        [sample.plans[0].sop_instance],
        with_dependents=True,
    )
    assert held_uids(tmp_path / "out") == uids_of(*chain_of_plan_0(sample), sample.dose)
    assert sample.plans[1].sop_instance not in held_uids(tmp_path / "out")
    assert report.dependents == 1
    assert report.missing == ()


@pytest.mark.parametrize("server", SERVERS, indirect=True)
def test_dependents_of_a_structure_set_are_its_plans_and_doses(
    server: DicomServer, store_port: int, patients: Patients, tmp_path: Path
) -> None:
    """Without sequence return keys the RTPLAN and RTDOSE series are retrieved whole and
    read: plan 1 (on structure set 1) moves, is discarded and counted; every candidate
    series is retrieved once, though the dependents are searched in two rounds."""
    sample = patients.a
    structure_set = sample.structure_sets[0]
    report = run_fetch(
        server, store_port, tmp_path / "out", [structure_set.sop_instance], with_dependents=True
    )
    expected = [structure_set, *sample.ct, sample.plans[0], sample.dose]
    assert held_uids(tmp_path / "out") == uids_of(*expected)
    assert (report.dependents, report.discarded) == (2, 1)
    assert report.discarded_bytes > 0
    series_retrieves = [s for s in report.steps if "SERIES: retrieve" in s and "to read" in s]
    assert len(series_retrieves) == 3  # RTPLAN x2, RTDOSE: once each


@pytest.mark.parametrize("server", SERVERS, indirect=True)
def test_an_object_the_server_lacks_is_reported_missing(
    server: DicomServer, store_port: int, patients: Patients, tmp_path: Path
) -> None:
    sample = patients.b
    report = run_fetch(server, store_port, tmp_path / "out", [sample.plans[0].path])
    assert held_uids(tmp_path / "out") == []
    (missing,) = report.missing
    assert missing.uid == patients.lacking.sop_instance
    assert missing.what == "RT Structure Set"
    assert missing.named_by is not None
    assert "ReferencedStructureSetSequence[0]" in missing.named_by
    assert sample.plans[0].path.name in missing.named_by
    assert "not" in missing.reason
    assert sample.plans[0].study in missing.reason or "whole server" in missing.reason


@pytest.mark.parametrize("server", SERVERS, indirect=True)
def test_no_follow_stops_at_the_first_level(
    server: DicomServer, store_port: int, patients: Patients, tmp_path: Path
) -> None:
    sample = patients.a
    report = run_fetch(server, store_port, tmp_path / "out", [sample.plans[0].path], follow=False)
    assert held_uids(tmp_path / "out") == uids_of(sample.structure_sets[0])
    assert report.objects == 1


@pytest.mark.parametrize("server", SERVERS, indirect=True)
def test_locate(server: DicomServer, store_port: int, patients: Patients) -> None:
    sample = patients.a
    structure_set = sample.structure_sets[0]
    hint = Wanted(structure_set.sop_instance, study=structure_set.study)
    absent = patients.lacking.sop_instance
    report = locate(
        node_of(server, store_port),
        [sample.plans[0].sop_instance, structure_set.sop_instance, absent],
        hints=[hint],
    )
    plan, found, missing = report.objects
    assert plan.key is not None and plan.key.series == sample.plans[0].series
    assert plan.key.study == sample.plans[0].study
    assert found.key is not None and found.key.series == structure_set.series
    assert missing.key is None and missing.reason
    assert report.requests.c_move == report.requests.c_get == 0
    assert report.associations == 1


@pytest.mark.parametrize("server", SERVERS, indirect=True)
def test_an_interrupted_fetch_resumes(
    server: DicomServer, store_port: int, patients: Patients, tmp_path: Path
) -> None:
    """What is in the output folder already (here: the structure set, from a first fetch
    that stopped at the first level) is not asked for again."""
    sample = patients.a
    run_fetch(server, store_port, tmp_path / "out", [sample.plans[0].path], follow=False)
    report = run_fetch(server, store_port, tmp_path / "out", [sample.plans[0].sop_instance])
    assert held_uids(tmp_path / "out") == uids_of(*chain_of_plan_0(sample))
    assert (report.objects, report.held) == (9, 1)


@BOTH_BACKENDS
def test_objects_in_the_catalog_are_not_fetched_and_it_gives_hints(
    dcmqrscp_strict: DicomServer,
    store_port: int,
    patients: Patients,
    tmp_path: Path,
    make_catalog_url: Callable[[str], str],
) -> None:
    sample = patients.a
    with Catalog(make_catalog_url("all")) as catalog:
        catalog.scan([sample.root], workers=1)
        report = run_fetch(
            dcmqrscp_strict,
            store_port,
            tmp_path / "out",
            [sample.plans[0].sop_instance],
            catalog=catalog,
        )
    assert (report.objects, report.held, report.requests.total, report.associations) == (
        0,
        10,
        0,
        0,
    )
    # a catalog that knows only the plan: the structure set it names is searched in the
    # plan's study (a bare UID otherwise sends a strict server through every study)
    with Catalog(make_catalog_url("plan")) as catalog:
        catalog.scan([sample.plans[0].path], workers=1)
        report = run_fetch(
            dcmqrscp_strict,
            store_port,
            tmp_path / "out",
            [sample.structure_sets[0].sop_instance],
            catalog=catalog,
        )
    assert held_uids(tmp_path / "out") == uids_of(*chain_of_plan_0(sample)[1:])
    assert not [s for s in report.steps if "studies on the server" in s]


# -- measured capabilities (Orthanc): flat queries, lists, sequences read by C-FIND -------------


def test_orthanc_with_measured_capabilities(
    orthanc: DicomServer, store_port: int, patients: Patients, tmp_path: Path
) -> None:
    sample = patients.a
    report = run_fetch(
        orthanc,
        store_port,
        tmp_path / "out",
        [sample.plans[0].sop_instance],
        capabilities=ORTHANC_MEASURED,
        with_dependents=True,
    )
    assert held_uids(tmp_path / "out") == uids_of(*chain_of_plan_0(sample), sample.dose)
    assert report.discarded == 0
    assert report.requests.c_move == 0  # C-GET measured: preferred under "auto"


# -- the command line ------------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@BOTH_BACKENDS
def test_cli_fetch_json_and_exit_status(
    dcmqrscp: DicomServer, store_port: int, patients: Patients, tmp_path: Path, catalog_url: str
) -> None:
    db = catalog_url
    common = ["--store-port", str(store_port), "--db", db, "--out", str(tmp_path / "out")]
    code, out, _ = cli(
        "fetch", node_text(dcmqrscp), str(patients.a.plans[0].path), *common, "--json"
    )
    assert code == 0, out
    data = json.loads(out)
    assert data["objects"] == 9
    assert data["missing"] == []
    assert set(data["requests"]) == {"C-FIND", "C-MOVE", "C-GET"}
    assert data["associations"] == 1
    assert data["steps"]

    code, out, err = cli("fetch", node_text(dcmqrscp), str(patients.b.plans[0].path), *common)
    assert code == 1, err
    assert patients.lacking.sop_instance in out
    assert "RT Structure Set" in out


def test_cli_locate(dcmqrscp: DicomServer, store_port: int, patients: Patients) -> None:
    uid = patients.a.plans[0].sop_instance
    code, out, err = cli("locate", node_text(dcmqrscp), uid, "--json")
    assert code == 0, err
    (entry,) = json.loads(out)["objects"]
    assert entry["uid"] == uid
    assert entry["series"] == patients.a.plans[0].series
    code, out, err = cli("locate", node_text(dcmqrscp), patients.lacking.sop_instance)
    assert code == 1


def test_rejected_association_is_a_clear_error(
    orthanc: DicomServer, store_port: int, patients: Patients, tmp_path: Path
) -> None:
    node = dataclasses.replace(node_of(orthanc, store_port), ae_title="WRONG")
    with pytest.raises(AssociationError, match="called AE title not recognised"):
        fetch(node, [patients.a.plans[0].path], out=ManagedStore(tmp_path / "out"))
    wrong = f"WRONG@{orthanc.peer.host}:{orthanc.peer.port}"
    code, _, err = cli(
        "fetch", wrong, str(patients.a.plans[0].path), "--out", str(tmp_path / "out"),
        "--db", f"sqlite:///{tmp_path / 'c.sqlite'}",
    )  # fmt: skip
    assert code == 5
    assert "rejected" in err


def test_a_move_destination_the_server_does_not_know_is_a_clear_error(
    dcmqrscp: DicomServer, store_port: int, patients: Patients, tmp_path: Path
) -> None:
    """dcmqrscp answers 0xA801 when it does not know our AE title: with C-MOVE asked for,
    raised, not planned around (no other plan can fix where the server sends to).  Under
    "auto" C-GET is bet on first, and it needs no destination."""
    node = dataclasses.replace(node_of(dcmqrscp, store_port), our_ae="STRANGER")
    with pytest.raises(StatusError) as caught:
        fetch(node, [patients.a.plans[0].path], out=ManagedStore(tmp_path / "out"), retrieve="move")
    assert caught.value.status == 0xA801
    assert "destination" in str(caught.value)
    code, _, err = cli(
        "fetch", node_text(dcmqrscp), str(patients.a.plans[0].path), "--ae", "STRANGER",
        "--store-port", str(store_port), "--out", str(tmp_path / "out"),
        "--db", f"sqlite:///{tmp_path / 'c.sqlite'}", "--retrieve", "move",
    )  # fmt: skip
    assert code == 5
    assert "0xA801" in err
    report = fetch(node, [patients.a.plans[0].path], out=ManagedStore(tmp_path / "auto"))
    assert report.missing == () and report.requests.c_move == 0


def test_nothing_listening_is_a_clear_error(patients: Patients, tmp_path: Path) -> None:
    port = free_port()
    node = Node("NOBODY", LOOPBACK, port, timeouts=TIMEOUTS)
    with pytest.raises(AssociationError, match=r"[Rr]efused"):
        fetch(node, [patients.a.plans[0].path], out=ManagedStore(tmp_path / "out"))
    code, _, err = cli(
        "fetch", f"NOBODY@{LOOPBACK}:{port}", patients.a.plans[0].sop_instance,
        "--out", str(tmp_path / "out"), "--db", f"sqlite:///{tmp_path / 'c.sqlite'}",
    )  # fmt: skip
    assert code == 5
    assert "refused" in err.lower()
