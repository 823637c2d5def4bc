"""The first fetch from a server dicomref has never probed, and the next one, on real servers.

The subset case (:mod:`subset_case`): plan 0 -> structure set 0, whose contours lie on the
middle 60 of the planning CT's 120 slices while its RTReferencedSeriesSequence lists all
120, as real planning systems write it; plus the dose of plan 0 (a dependent).  Each
server is started once for the module: Orthanc, dcmqrscp (default and strict -XF -XM),
all of which answer UID lists, and pynetdicom's qrscp, which answers none.  Every fetch
starts from a new catalog and no probe, and must bring exactly the structure set, the 60
slices and the dose, in a handful of requests; the second fetch on the same catalog must
start from what the first learnt.  Run inside scripts/in-netns.sh.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dicomref._dimse._node import DEFAULT_OUR_AE, Node, Timeouts
from dicomref.catalog import Catalog
from dicomref.extraction import read_object
from dicomref.remote import Capabilities, FetchReport, fetch, probe
from dicomref.sample import Sample, generate_sample
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
from subset_case import middle, trim_structure_set

TIMEOUTS = Timeouts(connect=5.0, acse=10.0, dimse=20.0, network=30.0)
SLICES = 120
NAMED = 60
MAX_RETRIEVES = 6
MATRIX = 128
"""32 KB slices: the 60 move 2 MB, enough to measure a throughput."""


@dataclass(frozen=True)
class Case:
    sample: Sample
    named: frozenset[str]
    """The CT slices the contours of structure set 0 lie on."""

    @property
    def exact(self) -> frozenset[str]:
        """What a fetch of plan 0 (the file) with dependents must bring."""
        sample = self.sample
        return self.named | {sample.structure_sets[0].sop_instance, sample.dose.sop_instance}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    folder = tmp_path_factory.mktemp("subset") / "p"
    sample = generate_sample(folder, slices=SLICES, rows=MATRIX, columns=MATRIX)
    named = trim_structure_set(sample.structure_sets[0].path, middle(sample.ct, NAMED))
    assert len(named) == NAMED
    return Case(sample, named)


@pytest.fixture(scope="module")
def store_port() -> int:
    return free_port()


def _serve(server: DicomServer, case: Case) -> Iterator[DicomServer]:
    with running(server):
        server.load([o.path for o in case.sample.objects])
        yield server


def _peers(store_port: int) -> list[Peer]:
    return [Peer(DEFAULT_OUR_AE, LOOPBACK, store_port)]


@pytest.fixture(scope="module")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory, case: Case, store_port: int
) -> Iterator[DicomServer]:
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"), peers=_peers(store_port))
    yield from _serve(server, case)


@pytest.fixture(scope="module")
def dcmqrscp(
    tmp_path_factory: pytest.TempPathFactory, case: Case, store_port: int
) -> Iterator[DicomServer]:
    server = DcmqrscpServer(tmp_path_factory.mktemp("dcmqrscp"), peers=_peers(store_port))
    yield from _serve(server, case)


@pytest.fixture(scope="module")
def dcmqrscp_strict(
    tmp_path_factory: pytest.TempPathFactory, case: Case, store_port: int
) -> Iterator[DicomServer]:
    server = DcmqrscpServer(
        tmp_path_factory.mktemp("dcmqrscp-strict"), peers=_peers(store_port), strict=True
    )
    yield from _serve(server, case)


@pytest.fixture(scope="module")
def qrscp(
    tmp_path_factory: pytest.TempPathFactory, case: Case, store_port: int
) -> Iterator[DicomServer]:
    server = QrscpServer(tmp_path_factory.mktemp("qrscp"), peers=_peers(store_port))
    yield from _serve(server, case)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> DicomServer:
    found: DicomServer = request.getfixturevalue(request.param)
    return found


def node_of(server: DicomServer, store_port: int) -> Node:
    peer = server.peer
    return Node(peer.ae, peer.host, peer.port, store_port=store_port, timeouts=TIMEOUTS)


def held(folder: Path) -> frozenset[str]:
    return frozenset(read_object(p).sop_instance for p in folder.rglob("*.dcm"))


def run(server: DicomServer, store_port: int, case: Case, out: Path, db: Path) -> FetchReport:
    with Catalog(f"sqlite:///{db}") as catalog:
        return fetch(
            node_of(server, store_port),
            [case.sample.plans[0].path],
            out=ManagedStore(out, fsync=False),
            catalog=catalog,
            with_dependents=True,
        )


def retrieves(report: FetchReport) -> int:
    return report.requests.c_move + report.requests.c_get


LISTS = ["orthanc", "dcmqrscp", "dcmqrscp_strict"]


@pytest.mark.parametrize("server", LISTS, indirect=True)
def test_a_cold_fetch_bets_on_lists_and_the_next_one_starts_warm(
    server: DicomServer, store_port: int, case: Case, tmp_path: Path
) -> None:
    db = tmp_path / "catalog.sqlite"
    cold = run(server, store_port, case, tmp_path / "cold", db)
    assert held(tmp_path / "cold") == case.exact
    assert (cold.missing, cold.discarded, cold.refused) == ((), 0, 0)
    assert retrieves(cold) <= MAX_RETRIEVES
    assert any("not measured, trying a list" in s for s in cold.steps)
    assert cold.capabilities.uid_list_get is True  # "auto" bets on C-GET while unmeasured
    assert cold.capabilities.request_seconds is not None
    with Catalog(f"sqlite:///{db}") as catalog:
        stored = catalog.load_capabilities(str(node_of(server, store_port)))
    assert stored is not None
    # the 60 slices, hinted by the structure set, were retrieved in a list straight from
    # their series: no search for them, so lists in C-FIND are still unmeasured
    assert not any("locate 60 objects" in s for s in cold.steps), cold.steps
    assert (stored.uid_list_find, stored.uid_list_get, stored.c_get) == (None, True, True)
    assert stored.request_seconds is not None and stored.bytes_per_second is not None

    # the files are gone: the next fetch on the same catalog fetches them again, warm
    shutil.rmtree(tmp_path / "cold")
    warm = run(server, store_port, case, tmp_path / "warm", db)
    assert held(tmp_path / "warm") == case.exact
    assert not [s for s in warm.steps if "not measured" in s]
    assert retrieves(warm) <= retrieves(cold)
    listed = [s for s in warm.steps if "list of 60" in s and "measured" in s]
    assert listed, warm.steps


def test_a_cold_fetch_without_lists_takes_the_series_rather_than_60_singles(
    qrscp: DicomServer, store_port: int, case: Case, tmp_path: Path
) -> None:
    db = tmp_path / "catalog.sqlite"
    cold = run(qrscp, store_port, case, tmp_path / "cold", db)
    assert held(tmp_path / "cold") == case.exact
    assert cold.missing == ()
    assert retrieves(cold) <= MAX_RETRIEVES
    assert cold.discarded == SLICES - NAMED  # the series came whole; the rest was dropped
    assert any("whole: 60 singles ~" in s for s in cold.steps), cold.steps
    with Catalog(f"sqlite:///{db}") as catalog:
        stored = catalog.load_capabilities(str(node_of(qrscp, store_port)))
    assert stored is not None
    assert (stored.uid_list_find, stored.uid_list_get, stored.c_get) == (False, False, True)

    # warm: no list is tried again; singles or the series, by the costs the first measured
    shutil.rmtree(tmp_path / "cold")
    warm = run(qrscp, store_port, case, tmp_path / "warm", db)
    assert held(tmp_path / "warm") == case.exact
    assert not [s for s in warm.steps if "trying a list" in s or "failed" in s]
    (choice,) = [s for s in warm.steps if "60 singles ~" in s or "singles ~" in s]
    assert "measured" in choice
    assert warm.discarded in (0, SLICES - NAMED)


def test_a_fetch_after_a_probe_keeps_what_the_probe_measured(
    dcmqrscp: DicomServer, store_port: int, case: Case, tmp_path: Path
) -> None:
    node = node_of(dcmqrscp, store_port)
    probed = probe(node).capabilities
    db = tmp_path / "catalog.sqlite"
    with Catalog(f"sqlite:///{db}") as catalog:
        catalog.save_capabilities(str(node), probed)
    report = run(dcmqrscp, store_port, case, tmp_path / "out", db)
    assert held(tmp_path / "out") == case.exact
    assert not [s for s in report.steps if "not measured" in s]  # it started from the probe
    with Catalog(f"sqlite:///{db}") as catalog:
        stored = catalog.load_capabilities(str(node))
    assert stored is not None
    for field in dataclasses.fields(Capabilities):
        measured = getattr(probed, field.name)
        if measured is not None and field.name not in ("request_seconds",):
            assert getattr(stored, field.name) == measured, field.name
    assert stored.bytes_per_second is not None and stored.object_seconds is not None
