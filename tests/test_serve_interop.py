"""``dicomref serve`` against clients nobody here wrote: DCMTK's echoscu, findscu, movescu
(into DCMTK's storescp), getscu and storescu; pynetdicom's findscu, movescu and getscu;
Orthanc pulling from us and pushed to by us; and strict mode side by side with DCMTK's
``dcmqrscp -XF -XM`` on the same requests.  Every test asserts on what arrived or what
was answered, not on exit codes alone.

DCMTK's storescp, dcmqrscp and Orthanc listen on every interface: run this module in a
private network namespace (``scripts/in-netns.sh .venv/bin/pytest tests/test_serve*.py``);
elsewhere those tests skip (and fail when CI is "true").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.transport import ThreadedAssociationServer

from dicomref.catalog import Catalog
from dicomref.remote.transport._dimse_client import DimseClient
from dicomref.sample import Sample, generate_sample
from dicomref.server import Destination, ServerConfig
from serve_support import (
    STUDY_FIND,
    STUDY_GET,
    STUDY_MOVE,
    Served,
    catalog_of,
    node,
    query,
    raw_association,
    start,
)
from servers import (
    LOOPBACK,
    DcmqrscpServer,
    ManagedProcess,
    OrthancServer,
    Peer,
    ServerUnavailableError,
    clone_ct,
    dcmtk_for_test,
    port_open,
    require_private_netns,
    running,
    unavailable,
)

AE_TITLE = "DICOMREF_QR"
SLICES = 8
TIMEOUT = 60.0


@dataclass(frozen=True)
class Ports:
    """Ports fixed before anything starts: every peer must know the others'."""

    ours: int
    storescp: int
    pymove: int
    sink: int


@pytest.fixture(scope="module")
def ports() -> Ports:
    from servers import free_ports

    return Ports(*free_ports(4))


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return generate_sample(tmp_path_factory.mktemp("interop") / "patient", slices=SLICES)


