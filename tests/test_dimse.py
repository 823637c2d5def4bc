"""The DIMSE client against real servers (Orthanc, dcmqrscp, pynetdicom's qrscp) and against
scripted peers that hang, abort or speak no DICOM.  Run inside scripts/in-netns.sh."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from dicomref._dimse._contexts import MAX_PRESENTATION_CONTEXTS, requested_contexts
from dicomref._dimse._node import DEFAULT_OUR_AE, Node, Timeouts
from dicomref.errors import (
    AssociationError,
    RemoteTimeoutError,
    RetrieveMismatchError,
    StatusError,
    UsageError,
)
from dicomref.remote.transport._dimse_client import DimseClient, RetrieveResult, status_meaning
from dicomref.remote.transport._receiver import FolderWriter, listen_address, uid_filename
from servers import (
    LOOPBACK,
    DcmqrscpServer,
    DicomServer,
    GarbagePeer,
    OrthancServer,
    Peer,
    QrscpServer,
    ScriptedPeer,
    clone_ct,
    free_port,
    running,
    sop_instance_uid,
)

OUR_AE = DEFAULT_OUR_AE
TEST_TIMEOUTS = Timeouts(connect=5.0, acse=10.0, dimse=20.0, network=30.0)
ALL_SERVERS = ["orthanc", "dcmqrscp", "qrscp"]
LIST_SERVERS = ["orthanc", "dcmqrscp"]


# -- data and servers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    """One study of generated CT: series A (5 objects) and series B (3 objects)."""

    study: str
    series_a: str
    series_b: str
    uids_a: tuple[str, ...]
    uids_b: tuple[str, ...]
    paths: tuple[Path, ...]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    folder = tmp_path_factory.mktemp("study")
    paths_a = clone_ct(folder / "a", 5)
    first = pydicom.dcmread(paths_a[0], stop_before_pixels=True)
    paths_b = clone_ct(folder / "b", 3, study=first.StudyInstanceUID)
    second = pydicom.dcmread(paths_b[0], stop_before_pixels=True)
    return Study(
        study=str(first.StudyInstanceUID),
        series_a=str(first.SeriesInstanceUID),
        series_b=str(second.SeriesInstanceUID),
        uids_a=tuple(sop_instance_uid(p) for p in paths_a),
        uids_b=tuple(sop_instance_uid(p) for p in paths_b),
        paths=tuple(paths_a + paths_b),
    )


@pytest.fixture(scope="module")
def store_port() -> int:
    """Where our storage SCP receives C-MOVE objects; every server is told about it."""
    return free_port()


def _serve(server: DicomServer, study: Study) -> Iterator[DicomServer]:
    with running(server):
        server.load(study.paths)
        yield server


@pytest.fixture(scope="module")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory, study: Study, store_port: int
) -> Iterator[DicomServer]:
    server = OrthancServer(
        tmp_path_factory.mktemp("orthanc"),
        peers=[Peer(OUR_AE, LOOPBACK, store_port)],
        check_called_aet=True,
    )
    yield from _serve(server, study)


@pytest.fixture(scope="module")
def dcmqrscp(
    tmp_path_factory: pytest.TempPathFactory, study: Study, store_port: int
) -> Iterator[DicomServer]:
    server = DcmqrscpServer(
        tmp_path_factory.mktemp("dcmqrscp"), peers=[Peer(OUR_AE, LOOPBACK, store_port)]
    )
    yield from _serve(server, study)


@pytest.fixture(scope="module")
def dcmqrscp_strict(
    tmp_path_factory: pytest.TempPathFactory, study: Study, store_port: int
) -> Iterator[DicomServer]:
    server = DcmqrscpServer(
        tmp_path_factory.mktemp("dcmqrscp-strict"),
        peers=[Peer(OUR_AE, LOOPBACK, store_port)],
        strict=True,
    )
    yield from _serve(server, study)


@pytest.fixture(scope="module")
def qrscp(
    tmp_path_factory: pytest.TempPathFactory, study: Study, store_port: int
) -> Iterator[DicomServer]:
    server = QrscpServer(
        tmp_path_factory.mktemp("qrscp"), peers=[Peer(OUR_AE, LOOPBACK, store_port)]
    )
    yield from _serve(server, study)


def node_of(server: DicomServer | ScriptedPeer, store_port: int | None = None) -> Node:
    peer = server.peer
    return Node(peer.ae, peer.host, peer.port, store_port=store_port, timeouts=TEST_TIMEOUTS)


@pytest.fixture
def client(request: pytest.FixtureRequest, store_port: int) -> Iterator[DimseClient]:
    """A client of the server named by the test's ``server`` parameter."""
    server: DicomServer = request.getfixturevalue(request.param)
    with DimseClient(node_of(server, store_port)) as opened:
        yield opened


