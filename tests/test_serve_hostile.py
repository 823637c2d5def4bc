"""Hostile and broken peers against a real ``dicomref serve`` process (issue 9.2-9.4):
oversized PDUs, connections that send nothing, connections that stop in the middle of a
PDU, one address opening too many connections, SIGTERM while all that goes on, a Deflated
object that inflates to gigabytes; and the load of 16 associations served while 32 idle
and 16 stalled connections stay open.

Attackers come from other loopback addresses (127.0.0.2, 127.0.0.3: another host, as far
as the server can tell) unless the test is about the client's own address.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import CTImageStorage, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association

from dicomref._dimse._contexts import VERIFICATION
from dicomref._dimse._tuning import tune_requestor
from serve_support import STUDY_FIND, ServeCommand, catalog_of, query
from servers import LOOPBACK, clone_ct

IDLE_HOST = "127.0.0.2"
STALL_HOST = "127.0.0.3"
#: A PDU header: type, reserved, length.
HEADER = struct.Struct(">BBL")
A_ASSOCIATE_RQ, P_DATA_TF, A_ABORT = 0x01, 0x04, 0x07


# -- peers -----------------------------------------------------------------------------------


def connect(port: int, source: str = LOOPBACK) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=10, source_address=(source, 0))


def associate(
    port: int, source: str = LOOPBACK, *, calling: str = "LEGIT", storage: bool = False
) -> Association:
    """A pynetdicom association (Verification, Study Root C-FIND, CT storage), guarded
    against pynetdicom's race that drops responses (``tune_requestor``)."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context(VERIFICATION)
    ae.add_requested_context(STUDY_FIND)
    if storage:
        ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
        ae.add_requested_context(CTImageStorage, [DeflatedExplicitVRLittleEndian])
    return ae.associate(
        LOOPBACK,
        port,
        ae_title="DICOMREF_QR",
        bind_address=(source, 0),
        evt_handlers=[(evt.EVT_CONN_OPEN, tune_requestor)],
    )


def raw_socket(assoc: Association) -> socket.socket:
    raw = assoc.dul.socket.socket if assoc.dul.socket is not None else None
    assert isinstance(raw, socket.socket)
    return raw


