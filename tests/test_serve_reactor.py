"""The server's DUL reactor waits for work instead of polling (``server/_reactor.py``):
associations still end on release, abort, a closed connection, garbage and the ARTIM
timer, large PDUs still arrive whole, and several associations still store at once."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

from dicomref._dimse._contexts import VERIFICATION
from dicomref.catalog import Catalog
from dicomref.server import ServerConfig
from dicomref.server._reactor import LONGEST_WAIT
from serve_support import Served, catalog_of, raw_association, start
from servers import LOOPBACK, clone_ct

#: Seconds an association may take to end once there is no reason for it to go on.
ENDS_WITHIN = 2.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = catalog_of([], f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    running = start(
        ServerConfig(port=0, store=tmp_path / "store", acse_timeout=1.0, artim_timeout=1.0), url
    )
    try:
        yield running
    finally:
        running.server.stop()


def _accepted(served: Served) -> list[object]:
    server = served.server._server
    assert server is not None
    return list(server.active_associations)


def _until(condition: Callable[[], bool], seconds: float = ENDS_WITHIN) -> float:
    """Seconds until ``condition`` held; fails the test after ``seconds``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "still waiting"
        time.sleep(0.005)
    return time.monotonic() - started


def test_accepted_associations_wait_instead_of_polling(served: Served) -> None:
    with raw_association(served.port) as assoc:
        [accepted] = _accepted(served)
        dul = accepted.dul  # type: ignore[attr-defined]
        assert "run" in vars(dul)  # the reactor of server/_reactor.py
        assert assoc.send_c_echo().Status == 0
        time.sleep(0.2)  # idle: the reactor sleeps in select, the echo still answers
        assert assoc.send_c_echo().Status == 0


def test_release_ends_the_association_at_once(served: Served) -> None:
    with raw_association(served.port) as assoc:
        assert assoc.send_c_echo().Status == 0
        [accepted] = _accepted(served)
        assoc.release()
    assert _until(lambda: not accepted.dul.is_alive()) < LONGEST_WAIT + 1  # type: ignore[attr-defined]
    _until(lambda: not _accepted(served))


def test_abort_by_the_peer_ends_the_association(served: Served) -> None:
    with raw_association(served.port) as assoc:
        [accepted] = _accepted(served)
        assoc.abort()
    _until(lambda: not accepted.dul.is_alive())  # type: ignore[attr-defined]
    _until(lambda: not _accepted(served))


def test_a_connection_closed_without_release_ends_the_association(served: Served) -> None:
    with raw_association(served.port) as assoc:
        [accepted] = _accepted(served)
        assert assoc.dul.socket is not None and assoc.dul.socket.socket is not None
        assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)
        _until(lambda: not accepted.dul.is_alive())  # type: ignore[attr-defined]
        assoc.abort()
    _until(lambda: not _accepted(served))


def test_the_server_aborts_its_associations_when_it_stops(served: Served) -> None:
    with raw_association(served.port) as assoc:
        [accepted] = _accepted(served)
        started = time.monotonic()
        served.server.stop()
        assert not accepted.dul.is_alive()  # type: ignore[attr-defined]
        _until(lambda: not assoc.is_established)
    assert time.monotonic() - started < 15


def test_the_artim_timer_closes_a_silent_connection(served: Served) -> None:
    """Connected, no A-ASSOCIATE-RQ: the ARTIM timer (1 s here) ends it, nothing else
    happens."""
    with socket.create_connection((LOOPBACK, served.port), timeout=10) as silent:
        started = time.monotonic()
        assert silent.recv(1024) == b""  # closed by the server, nothing sent
        waited = time.monotonic() - started
    assert 0.5 < waited < 1.0 + ENDS_WITHIN
    _until(lambda: not _accepted(served))


def test_garbage_is_answered_with_an_abort(served: Served) -> None:
    with socket.create_connection((LOOPBACK, served.port), timeout=10) as peer:
        peer.sendall(b"\x09\x00" + struct.pack(">L", 0))  # no such PDU type
        answer = peer.recv(1024)
    assert answer[:1] == b"\x07"  # A-ABORT
    _until(lambda: not _accepted(served))


@pytest.mark.parametrize("max_pdu", [16_382, 0])
def test_large_objects_arrive_whole(served: Served, tmp_path: Path, max_pdu: int) -> None:
    """A 4 MiB object in PDUs of 16 KiB, or in one PDU (no limit on either side)."""
    [path] = clone_ct(tmp_path / "big", 1, patient_id="BIG")
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 1448
    ds.PixelData = bytes(range(256)) * (1448 * 1448 * 2 // 256)
    ds.save_as(path)
    ae = AE(ae_title="BIG")
    ae.maximum_pdu_size = max_pdu
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ae.add_requested_context(VERIFICATION)
    config = served.server.config
    assert config.max_pdu != 0
    assoc = ae.associate(LOOPBACK, served.port, ae_title=config.ae_title, max_pdu=max_pdu)
    try:
        assert assoc.is_established
        assert assoc.send_c_store(path).Status == 0
    finally:
        assoc.release()
    with Catalog(served.catalog_url) as catalog:
        [held] = catalog.locate(str(ds.SOPInstanceUID))
    assert pydicom.dcmread(held.path).PixelData == ds.PixelData


def test_several_associations_store_at_once(served: Served, tmp_path: Path) -> None:
    batches = [clone_ct(tmp_path / f"b{i}", 8, patient_id=f"MANY-{i}") for i in range(4)]
    statuses: dict[int, list[int]] = {}
    failures: list[BaseException] = []

    def store(index: int) -> None:
        try:
            with raw_association(served.port, storage=[CTImageStorage]) as assoc:
                statuses[index] = [int(assoc.send_c_store(p).Status) for p in batches[index]]
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=store, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert statuses == {i: [0] * 8 for i in range(len(batches))}
    _until(lambda: not _accepted(served))
    with Catalog(served.catalog_url) as catalog:
        for batch in batches:
            for path in batch:
                assert catalog.locate(str(pydicom.dcmread(path).SOPInstanceUID))