def query(**keys: object) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def image_query(study: Study, uids: list[str] | str) -> Dataset:
    """A hierarchical IMAGE identifier: study, series and the SOP Instance UID(s)."""
    return query(
        StudyInstanceUID=study.study, SeriesInstanceUID=study.series_a, SOPInstanceUID=uids
    )


def assert_written(writer: FolderWriter, uids: set[str]) -> None:
    written = writer.written
    assert set(written) == uids
    for uid, path in written.items():
        assert path.name == uid_filename(uid)
        assert uid not in path.name
        assert str(pydicom.dcmread(path).SOPInstanceUID) == uid
    assert not list(writer.folder.glob(".*.part"))


# -- echo and find ---------------------------------------------------------------------------------


@pytest.mark.parametrize("client", ALL_SERVERS, indirect=True)
def test_echo(client: DimseClient) -> None:
    client.echo()
    client.echo()  # the same association, reused


@pytest.mark.parametrize("client", ALL_SERVERS, indirect=True)
def test_find_at_study_series_and_image_levels(client: DimseClient, study: Study) -> None:
    rows = client.find("STUDY", query(StudyInstanceUID=study.study, PatientID=""))
    # qrscp answers with one identical row per instance: compare sets
    assert {r.StudyInstanceUID for r in rows} == {study.study}

    rows = client.find("SERIES", query(StudyInstanceUID=study.study, SeriesInstanceUID=""))
    assert {r.SeriesInstanceUID for r in rows} == {study.series_a, study.series_b}

    rows = client.find("IMAGE", image_query(study, ""))
    assert {r.SOPInstanceUID for r in rows} == set(study.uids_a)


@pytest.mark.parametrize("client", ALL_SERVERS, indirect=True)
def test_find_in_the_patient_root(client: DimseClient, study: Study) -> None:
    rows = client.find("PATIENT", query(PatientID="DICOMREF-TEST"), root="patient")
    assert {r.PatientID for r in rows} == {"DICOMREF-TEST"}
    rows = client.find(
        "STUDY", query(PatientID="DICOMREF-TEST", StudyInstanceUID=""), root="patient"
    )
    assert {r.StudyInstanceUID for r in rows} == {study.study}


def test_find_keeps_pending_matches_with_warnings() -> None:
    with ScriptedPeer(find="warn") as peer, DimseClient(node_of(peer)) as client:
        rows = client.find("STUDY", query(StudyInstanceUID="1.2.3"))
    assert [r.StudyInstanceUID for r in rows] == ["1.2.3"]


def test_bad_level_or_root_is_a_usage_error(dcmqrscp: DicomServer) -> None:
    with DimseClient(node_of(dcmqrscp)) as client:
        with pytest.raises(UsageError, match="query level 'FRAME'"):
            client.find("FRAME", query())
        with pytest.raises(UsageError, match="patient root"):
            client.find("PATIENT", query())
        with pytest.raises(UsageError, match="query root 'series'"):
            client.find("STUDY", query(), root="series")


def test_find_does_not_change_the_identifier(dcmqrscp: DicomServer, study: Study) -> None:
    identifier = query(StudyInstanceUID=study.study)
    with DimseClient(node_of(dcmqrscp)) as client:
        client.find("STUDY", identifier)
    assert "QueryRetrieveLevel" not in identifier