def closed_by_peer(sock: socket.socket, within: float) -> bytes | None:
    """What the server sent before closing ``sock`` (None: still open after ``within``)."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def partial_request(sock: socket.socket) -> None:
    """The start of an A-ASSOCIATE-RQ that declares 400 bytes and stops after 40."""
    sock.sendall(HEADER.pack(A_ASSOCIATE_RQ, 0, 400) + b"\x00\x01" + b"\x00" * 38)


def rss_kib(pid: int) -> int:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert found
    return int(found[1])


def until(condition: Callable[[], bool], seconds: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "still waiting"
        time.sleep(0.02)
    return time.monotonic() - started


def no_tracebacks(serve: ServeCommand) -> None:
    text = serve.log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert "InvalidEventError" not in text, text[-3000:]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def ct_files(tmp_path: Path) -> list[Path]:
    return clone_ct(tmp_path / "ct", 16, patient_id="HOSTILE")


@pytest.fixture
def catalog_url(tmp_path: Path, ct_files: list[Path]) -> str:
    return catalog_of([tmp_path / "ct"], f"sqlite:///{tmp_path / 'catalog.sqlite'}")


@contextlib.contextmanager
def serving(tmp_path: Path, url: str, *options: str) -> Iterator[ServeCommand]:
    serve = ServeCommand(url, tmp_path / "serve.log", *options).start()
    try:
        yield serve
    finally:
        serve.stop()


def echo_works(port: int, source: str = LOOPBACK) -> bool:
    assoc = associate(port, source)
    try:
        return bool(assoc.is_established and assoc.send_c_echo().Status == 0)
    finally:
        if assoc.is_established:
            assoc.release()


# -- oversized PDUs --------------------------------------------------------------------------


def test_an_oversized_p_data_pdu_aborts_the_association_and_memory_stays_bounded(
    tmp_path: Path, catalog_url: str
) -> None:
    """Established, then a P-DATA-TF declaring 0xFFFFFFFF bytes and 64 MiB of them: the
    server aborts at the header (more than the 262,144 bytes it advertised), reads no more,
    and its memory does not grow with what was sent."""
    with serving(tmp_path, catalog_url) as serve:
        assert echo_works(serve.port)
        before = rss_kib(serve.pid)
        assoc = associate(serve.port)
        assert assoc.is_established
        raw = raw_socket(assoc)
        sent = 0
        chunk = b"\xab" * (1 << 20)
        with pytest.raises(OSError):  # the server closed the connection
            raw.sendall(HEADER.pack(P_DATA_TF, 0, 0xFFFFFFFF))
            for _ in range(64):
                raw.sendall(chunk)
                sent += len(chunk)
        assert sent < 32 << 20
        until(lambda: not assoc.is_established, 10)
        grown = rss_kib(serve.pid) - before
        assert grown < 16 * 1024, f"server memory grew by {grown} KiB"
        assert echo_works(serve.port)  # and it serves on
    assert any("more than the 262,144 negotiated" in line for line in serve.problems())
    no_tracebacks(serve)


def test_an_identifier_sent_in_many_pdus_is_bounded_an_object_is_not(
    tmp_path: Path, catalog_url: str, ct_files: list[Path]
) -> None:
    """Every PDU within the negotiated length, but a C-FIND identifier of 24 MiB in all
    (pynetdicom keeps every fragment until the last): aborted past 16 MiB, memory bounded.
    A 24 MiB object on a storage context is an object: stored."""
    ds = pydicom.dcmread(ct_files[0])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.Rows = ds.Columns = 2048
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelData = bytes(2048 * 2048 * 2) * 3
    ds.NumberOfFrames = 3
    big = tmp_path / "big.dcm"
    ds.save_as(big, enforce_file_format=True)
    identifier = query("IMAGE", SOPInstanceUID="1.2.3")
    identifier.add_new(0x00091010, "OB", bytes(24 << 20))
    with serving(tmp_path, catalog_url, "--store", str(tmp_path / "store")) as serve:
        before = rss_kib(serve.pid)
        assoc = associate(serve.port, storage=True)
        try:
            answers = list(assoc.send_c_find(identifier, STUDY_FIND))
            until(lambda: not assoc.is_established, 5)
            assert all(not getattr(status, "Status", None) for status, _ in answers)
        finally:
            assoc.release()
        grown = rss_kib(serve.pid) - before
        assoc = associate(serve.port, storage=True)
        try:
            assert assoc.send_c_store(big).Status == 0x0000
        finally:
            assoc.release()
    assert grown < 40 * 1024, f"server memory grew by {grown} KiB"
    assert any("an identifier of more than 16,777,216 bytes" in p for p in serve.problems())
    no_tracebacks(serve)


@pytest.mark.parametrize(
    ("kind", "length"),
    [(P_DATA_TF, 0xFFFFFFFF), (A_ASSOCIATE_RQ, 0xFFFFFFFF), (A_ASSOCIATE_RQ, 2 << 20)],
)
def test_an_oversized_first_pdu_is_aborted_at_its_header(
    tmp_path: Path, catalog_url: str, kind: int, length: int
) -> None:
    """Before association: a P-DATA (not an A-ASSOCIATE-RQ) or an A-ASSOCIATE-RQ of more
    than 1 MiB is answered with an A-ABORT and the connection closed, at once."""
    with serving(tmp_path, catalog_url) as serve:
        with connect(serve.port, STALL_HOST) as peer:
            peer.sendall(HEADER.pack(kind, 0, length) + b"\x00" * 1000)
            answer = closed_by_peer(peer, 2.0)
        assert answer is not None and answer[:1] == bytes([A_ABORT])
        assert echo_works(serve.port)
    no_tracebacks(serve)


# -- deflate bombs ---------------------------------------------------------------------------


def deflated_ct(source: Path, target: Path, pixel_bytes: int) -> str:
    """``source`` (a CT) as a Deflated Explicit VR Little Endian file whose Pixel Data is
    ``pixel_bytes`` zeros, written without ever holding them (a deflate bomb when large);
    its SOP Instance UID."""
    ds = pydicom.dcmread(source)
    del ds.PixelData
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    header = DicomBytesIO()
    header.is_little_endian, header.is_implicit_VR = True, False
    write_dataset(header, ds)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflater.compress(header.getvalue())]
    parts.append(deflater.compress(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, pixel_bytes)))
    zeros = bytes(1 << 20)
    for _ in range(pixel_bytes >> 20):
        parts.append(deflater.compress(zeros))
    parts.append(deflater.compress(bytes(pixel_bytes & ((1 << 20) - 1))))
    parts.append(deflater.flush())
    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    out = DicomBytesIO()
    out.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(out, meta)
    target.write_bytes(out.getvalue() + b"".join(parts))
    return str(ds.SOPInstanceUID)


def test_a_deflate_bomb_over_c_store_is_refused_and_memory_stays_bounded(
    tmp_path: Path, catalog_url: str, ct_files: list[Path]
) -> None:
    """A 300 KB Deflated object whose pixel data inflate to 300 MiB (past the 256 MiB
    bound) is refused with 0xA700 and not stored, the server's memory barely moves; a
    Deflated object within the bound is stored and found."""
    bomb = tmp_path / "bomb.dcm"
    bomb_uid = deflated_ct(ct_files[0], bomb, 300 << 20)
    assert bomb.stat().st_size < 1 << 20
    fine = tmp_path / "fine.dcm"
    fine_uid = deflated_ct(ct_files[1], fine, 4 << 20)
    with serving(tmp_path, catalog_url, "--store", str(tmp_path / "store")) as serve:
        before = rss_kib(serve.pid)
        assoc = associate(serve.port, storage=True)
        try:
            assert assoc.send_c_store(bomb).Status == 0xA700
            grown = rss_kib(serve.pid) - before
            assert assoc.send_c_store(fine).Status == 0x0000
            statuses = assoc.send_c_find(
                query(
                    "IMAGE",
                    StudyInstanceUID="",
                    SeriesInstanceUID="",
                    SOPInstanceUID=[bomb_uid, fine_uid],
                ),
                STUDY_FIND,
            )
            found = {
                str(ds.SOPInstanceUID)
                for status, ds in statuses
                if ds is not None and status.Status in (0xFF00, 0xFF01)
            }
        finally:
            assoc.release()
    assert grown < 32 * 1024, f"server memory grew by {grown} KiB"
    assert found == {fine_uid}
    assert any("inflates past 268,435,456 bytes" in line for line in serve.problems())
    no_tracebacks(serve)


# -- idle and stalled connections -------------------------------------------------------------


def test_idle_connections_do_not_lock_clients_out(tmp_path: Path, catalog_url: str) -> None:
    """16 connections that send nothing (as many as the server has association slots),
    then another 16: a client still associates at once, and the silent ones are closed
    after the ARTIM time (1 s here) without a byte."""
    with serving(tmp_path, catalog_url, "--artim-timeout", "1") as serve:
        idle = [connect(serve.port, IDLE_HOST) for _ in range(32)]
        try:
            time.sleep(0.2)
            started = time.monotonic()
            assert echo_works(serve.port)
            assert time.monotonic() - started < 1.0
            for sock in idle:
                assert closed_by_peer(sock, 5.0) == b""
        finally:
            for sock in idle:
                sock.close()
    no_tracebacks(serve)


def test_stalled_connections_are_dropped(tmp_path: Path, catalog_url: str) -> None:
    """Stopped in the middle of an A-ASSOCIATE-RQ: closed after the ARTIM time.  Stopped in
    the middle of a P-DATA-TF once associated: aborted after the stall timeout, which frees
    its association slot (one slot here: the next client gets it)."""
    options = ("--artim-timeout", "1", "--stall-timeout", "1", "--max-associations", "1")
    with serving(tmp_path, catalog_url, *options) as serve:
        with connect(serve.port, STALL_HOST) as peer:
            partial_request(peer)
            started = time.monotonic()
            assert closed_by_peer(peer, 5.0) == b""
            assert 0.5 < time.monotonic() - started < 3.0
        assoc = associate(serve.port, STALL_HOST)
        assert assoc.is_established
        raw_socket(assoc).sendall(HEADER.pack(P_DATA_TF, 0, 1000) + b"\x00" * 10)
        started = time.monotonic()
        until(lambda: not assoc.is_established, 5.0)
        assert assoc.is_aborted
        assert 0.5 < time.monotonic() - started < 3.0
        until(lambda: echo_works(serve.port), 5.0)  # the one slot is free again
    assert any("sent nothing for 1 s in the middle of a PDU" in p for p in serve.problems())
    no_tracebacks(serve)


def test_one_address_cannot_take_every_connection(tmp_path: Path, catalog_url: str) -> None:
    """At most --max-peer-connections (3) per address: a fourth association from it is
    refused while it holds three; its idle connections make room for its new ones; other
    addresses are not affected."""
    with serving(tmp_path, catalog_url, "--max-peer-connections", "3") as serve:
        held = [associate(serve.port, IDLE_HOST) for _ in range(3)]
        try:
            assert all(assoc.is_established for assoc in held)
            assert not associate(serve.port, IDLE_HOST).is_established
            assert echo_works(serve.port)  # another address
        finally:
            for assoc in held:
                assoc.release()
        time.sleep(0.5)  # their threads end
        idle = [connect(serve.port, IDLE_HOST) for _ in range(3)]
        try:
            time.sleep(0.2)
            assert echo_works(serve.port, IDLE_HOST)  # the oldest idle one made room
            assert closed_by_peer(idle[0], 2.0) == b""
        finally:
            for sock in idle:
                sock.close()
    assert any("max_peer_connections" in line for line in serve.problems())
    no_tracebacks(serve)


# -- SIGTERM ---------------------------------------------------------------------------------


def test_sigterm_stops_within_the_grace_period_whatever_peers_do(
    tmp_path: Path, catalog_url: str
) -> None:
    """SIGTERM with idle connections, connections stopped in the middle of their request,
    associations stopped in the middle of a P-DATA-TF and associations that just sit
    there: the server exits (0) within its grace period (2 s), no traceback."""
    with serving(tmp_path, catalog_url, "--grace", "2") as serve:
        idle = [connect(serve.port, IDLE_HOST) for _ in range(8)]
        stalled = [connect(serve.port, STALL_HOST) for _ in range(4)]
        for sock in stalled:
            partial_request(sock)
        inside = [associate(serve.port, STALL_HOST) for _ in range(4)]
        sitting = [associate(serve.port) for _ in range(2)]
        assert all(assoc.is_established for assoc in inside + sitting)
        for assoc in inside:
            raw_socket(assoc).sendall(HEADER.pack(P_DATA_TF, 0, 100_000) + b"\x00" * 100)
        time.sleep(0.3)
        started = time.monotonic()
        code = serve.stop()
        took = time.monotonic() - started
        for sock in idle + stalled:
            sock.close()
        for assoc in inside + sitting:
            assoc.abort()
    assert code == 0
    assert took < 2.0 + 1.0, f"stopped after {took:.1f} s"
    no_tracebacks(serve)


# -- the load ---------------------------------------------------------------------------------


class _Attackers:
    """Keeps ``idle`` connections that send nothing and ``stalled`` ones stopped in the
    middle of a PDU open, opening new ones as the server closes them.  Half the stalled
    ones stop inside an A-ASSOCIATE-RQ (held until the ARTIM time), half inside a PDU
    that declares 0xFFFFFFFF bytes (aborted at once, so reopened all the time)."""

    def __init__(self, port: int, idle: int, stalled: int) -> None:
        self.port = port
        self.wanted = {IDLE_HOST: idle, STALL_HOST: stalled}
        self.open: dict[str, list[socket.socket]] = {IDLE_HOST: [], STALL_HOST: []}
        self.opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Attackers:
        self._thread.start()
        until(lambda: len(self.open[IDLE_HOST]) == self.wanted[IDLE_HOST], 10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for socks in self.open.values():
            for sock in socks:
                sock.close()

    def count(self) -> int:
        return sum(len(socks) for socks in self.open.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            for host, socks in self.open.items():
                for sock in list(socks):
                    if _is_closed(sock):
                        socks.remove(sock)
                        sock.close()
                while len(socks) < self.wanted[host]:
                    sock = connect(self.port, host)
                    if host == STALL_HOST:
                        if self.opened % 2:
                            partial_request(sock)
                        else:  # an oversized PDU, never finished: aborted at once
                            sock.sendall(HEADER.pack(P_DATA_TF, 0, 0xFFFFFFFF) + b"\x00" * 64)
                    sock.setblocking(False)  # for _is_closed
                    socks.append(sock)
                    self.opened += 1
            self._stop.wait(0.05)


def _is_closed(sock: socket.socket) -> bool:
    """Closed, or about to be: the server never sends these peers anything but an
    A-ABORT before it closes."""
    try:
        sock.recv(4096, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        pass
    return True


@pytest.mark.slow
def test_sixteen_associations_are_served_beside_idle_and_stalled_connections(
    tmp_path: Path, catalog_url: str, ct_files: list[Path]
) -> None:
    """Issue 9's load: 32 idle and 16 stalled connections kept open (reopened as the
    server drops them), and meanwhile 16 associations at once, as many as the server
    serves (12 querying, 4 storing): every one is accepted and every request answered."""
    sop_uids = [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in ct_files]
    new_objects = clone_ct(tmp_path / "new", 40, patient_id="HOSTILE-NEW")
    store = tmp_path / "store"
    failures: list[str] = []
    all_established = threading.Barrier(16, timeout=30)

    def finder(index: int) -> None:
        assoc = associate(serve.port, calling=f"FIND{index}")
        try:
            all_established.wait()
            if not assoc.is_established:
                failures.append(f"finder {index} was not accepted")
                return
            for round_ in range(5):
                for uid in sop_uids:
                    found = [
                        ds
                        for status, ds in assoc.send_c_find(
                            query(
                                "IMAGE",
                                StudyInstanceUID="",
                                SeriesInstanceUID="",
                                SOPInstanceUID=uid,
                            ),
                            STUDY_FIND,
                        )
                        if status and status.Status in (0xFF00, 0xFF01)
                    ]
                    if len(found) != 1:
                        failures.append(f"finder {index} round {round_}: {uid} found {len(found)}")
        finally:
            if assoc.is_established:
                assoc.release()

    def storer(index: int) -> None:
        assoc = associate(serve.port, calling=f"STORE{index}", storage=True)
        try:
            all_established.wait()
            if not assoc.is_established:
                failures.append(f"storer {index} was not accepted")
                return
            for path in new_objects[index::4]:
                status = assoc.send_c_store(path)
                if not status or status.Status != 0:
                    failures.append(f"storer {index}: {path.name} got {status}")
        finally:
            if assoc.is_established:
                assoc.release()

    with serving(tmp_path, catalog_url, "--store", str(store), "--artim-timeout", "2") as serve:
        with _Attackers(serve.port, idle=32, stalled=16) as attackers:
            jobs = [threading.Thread(target=finder, args=(i,)) for i in range(12)]
            jobs += [threading.Thread(target=storer, args=(i,)) for i in range(4)]
            started = time.monotonic()
            for job in jobs:
                job.start()
            for job in jobs:
                job.join(120)
            took = time.monotonic() - started
            reopened = attackers.opened - 48
        assert not any(job.is_alive() for job in jobs), "a client hung"
        assert not failures, failures[:10]
        assert echo_works(serve.port)
    text = serve.log.read_text(errors="replace")
    assert "too many associations" not in text
    assert text.count(" accepted\n") >= 17
    assert reopened > 0  # the oversized ones are aborted at once, and reopened
    assert took < 60
    print(f"16 associations served in {took:.1f} s; {reopened} attacking connections reopened")
    no_tracebacks(serve)


def test_the_servers_inflation_bound_is_the_file_readers() -> None:
    """``ServerConfig.max_inflated`` defaults to the reader's own bound (mirrored, not
    imported: the server's config must not import pydicom)."""
    from dicomref.extraction import ReadLimits
    from dicomref.server._config import DEFAULT_MAX_INFLATED

    assert ReadLimits().max_inflated == DEFAULT_MAX_INFLATED