@pytest.fixture(scope="module")
def url(patient: Sample, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("catalog")
    return catalog_of([patient.root], f"sqlite:///{folder / 'catalog.sqlite'}")


@pytest.fixture(scope="module")
def orthanc_setup(tmp_path_factory: pytest.TempPathFactory, ports: Ports) -> OrthancServer:
    """Orthanc, not started yet: its ports are chosen, so our server can name it."""
    return OrthancServer(
        tmp_path_factory.mktemp("orthanc"), peers=[Peer(AE_TITLE, LOOPBACK, ports.ours)]
    )


@pytest.fixture(scope="module")
def orthanc(orthanc_setup: OrthancServer, served: Served) -> Iterator[OrthancServer]:
    with running(orthanc_setup):
        yield orthanc_setup


@pytest.fixture(scope="module")
def served(
    url: str,
    ports: Ports,
    orthanc_setup: OrthancServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    config = ServerConfig(
        port=ports.ours,
        store=tmp_path_factory.mktemp("store"),
        destinations=(
            Destination("STORESCP", LOOPBACK, ports.storescp),
            Destination("PYMOVE", LOOPBACK, ports.pymove),
            Destination("ORTHANC", LOOPBACK, orthanc_setup.port),
        ),
    )
    running_server = start(config, url)
    yield running_server
    running_server.server.stop()


@pytest.fixture(scope="module")
def storescp(tmp_path_factory: pytest.TempPathFactory, ports: Ports) -> Iterator[Path]:
    """DCMTK's storescp (AE STORESCP) writing what it receives into the yielded folder."""
    program = dcmtk_for_test("storescp")
    try:
        require_private_netns("storescp")
    except ServerUnavailableError as exc:
        unavailable(str(exc))
    folder = tmp_path_factory.mktemp("storescp")
    process = ManagedProcess(
        [
            program,
            "--aetitle",
            "STORESCP",
            "--output-directory",
            str(folder),
            str(ports.storescp),
        ],
        folder / "storescp.log",
        env=_dcmtk_env(),
    )
    process.start()
    process.wait_ready(lambda: port_open(LOOPBACK, ports.storescp), 20, "storescp")
    yield folder
    process.stop()


def _dcmtk_env() -> dict[str, str]:
    return {**os.environ, "TCP_NODELAY": "1"}  # see servers.DcmtkNetworkMixin


def run(argv: Sequence[str], cwd: Path | None = None, *, dcmtk: bool = True) -> str:
    """Run a client program (``dcmtk``: DCMTK's program of the name ``argv[0]``); its
    combined output.  Fails the test on a non-zero exit."""
    if dcmtk:
        argv = [dcmtk_for_test(argv[0]), *argv[1:]]
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_dcmtk_env(),
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{output}"
    return output


def read_folder(folder: Path, pattern: str = "*") -> dict[str, Dataset]:
    """SOP Instance UID → dataset of every DICOM file in ``folder`` (logs skipped)."""
    found: dict[str, Dataset] = {}
    for path in sorted(folder.glob(pattern)):
        if path.is_file() and path.suffix not in (".log", ".txt"):
            ds = pydicom.dcmread(path, force=True)
            found[str(ds.get("SOPInstanceUID", path.name))] = ds
    return found


def dcmtk(program: str, port: int, *options: str) -> list[str]:
    return [program, "-aec", AE_TITLE, *options, LOOPBACK, str(port)]


def pynetdicom_app(app: str, port: int, *options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pynetdicom",
        app,
        LOOPBACK,
        str(port),
        "-aec",
        AE_TITLE,
        *options,
    ]


def keys(**values: str) -> list[str]:
    out = []
    for keyword, value in values.items():
        out += ["-k", f"{keyword}={value}"]
    return out


# -- DCMTK -------------------------------------------------------------------------------------


def test_dcmtk_echoscu(served: Served) -> None:
    output = run(dcmtk("echoscu", served.port, "-v"))
    assert "Received Echo Response (Success)" in output


def test_dcmtk_findscu(served: Served, patient: Sample, tmp_path: Path) -> None:
    """Study root IMAGE by SOP UID alone with a sequence return key; a UID list; the
    patient root."""
    plan = patient.plans[0]
    out = tmp_path / "plan"
    out.mkdir()
    run(
        dcmtk("findscu", served.port, "-S", "-X", "-od", str(out))
        + keys(QueryRetrieveLevel="IMAGE", SOPInstanceUID=plan.sop_instance)
        + ["-k", "ReferencedStructureSetSequence", "-k", "SeriesInstanceUID"]
    )
    [answer] = read_folder(out, "rsp*").values()
    assert answer.SeriesInstanceUID == plan.series
    referenced = answer.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID
    assert referenced == patient.structure_sets[0].sop_instance

    ct = [o.sop_instance for o in patient.ct[:3]]
    out = tmp_path / "list"
    out.mkdir()
    run(
        dcmtk("findscu", served.port, "-S", "-X", "-od", str(out))
        + keys(QueryRetrieveLevel="IMAGE", SOPInstanceUID="\\".join(ct), InstanceNumber="")
    )
    assert set(read_folder(out, "rsp*")) == set(ct)

    out = tmp_path / "patient"
    out.mkdir()
    run(
        dcmtk("findscu", served.port, "-P", "-X", "-od", str(out))
        + keys(QueryRetrieveLevel="STUDY", PatientID=patient.patient_id, StudyInstanceUID="")
    )
    answers = read_folder(out, "rsp*").values()
    assert {a.StudyInstanceUID for a in answers} == set(patient.study_uids)


def test_dcmtk_movescu_into_storescp(served: Served, patient: Sample, storescp: Path) -> None:
    ct = patient.ct[0]
    run(
        dcmtk("movescu", served.port, "-S", "-aem", "STORESCP")
        + keys(QueryRetrieveLevel="SERIES", StudyInstanceUID=ct.study, SeriesInstanceUID=ct.series)
    )
    arrived = read_folder(storescp)
    assert {o.sop_instance for o in patient.ct} <= set(arrived)
    wanted = [patient.dose.sop_instance, patient.seg.sop_instance]
    run(
        dcmtk("movescu", served.port, "-S", "-aem", "STORESCP")
        + keys(QueryRetrieveLevel="IMAGE", SOPInstanceUID="\\".join(wanted))
    )
    assert set(wanted) <= set(read_folder(storescp))


def test_dcmtk_getscu(served: Served, patient: Sample, tmp_path: Path) -> None:
    wanted = [patient.ct[2].sop_instance, patient.plans[1].sop_instance]
    run(
        dcmtk("getscu", served.port, "-S", "-od", str(tmp_path))
        + keys(QueryRetrieveLevel="IMAGE", SOPInstanceUID="\\".join(wanted))
    )
    assert set(read_folder(tmp_path)) == set(wanted)


def test_dcmtk_storescu(served: Served, tmp_path: Path) -> None:
    paths = clone_ct(tmp_path / "in", 3, patient_id="FROM-STORESCU")
    run(["storescu", "-aec", AE_TITLE, LOOPBACK, str(served.port), *[str(p) for p in paths]])
    sent = {str(pydicom.dcmread(p).SOPInstanceUID) for p in paths}
    with DimseClient(node(served.server)) as client:
        rows = client.find("IMAGE", query(PatientID="FROM-STORESCU", SOPInstanceUID=""))
    assert {r.SOPInstanceUID for r in rows} == sent


# -- pynetdicom's applications ----------------------------------------------------------------


def test_pynetdicom_findscu_relational(served: Served, patient: Sample, tmp_path: Path) -> None:
    run(
        pynetdicom_app("findscu", served.port, "-S", "--relational-query", "-w")
        + keys(
            QueryRetrieveLevel="SERIES",
            PatientID=patient.patient_id,
            Modality="RTPLAN",
            SeriesInstanceUID="",
        ),
        cwd=tmp_path,
        dcmtk=False,
    )
    answers = read_folder(tmp_path, "rsp*").values()
    assert {a.SeriesInstanceUID for a in answers} == {p.series for p in patient.plans}


def test_pynetdicom_movescu(served: Served, patient: Sample, ports: Ports, tmp_path: Path) -> None:
    wanted = patient.structure_sets[1].sop_instance
    run(
        pynetdicom_app(
            "movescu",
            served.port,
            "-S",
            "--store",
            "--store-port",
            str(ports.pymove),
            "--store-aet",
            "PYMOVE",
            "-aem",
            "PYMOVE",
            "-od",
            str(tmp_path),
        )
        + keys(QueryRetrieveLevel="IMAGE", SOPInstanceUID=wanted),
        dcmtk=False,
    )
    assert set(read_folder(tmp_path)) == {wanted}


def test_pynetdicom_getscu(served: Served, patient: Sample, tmp_path: Path) -> None:
    second = patient.by_role("second_study_ct")
    run(
        pynetdicom_app("getscu", served.port, "-S", "-od", str(tmp_path))
        + keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=second[0].study),
        dcmtk=False,
    )
    study = {o.sop_instance for o in patient.objects if o.study == second[0].study}
    assert set(read_folder(tmp_path)) == study


# -- strict mode beside dcmqrscp -XF -XM -------------------------------------------------------


class _Sink:
    """A storage SCP (AE DEST) recording the SOP Instance UIDs it receives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: set[str] = set()
        self._server: ThreadedAssociationServer | None = None

    def __enter__(self) -> _Sink:
        ae = AE("DEST")
        for context in AllStoragePresentationContexts:
            assert context.abstract_syntax is not None
            ae.add_supported_context(context.abstract_syntax)
        self._server = ae.start_server(
            (LOOPBACK, self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)]
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()

    def _on_store(self, event: Any) -> int:
        self.received.add(str(event.request.AffectedSOPInstanceUID))
        return 0x0000


@pytest.fixture(scope="module")
def side_by_side(
    patient: Sample, ports: Ports, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, int, _Sink]]:
    """(dcmqrscp -XF -XM port, our strict server's port, the move destination), both
    holding exactly the patient's files."""
    dest = Peer("DEST", LOOPBACK, ports.sink)
    folder = tmp_path_factory.mktemp("strict")
    dcmqrscp = DcmqrscpServer(folder / "dcmqrscp", peers=[dest], strict=True)
    url = catalog_of([patient.root], f"sqlite:///{folder / 'catalog.sqlite'}")
    ours = start(
        ServerConfig(
            ae_title="DCMQRSCP",
            port=0,
            strict=True,
            destinations=(Destination("DEST", LOOPBACK, ports.sink),),
        ),
        url,
    )
    try:
        with running(dcmqrscp), _Sink(ports.sink) as sink:
            dcmqrscp.load(patient.paths)
            yield dcmqrscp.port, ours.port, sink
    finally:
        ours.server.stop()


def _cases(patient: Sample) -> list[tuple[str, Dataset]]:
    ct, plan = patient.ct[0], patient.plans[0]
    study, series, sop = ct.study, ct.series, ct.sop_instance
    two = [ct.sop_instance, patient.ct[1].sop_instance]
    return [
        ("study: study uid", query("STUDY", StudyInstanceUID=study)),
        ("study: zero-length study uid", query("STUDY", StudyInstanceUID="")),
        ("study: study uid list", query("STUDY", StudyInstanceUID=[study, "1.2.3"])),
        ("study: key below the level", query("STUDY", StudyInstanceUID="", Modality="")),
        ("series: hierarchical", query("SERIES", StudyInstanceUID=study, SeriesInstanceUID="")),
        ("series: no study uid", query("SERIES", SeriesInstanceUID=series)),
        (
            "series: zero-length study uid",
            query("SERIES", StudyInstanceUID="", SeriesInstanceUID=series),
        ),
        (
            "series: non-unique key above",
            query("SERIES", StudyInstanceUID=study, StudyDate="", SeriesInstanceUID=series),
        ),
        (
            "image: hierarchical",
            query("IMAGE", StudyInstanceUID=study, SeriesInstanceUID=series, SOPInstanceUID=sop),
        ),
        (
            "image: uid list",
            query("IMAGE", StudyInstanceUID=study, SeriesInstanceUID=series, SOPInstanceUID=two),
        ),
        ("image: sop uid alone", query("IMAGE", SOPInstanceUID=plan.sop_instance)),
        (
            "image: zero-length parents",
            query("IMAGE", StudyInstanceUID="", SeriesInstanceUID="", SOPInstanceUID=sop),
        ),
        ("image: no series uid", query("IMAGE", StudyInstanceUID=study, SOPInstanceUID=sop)),
        (
            "image: patient key in study root",
            query(
                "IMAGE",
                PatientID=patient.patient_id,
                StudyInstanceUID=study,
                SeriesInstanceUID=series,
                SOPInstanceUID=sop,
            ),
        ),
    ]


def _outcome(
    port: int, command: str, identifier: Dataset, sink: _Sink
) -> tuple[int, frozenset[str]]:
    """(final status, SOP Instance UIDs answered or delivered).

    Sub-operation counts are not compared: a refused C-MOVE/C-GET reports one failed
    sub-operation here and none on dcmqrscp (see dicomref.server._retrieve).
    """
    delivered: set[str] = set()
    storage = [str(c.abstract_syntax) for c in AllStoragePresentationContexts[:60]]
    with raw_association(
        port,
        called="DCMQRSCP",
        calling="COMPARE",
        storage=storage,
        get_roles=command == "get",
        received=delivered,
    ) as assoc:
        if command == "find":
            responses = list(assoc.send_c_find(identifier, STUDY_FIND))
            found = frozenset(
                str(ds.get("SOPInstanceUID") or ds.get("SeriesInstanceUID") or ds.StudyInstanceUID)
                for _, ds in responses[:-1]
                if ds is not None
            )
            return int(responses[-1][0].Status), found
        if command == "move":
            sink.received.clear()
            responses = list(assoc.send_c_move(identifier, "DEST", STUDY_MOVE))
            return int(responses[-1][0].Status), frozenset(sink.received)
        responses = list(assoc.send_c_get(identifier, STUDY_GET))
        return int(responses[-1][0].Status), frozenset(delivered)


@pytest.mark.parametrize("command", ["find", "move", "get"])
def test_strict_mode_answers_like_dcmqrscp_strict(
    side_by_side: tuple[int, int, _Sink], patient: Sample, command: str
) -> None:
    theirs, ours, sink = side_by_side
    differences = []
    for name, identifier in _cases(patient):
        expected = _outcome(theirs, command, identifier, sink)
        got = _outcome(ours, command, identifier, sink)
        if expected != got:
            differences.append(
                f"{name}: dcmqrscp {expected[0]:#06x} {sorted(expected[1])}, "
                f"ours {got[0]:#06x} {sorted(got[1])}"
            )
    assert not differences, "\n".join(differences)


# -- Orthanc, both ways -------------------------------------------------------------------------


def _post(orthanc: OrthancServer, path: str, body: Any) -> Any:
    return orthanc.rest(path, json.dumps(body).encode(), "application/json")


def _held_by_orthanc(orthanc: OrthancServer, sop_uid: str) -> bool:
    found = orthanc.rest("/tools/lookup", sop_uid.encode(), "text/plain")
    return any(item.get("Type") == "Instance" for item in found)


def test_orthanc_queries_and_pulls_from_us(
    served: Served, orthanc: OrthancServer, patient: Sample
) -> None:
    plan = patient.plans[1]
    answer = _post(
        orthanc,
        f"/modalities/{AE_TITLE}/query",
        {"Level": "Instance", "Query": {"SOPInstanceUID": plan.sop_instance}},
    )
    query_id = answer["ID"]
    answers = orthanc.rest(f"/queries/{query_id}/answers")
    assert len(answers) == 1
    content = orthanc.rest(f"/queries/{query_id}/answers/0/content?simplify")
    assert content["SeriesInstanceUID"] == plan.series
    _post(orthanc, f"/queries/{query_id}/retrieve", {"TargetAet": "ORTHANC", "Synchronous": True})
    assert _held_by_orthanc(orthanc, plan.sop_instance)

    second = patient.by_role("second_study_ct")
    _post(
        orthanc,
        f"/modalities/{AE_TITLE}/move",
        {
            "Level": "Series",
            "Resources": [
                {"StudyInstanceUID": second[0].study, "SeriesInstanceUID": second[0].series}
            ],
            "TargetAet": "ORTHANC",
            "Synchronous": True,
        },
    )
    assert all(_held_by_orthanc(orthanc, o.sop_instance) for o in second)


def test_we_move_into_orthanc(served: Served, orthanc: OrthancServer, patient: Sample) -> None:
    wanted = [o.sop_instance for o in patient.ct[3:6]]
    with DimseClient(node(served.server)) as client:
        result = client.move(query(SOPInstanceUID=wanted), "IMAGE", "ORTHANC")
    result.verify(set(wanted))
    assert (result.status, result.completed) == (0, 3)
    assert all(_held_by_orthanc(orthanc, uid) for uid in wanted)


def test_orthanc_stores_into_us(served: Served, orthanc: OrthancServer, tmp_path: Path) -> None:
    paths = clone_ct(tmp_path, 2, patient_id="FROM-ORTHANC")
    ids = orthanc.upload(paths)
    _post(orthanc, f"/modalities/{AE_TITLE}/store", {"Resources": ids, "Synchronous": True})
    sent = {str(pydicom.dcmread(p).SOPInstanceUID) for p in paths}
    with Catalog(served.catalog_url) as catalog:
        assert all(catalog.locate(uid) for uid in sent)
    with DimseClient(node(served.server)) as client:
        rows = client.find("IMAGE", query(SOPInstanceUID=sorted(sent)))
    assert {r.SOPInstanceUID for r in rows} == sent