@pytest.mark.parametrize("client", ["dcmqrscp"], indirect=True)
def test_find_failure_status_is_a_status_error(client: DimseClient, study: Study) -> None:
    """Measured: default dcmqrscp fails an IMAGE C-FIND without Study/Series keys (0xC000)."""
    with pytest.raises(StatusError) as caught:
        client.find("IMAGE", query(SOPInstanceUID=study.uids_a[0]))
    assert caught.value.command == "C-FIND"
    assert caught.value.status == 0xC000
    assert "0xC000" in str(caught.value)


# -- retrieves -------------------------------------------------------------------------------------


@pytest.mark.parametrize("client", ALL_SERVERS, indirect=True)
def test_get_one_instance(client: DimseClient, study: Study, tmp_path: Path) -> None:
    wanted = study.uids_a[1]
    writer = FolderWriter(tmp_path)
    result = client.get(image_query(study, wanted), "IMAGE", writer)
    result.verify({wanted})
    assert (result.status, result.completed, result.failed) == (0x0000, 1, 0)
    assert result.received == {wanted}
    assert_written(writer, {wanted})


@pytest.mark.parametrize("client", ALL_SERVERS, indirect=True)
def test_move_one_instance(client: DimseClient, study: Study, tmp_path: Path) -> None:
    wanted = study.uids_a[2]
    writer = FolderWriter(tmp_path)
    result = client.move(image_query(study, wanted), "IMAGE", on_store=writer)
    result.verify({wanted})
    assert result.completed == 1
    assert result.remaining == 0
    assert_written(writer, {wanted})


@pytest.mark.parametrize("client", LIST_SERVERS, indirect=True)
@pytest.mark.parametrize("command", ["get", "move"])
def test_retrieve_a_uid_list(
    client: DimseClient, command: str, study: Study, tmp_path: Path
) -> None:
    wanted = list(study.uids_a[:3])
    writer = FolderWriter(tmp_path)
    identifier = image_query(study, wanted)
    if command == "get":
        result = client.get(identifier, "IMAGE", writer, expected=set(wanted))
    else:
        result = client.move(identifier, "IMAGE", on_store=writer, expected=set(wanted))
    result.verify(set(wanted))
    assert result.completed == 3
    assert_written(writer, set(wanted))


@pytest.mark.parametrize("client", ["qrscp"], indirect=True)
@pytest.mark.parametrize("command", ["find", "get", "move"])
def test_uid_lists_fail_on_qrscp_with_our_errors(
    client: DimseClient, command: str, study: Study, tmp_path: Path
) -> None:
    """Measured: qrscp fails lists with 0xC320 (C-FIND), 0xC413 (C-GET), 0xA801 (C-MOVE)."""
    wanted = list(study.uids_a[:3])
    identifier = image_query(study, wanted)
    writer = FolderWriter(tmp_path)
    with pytest.raises((StatusError, RetrieveMismatchError)) as caught:
        if command == "find":
            client.find("IMAGE", identifier)
        elif command == "get":
            client.get(identifier, "IMAGE", writer).verify(set(wanted))
        else:
            client.move(identifier, "IMAGE", on_store=writer).verify(set(wanted))
    assert isinstance(caught.value, StatusError)
    assert caught.value.status == {"find": 0xC320, "get": 0xC413, "move": 0xA801}[command]
    client.echo()  # the association survives a failure status


@pytest.mark.parametrize("client", ["dcmqrscp"], indirect=True)
@pytest.mark.parametrize("command", ["get", "move"])
def test_success_with_zero_suboperations_fails_verification(
    client: DimseClient, command: str, study: Study, tmp_path: Path
) -> None:
    """Default dcmqrscp answers an IMAGE retrieve without Study/Series keys with success,
    0 sub-operations, and sends nothing."""
    wanted = study.uids_a[0]
    identifier = query(SOPInstanceUID=wanted)
    writer = FolderWriter(tmp_path)
    if command == "get":
        result = client.get(identifier, "IMAGE", writer)
    else:
        result = client.move(identifier, "IMAGE", on_store=writer)
    assert (result.status, result.completed, result.failed, result.received) == (
        0,
        0,
        0,
        frozenset(),
    )
    with pytest.raises(RetrieveMismatchError, match="0 sub-operations") as caught:
        result.verify({wanted})
    assert caught.value.missing == {wanted}
    assert caught.value.unexpected == frozenset()


