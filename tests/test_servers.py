"""The real DICOM servers the network tests run against: each starts on a free loopback
port, answers C-ECHO, stores a file and finds it back, and leaves no process behind."""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID, CTImageStorage
from pynetdicom import AE
from pynetdicom.association import Association

import servers._dcmtk
from servers import (
    LOOPBACK,
    DcmqrscpServer,
    DicomServer,
    NotInPrivateNetnsError,
    OrthancServer,
    Peer,
    QrscpServer,
    ServerStartError,
    clone_ct,
    ct_small,
    dcmtk_program,
    free_port,
    running,
    unavailable,
    wait_until,
)

VERIFICATION = UID("1.2.840.10008.1.1")
STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")
SERVER_KINDS: dict[str, Callable[[Path, list[Peer]], DicomServer]] = {
    "orthanc": lambda folder, peers: OrthancServer(folder, peers=peers),
    "dcmqrscp": lambda folder, peers: DcmqrscpServer(folder, peers=peers),
    "qrscp": lambda folder, peers: QrscpServer(folder, peers=peers),
}
OUR_AE = "DICOMREF"


@pytest.fixture(scope="module", params=sorted(SERVER_KINDS))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DicomServer]:
    make = SERVER_KINDS[request.param]
    destination = Peer(OUR_AE, LOOPBACK, free_port())
    with running(make(tmp_path_factory.mktemp(request.param), [destination])) as started:
        yield started


def associate(server: DicomServer, *contexts: str) -> Association:
    ae = AE(ae_title=OUR_AE)
    for context in contexts:
        ae.add_requested_context(context)
    assoc = ae.associate(LOOPBACK, server.port, ae_title=server.ae)
    assert assoc.is_established, f"no association with {server.peer}\n{server.log_tail()}"
    return assoc


def study_find(server: DicomServer, study: str) -> list[Dataset]:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study
    query.PatientID = ""
    assoc = associate(server, STUDY_ROOT_FIND)
    try:
        rows = []
        for status, identifier in assoc.send_c_find(query, STUDY_ROOT_FIND):
            assert status, "C-FIND timed out or was aborted"
            if status.Status in (0xFF00, 0xFF01):
                assert identifier is not None
                rows.append(identifier)
            else:
                assert status.Status == 0x0000, f"C-FIND status 0x{status.Status:04X}"
        return rows
    finally:
        assoc.release()


def image_find(server: DicomServer, study: str, series: str) -> set[str]:
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = study
    query.SeriesInstanceUID = series
    query.SOPInstanceUID = ""
    assoc = associate(server, STUDY_ROOT_FIND)
    try:
        return {
            str(identifier.SOPInstanceUID)
            for status, identifier in assoc.send_c_find(query, STUDY_ROOT_FIND)
            if status and status.Status in (0xFF00, 0xFF01) and identifier is not None
        }
    finally:
        assoc.release()


def test_answers_echo(server: DicomServer) -> None:
    assoc = associate(server, VERIFICATION)
    try:
        status = assoc.send_c_echo()
        assert status and status.Status == 0x0000
    finally:
        assoc.release()


def test_stores_a_file_and_finds_it_at_study_level(server: DicomServer) -> None:
    ds = pydicom.dcmread(ct_small())
    assoc = associate(server, CTImageStorage)
    try:
        status = assoc.send_c_store(ds)
        assert status and status.Status == 0x0000
    finally:
        assoc.release()
    rows = study_find(server, ds.StudyInstanceUID)
    assert [row.StudyInstanceUID for row in rows] == [ds.StudyInstanceUID]


def test_load_stores_every_file(server: DicomServer, tmp_path: Path) -> None:
    paths = clone_ct(tmp_path, 3)
    first = pydicom.dcmread(paths[0], stop_before_pixels=True)
    server.load(paths)
    expected = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}
    assert image_find(server, first.StudyInstanceUID, first.SeriesInstanceUID) == expected


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    """dcmqrscp forks a child per association: stopping the server ends it too."""
    server = DcmqrscpServer(tmp_path)
    with running(server):
        assoc = associate(server, VERIFICATION)  # a forked child now serves this
        group = server.pid
        assert len(live_members(group)) == 2
    assert not server.running
    assert wait_until(lambda: not live_members(group), 5.0), live_members(group)
    assoc.abort()


def live_members(group: int) -> list[int]:
    """Processes of process group ``group`` that are alive (zombies do not count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def test_start_failure_shows_the_log_tail(tmp_path: Path) -> None:
    server = DcmqrscpServer(tmp_path, options=["--no-such-option"])
    if (reason := server.unavailable_reason()) is not None:
        unavailable(reason)
    with pytest.raises(ServerStartError) as caught:
        server.start()
    message = str(caught.value)
    assert "exited with status" in message
    assert "no-such-option" in message.split("--- last lines of", 1)[1]
    assert not server.running


def test_refuses_to_start_orthanc_outside_a_private_netns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = OrthancServer(tmp_path)
    if (reason := server.missing_program()) is not None:
        unavailable(reason)
    monkeypatch.setattr(socket, "if_nameindex", lambda: [(1, "lo"), (2, "eth0")])
    with pytest.raises(NotInPrivateNetnsError, match=r"unshare --net.*ip link set lo up"):
        server.start()
    assert not server.running


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_missing_program_skips_or_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(DcmqrscpServer, "PROGRAM", "dcmqrscp-not-installed")
    outcome = pytest.fail.Exception if ci == "true" else pytest.skip.Exception
    with pytest.raises(outcome, match=r"install the Debian package 'dcmtk'"):  # noqa: SIM117
        with running(DcmqrscpServer(tmp_path)):
            pass


def _dcmtk_installed() -> None:
    if not Path("/usr/bin/dcmdump").is_file():
        unavailable("DCMTK not installed: apt-get install dcmtk")


def test_dcmtk_programs_are_found_by_what_they_are_not_by_their_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pynetdicom's console scripts (findscu, storescp …) first on PATH are passed over."""
    _dcmtk_installed()
    scripts = Path(sys.executable).parent  # the venv's bin: pynetdicom's findscu, storescp …
    assert (scripts / "findscu").is_file(), "pynetdicom installs a findscu script"
    impostor = tmp_path / "bin"
    impostor.mkdir()
    (impostor / "dcmdump").write_text("#!/bin/sh\necho 'dcmdump 1.0 (not DCMTK)'\n")
    (impostor / "dcmdump").chmod(0o755)
    monkeypatch.setattr(servers._dcmtk, "DCMTK_FOLDERS", ())  # PATH alone decides
    monkeypatch.setenv("PATH", f"{impostor}:{scripts}:/usr/bin")
    dcmtk_program.cache_clear()
    try:
        assert shutil.which("findscu") == str(scripts / "findscu")
        assert dcmtk_program("findscu") == "/usr/bin/findscu"
        assert dcmtk_program("storescp") == "/usr/bin/storescp"
        assert shutil.which("dcmdump") == str(impostor / "dcmdump")
        assert dcmtk_program("dcmdump") == "/usr/bin/dcmdump"
        monkeypatch.setenv("PATH", f"{impostor}:{scripts}")
        dcmtk_program.cache_clear()
        assert dcmtk_program("findscu") is None  # only pynetdicom's: not DCMTK
        assert dcmtk_program("dcmdump") is None
    finally:
        dcmtk_program.cache_clear()