@pytest.mark.parametrize("command", ["find", "get", "move"])
def test_universal_parent_keys_lenient_and_strict_dcmqrscp(
    dcmqrscp: DicomServer,
    dcmqrscp_strict: DicomServer,
    store_port: int,
    study: Study,
    command: str,
    tmp_path: Path,
) -> None:
    """Zero-length Study/Series keys: default dcmqrscp serves the request, dcmqrscp
    -XF -XM refuses it with 0xA900 (C-FIND, C-MOVE and C-GET alike)."""
    wanted = study.uids_a[0]

    def ask(server: DicomServer, folder: Path) -> None:
        identifier = query(StudyInstanceUID="", SeriesInstanceUID="", SOPInstanceUID=wanted)
        with DimseClient(node_of(server, store_port)) as client:
            if command == "find":
                rows = client.find("IMAGE", identifier)
                assert [r.SOPInstanceUID for r in rows] == [wanted]
            elif command == "get":
                client.get(identifier, "IMAGE", FolderWriter(folder)).verify({wanted})
            else:
                client.move(identifier, "IMAGE", on_store=FolderWriter(folder)).verify({wanted})

    ask(dcmqrscp, tmp_path / "lenient")
    with pytest.raises(StatusError) as caught:
        ask(dcmqrscp_strict, tmp_path / "strict")
    assert caught.value.status == 0xA900


@pytest.mark.parametrize("client", ["dcmqrscp", "orthanc"], indirect=True)
def test_get_refuses_objects_not_asked_for(
    client: DimseClient, study: Study, tmp_path: Path
) -> None:
    wanted = study.uids_a[0]
    writer = FolderWriter(tmp_path)
    identifier = query(StudyInstanceUID=study.study, SeriesInstanceUID=study.series_a)
    result = client.get(identifier, "SERIES", writer, expected={wanted})
    assert result.received == {wanted}
    assert result.unexpected == set(study.uids_a) - {wanted}
    assert (result.status, result.completed, result.failed) == (0xB000, 1, 4)
    assert_written(writer, {wanted})
    with pytest.raises(RetrieveMismatchError, match="arrived unasked-for") as caught:
        result.verify({wanted})
    assert caught.value.unexpected == set(study.uids_a) - {wanted}


@pytest.mark.parametrize(
    ("client", "status"), [("dcmqrscp", 0xA801), ("orthanc", 0xC000)], indirect=["client"]
)
def test_move_to_an_unknown_destination(client: DimseClient, status: int, study: Study) -> None:
    """Measured: dcmqrscp says 0xA801; Orthanc fails the whole move with 0xC000."""
    identifier = query(StudyInstanceUID=study.study, SeriesInstanceUID=study.series_a)
    with pytest.raises(StatusError) as caught:
        client.move(identifier, "SERIES", "NOBODY")
    assert (caught.value.command, caught.value.status) == ("C-MOVE", status)


def test_move_to_us_needs_a_callback(dcmqrscp: DicomServer, study: Study) -> None:
    with DimseClient(node_of(dcmqrscp)) as client, pytest.raises(UsageError, match="on_store"):
        client.move(query(StudyInstanceUID=study.study), "STUDY")


# -- failures of the association -------------------------------------------------------------------


@pytest.mark.parametrize("server_name", ["dcmqrscp", "orthanc"])
def test_wrong_called_ae_title_is_rejected(
    request: pytest.FixtureRequest, server_name: str
) -> None:
    server: DicomServer = request.getfixturevalue(server_name)
    node = Node("WRONG", LOOPBACK, server.port, timeouts=TEST_TIMEOUTS)
    with DimseClient(node) as client, pytest.raises(AssociationError) as caught:
        client.echo()
    assert "rejected" in str(caught.value)
    assert "called AE title not recognised" in str(caught.value)
    assert caught.value.node == "WRONG@127.0.0.1:" + str(server.port)


def test_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    node = Node("NOBODY", LOOPBACK, free_port(), timeouts=TEST_TIMEOUTS)
    with DimseClient(node) as client, pytest.raises(AssociationError, match=r"[Rr]efused"):
        client.echo()
    assert not [r for r in caplog.records if r.name.startswith("pynetdicom")]


def test_pynetdicom_logs_when_our_logger_is_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dicomref.remote")
    caplog.set_level(logging.DEBUG)
    node = Node("NOBODY", LOOPBACK, free_port(), timeouts=TEST_TIMEOUTS)
    with DimseClient(node) as client, pytest.raises(AssociationError):
        client.echo()
    assert [r for r in caplog.records if r.name.startswith("pynetdicom")]


def test_a_port_that_speaks_no_dicom() -> None:
    with GarbagePeer() as garbage:
        node = Node("ANY", LOOPBACK, garbage.port, timeouts=TEST_TIMEOUTS)
        with DimseClient(node) as client, pytest.raises(AssociationError, match="DICOM"):
            client.echo()


def test_dimse_timeout_is_a_remote_timeout_error() -> None:
    with ScriptedPeer(find="hang") as peer:
        timeouts = Timeouts(connect=5.0, acse=5.0, dimse=0.5, network=30.0)
        node = Node(peer.ae, LOOPBACK, peer.port, timeouts=timeouts)
        with DimseClient(node) as client:
            with pytest.raises(RemoteTimeoutError, match=r"no response within 0\.5 s"):
                client.find("STUDY", query(StudyInstanceUID=""))
            peer.find = "answer"
            assert len(client.find("STUDY", query(StudyInstanceUID=""))) == 1  # re-opened


def test_abort_by_the_server_mid_operation() -> None:
    with (
        ScriptedPeer(find="abort") as peer,
        DimseClient(node_of(peer)) as client,
        pytest.raises(AssociationError, match=r"aborted the association \(A-ABORT") as caught,
    ):
        client.find("STUDY", query(StudyInstanceUID=""))
    assert "C-FIND" in str(caught.value)


def test_one_association_is_reused_and_reopened_after_the_server_drops_it() -> None:
    with ScriptedPeer() as peer, DimseClient(node_of(peer)) as client:
        client.echo()
        client.echo()
        client.find("STUDY", query(StudyInstanceUID=""))
        assert peer.connections == 1
        peer.abort_all()
        client.echo()
        assert peer.connections == 2


def test_server_killed_mid_transfer(tmp_path: Path) -> None:
    """A C-GET of 200 objects; the server is killed after the 5th arrived: AssociationError,
    and every file written is complete (none half-written)."""
    server = DcmqrscpServer(tmp_path / "server")
    with running(server):
        paths = clone_ct(tmp_path / "data", 200)
        server.load(paths)
        first = pydicom.dcmread(paths[0], stop_before_pixels=True)
        writer = FolderWriter(tmp_path / "out", fsync=False)
        some_arrived, killed = threading.Event(), threading.Event()

        def on_store(dataset: Dataset) -> None:
            writer(dataset)
            if len(writer.written) == 5:
                some_arrived.set()
                assert killed.wait(30.0)

        def kill_server() -> None:
            if some_arrived.wait(60.0):
                server.kill()
            killed.set()

        killer = threading.Thread(target=kill_server)
        killer.start()
        identifier = query(
            StudyInstanceUID=first.StudyInstanceUID, SeriesInstanceUID=first.SeriesInstanceUID
        )
        try:
            with DimseClient(node_of(server)) as client, pytest.raises(AssociationError) as caught:
                client.get(identifier, "SERIES", on_store)
        finally:
            some_arrived.set()
            killer.join()
    assert "A-P-ABORT" in str(caught.value)
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 5
    for path in files:
        assert path.suffix == ".dcm"
        ds = pydicom.dcmread(path)
        assert len(ds.PixelData) == ds.Rows * ds.Columns * ds.BitsAllocated // 8
        assert path.name == uid_filename(str(ds.SOPInstanceUID))


# -- values ----------------------------------------------------------------------------------------


def test_node_parse() -> None:
    node = Node.parse("PACS@pacs.example.org:104")
    assert (node.ae_title, node.host, node.port, node.our_ae) == (
        "PACS",
        "pacs.example.org",
        104,
        "DICOMREF",
    )
    assert str(node) == "PACS@pacs.example.org:104"
    v6 = Node.parse("PACS@[::1]:11112", retrieve="get", store_port=11113)
    assert (v6.host, v6.port, v6.retrieve, v6.store_port) == ("::1", 11112, "get", 11113)
    assert str(v6) == "PACS@[::1]:11112"
    assert v6.is_loopback
    assert not node.is_loopback


@pytest.mark.parametrize(
    "text",
    ["PACS", "PACS@host", "@host:104", "PACS@:104", "PACS@host:port", "PACS@host:70000", ""],
)
def test_node_parse_errors_name_the_text_and_the_form(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        Node.parse(text)
    assert repr(text) in str(caught.value)
    assert "AE@host:port" in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ae_title": "A" * 17},
        {"ae_title": "BACK\\SLASH"},
        {"ae_title": "   "},
        {"our_ae": ""},
        {"port": 0},
        {"store_port": 65536},
        {"retrieve": "fetch"},
        {"timeouts": (1.0, 1.0, 1.0, 1.0)},
    ],
)
def test_node_rejects_bad_values(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"ae_title": "PACS", "host": "localhost", "port": 104}
    values.update(kwargs)
    with pytest.raises(UsageError):
        Node(**values)  # type: ignore[arg-type]


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(UsageError, match="dimse timeout"):
        Timeouts(dimse=0)


def test_requested_contexts_fit_in_one_association() -> None:
    contexts = requested_contexts()
    assert len(contexts) <= MAX_PRESENTATION_CONTEXTS
    syntaxes = {str(abstract) for abstract, _ in contexts}
    for needed in ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.481.3"):  # CT, RTSTRUCT
        assert needed in syntaxes


def test_status_meanings() -> None:
    assert status_meaning("C-MOVE", 0xA801) == "Move destination unknown"
    assert status_meaning("C-FIND", 0xA900) == "Identifier Does Not Match SOP Class"
    assert status_meaning("C-GET", 0xC413) == "Unable to Process"
    assert status_meaning("C-GET", 0x1234) == "unknown status"


def test_verify_of_a_move_to_another_destination_uses_the_counts() -> None:
    result = RetrieveResult(
        node="PACS@host:104",
        command="C-MOVE",
        status=0,
        completed=1,
        failed=0,
        warning=0,
        remaining=0,
        received=frozenset(),
        destination="OTHER",
    )
    result.verify({"1.2.3"})
    with pytest.raises(RetrieveMismatchError, match="2 objects asked for"):
        result.verify({"1.2.3", "1.2.4"})


def test_c_move_objects_are_received_on_loopback_for_a_loopback_server() -> None:
    assert listen_address("127.0.0.1") == "127.0.0.1"
    assert listen_address("localhost") == "127.0.0.1"
    assert listen_address("127.0.0.2") == "127.0.0.1"
    assert listen_address("::1") == "::1"


def test_folder_writer_writes_atomically_under_hashed_names(tmp_path: Path) -> None:
    ds = pydicom.dcmread(clone_ct(tmp_path / "src", 1)[0])
    writer = FolderWriter(tmp_path / "out")
    writer(ds)
    (path,) = (tmp_path / "out").iterdir()
    assert path.name == uid_filename(ds.SOPInstanceUID)
    assert ds.SOPInstanceUID not in path.name
    assert pydicom.dcmread(path).SOPInstanceUID == ds.SOPInstanceUID
    del ds.file_meta.MediaStorageSOPClassUID
    del ds.SOPClassUID
    with pytest.raises((ValueError, AttributeError)):
        writer(ds)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [path.name]
