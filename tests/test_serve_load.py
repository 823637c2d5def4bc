"""``dicomref serve`` as a command in a child process: many associations at once, and a
SIGKILL in the middle of an ingest.  (bench/serve.py runs the full-size load.)"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage

from backends import BOTH_BACKENDS
from dicomref._dimse._node import Node
from dicomref._dimse._tuning import REQUESTOR_POLL, quiet_pynetdicom, tune_requestor
from dicomref.catalog import Catalog
from dicomref.extraction import read_object
from dicomref.model import ObjectSummary
from dicomref.remote.transport._dimse_client import DimseClient
from serve_support import STUDY_FIND, TIMEOUTS, ServeCommand, query, raw_association
from servers import LOOPBACK, clone_ct

CT = "1.2.840.10008.5.1.4.1.1.2"
CATALOG_SIZE = 5000
FINDERS, FINDS = 6, 800
STORERS, STORES = 2, 200
LIST_SIZE = 50


def synthetic_uid(i: int) -> str:
    return f"2.25.{10**12 + i}"


def synthetic(n: int) -> Iterator[ObjectSummary]:
    """``n`` CT instances, 100 per series; their files do not exist (C-FIND reads none)."""
    for i in range(n):
        yield ObjectSummary(
            path=f"/nowhere/{i}.dcm",
            size=1000,
            mtime_ns=1_700_000_000_000_000_000,
            sop_class=CT,
            sop_instance=synthetic_uid(i),
            study=f"2.25.{2 * 10**12 + i // 1000}",
            series=f"2.25.{3 * 10**12 + i // 100}",
            patient_id="LOAD",
            modality="CT",
        )


def sop_of(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def findable(port: int, sop_uids: Sequence[str]) -> set[str]:
    """What C-FINDs by UID list (dicomref's own client) find of ``sop_uids``."""
    found: set[str] = set()
    with DimseClient(Node("DICOMREF_QR", LOOPBACK, port, timeouts=TIMEOUTS)) as client:
        for start in range(0, len(sop_uids), LIST_SIZE):
            ds = Dataset()
            ds.SOPInstanceUID = list(sop_uids[start : start + LIST_SIZE])
            found.update(str(row.SOPInstanceUID) for row in client.find("IMAGE", ds))
    return found


def run_all(jobs: Sequence[Callable[[], None]], timeout: float) -> list[BaseException]:
    """Run every job in its own thread at once; the exceptions they raised."""
    failures: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    return failures


class _Dimse:
    """pynetdicom's DIMSE provider as far as the guard below sees it: a message queue."""

    def __init__(self) -> None:
        self.msg_queue: queue.Queue[tuple[int | None, object]] = queue.Queue()

    def get_msg(self, block: bool = False) -> tuple[int | None, object]:
        try:
            return self.msg_queue.get(block=block, timeout=5)
        except queue.Empty:
            return None, None


class _Association(threading.Thread):
    """An association's reactor thread, reduced to the read that races (pynetdicom #875)."""

    def __init__(self) -> None:
        super().__init__()
        self.dimse = _Dimse()
        self.dul = SimpleNamespace(socket=None, _run_loop_delay=0.001)
        self.seen: tuple[int | None, object] | None = None

    def run(self) -> None:
        self.seen = self.dimse.get_msg(block=False)


def test_the_reactor_of_an_association_we_request_leaves_responses_alone() -> None:
    """A response waiting in the queue is for the operation that waits for it: the
    reactor thread's non-blocking read finds nothing (else pynetdicom 3.0 drops it, and a
    C-FIND ends in success without its match); the operation's blocking read gets it."""
    assoc = _Association()
    event: Any = SimpleNamespace(assoc=assoc)  # all the handler reads of a pynetdicom Event
    tune_requestor(event)
    tune_requestor(event)  # twice: still one guard
    assoc.dimse.msg_queue.put((1, "C-FIND-RSP"))
    assoc.start()
    assoc.join(5)
    assert assoc.seen == (None, None)
    assert assoc.dimse.get_msg(block=True) == (1, "C-FIND-RSP")
    assert assoc.dul._run_loop_delay == REQUESTOR_POLL


@pytest.mark.slow
def test_many_associations_at_once(tmp_path: Path) -> None:
    """8 associations at once (6 querying, 2 storing): every query finds its one object,
    every object is stored, indexed and found afterwards, nothing is logged as a problem."""
    quiet_pynetdicom()
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with Catalog(url) as catalog:
        catalog.add(synthetic(CATALOG_SIZE))
    paths = clone_ct(tmp_path / "in", STORES, patient_id="LOAD-STORED")
    store = tmp_path / "store"
    targets = [synthetic_uid((i * 7919) % CATALOG_SIZE) for i in range(FINDS)]

    def finder(uids: Sequence[str], calling: str) -> Callable[[], None]:
        def run() -> None:
            with raw_association(port, calling=calling) as assoc:
                for uid in uids:
                    responses = list(
                        assoc.send_c_find(query("IMAGE", SOPInstanceUID=uid), STUDY_FIND)
                    )
                    statuses = [int(status.Status) for status, _ in responses]
                    assert statuses == [0xFF00, 0x0000], (uid, statuses)
                    identifier = responses[0][1]
                    assert identifier is not None and identifier.SOPInstanceUID == uid

        return run

    def storer(files: Sequence[Path], calling: str) -> Callable[[], None]:
        def run() -> None:
            with raw_association(port, calling=calling, storage=[CTImageStorage]) as assoc:
                for path in files:
                    assert int(assoc.send_c_store(path).Status) == 0, path

        return run

    with ServeCommand(url, tmp_path / "serve.log", "--store", str(store)) as serve:
        port = serve.port
        jobs = [finder(targets[i::FINDERS], f"FIND{i}") for i in range(FINDERS)]
        jobs += [storer(paths[i::STORERS], f"STORE{i}") for i in range(STORERS)]
        started = time.monotonic()
        failures = run_all(jobs, timeout=120)
        elapsed = time.monotonic() - started
        assert not failures, failures[:3]
        sent = [sop_of(path) for path in paths]
        assert findable(port, sent) == set(sent)
        assert serve.problems() == []
    assert len(list(store.rglob("*.dcm"))) == STORES
    assert not list(store.rglob(".*.part"))
    assert elapsed < 60  # measured ~10 s here for 800 C-FINDs and 200 C-STOREs


@pytest.mark.slow
@BOTH_BACKENDS
def test_sigkill_during_ingest_leaves_a_consistent_catalog(
    tmp_path: Path, catalog_url: str
) -> None:
    """Two associations stream objects in; the server is SIGKILLed mid-stream, then
    restarted on the same store and catalog.  Every acknowledged object is indexed and
    readable, every file in the store is indexed (the start-up re-index), no ``.part``
    file is left, and C-FIND finds every acknowledged object."""
    quiet_pynetdicom()
    url = catalog_url
    store = tmp_path / "store"
    log = tmp_path / "serve.log"
    paths = clone_ct(tmp_path / "in", 300, patient_id="KILLED")
    uid_of = {path: sop_of(path) for path in paths}
    acknowledged: list[str] = []
    serve = ServeCommand(url, log, "--store", str(store)).start()
    port = serve.port

    def stream(files: Sequence[Path], calling: str) -> Callable[[], None]:
        def run() -> None:
            with raw_association(port, calling=calling, storage=[CTImageStorage]) as assoc:
                for path in files:
                    try:
                        status = assoc.send_c_store(path)
                    except RuntimeError:  # the association went down with the server
                        return
                    if status is None or status.get("Status") != 0:
                        return  # no answer (an empty status): the server is gone
                    acknowledged.append(uid_of[path])

        return run

    def kill_mid_stream() -> None:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.005)
        serve.kill()

    try:
        failures = run_all(
            [stream(paths[0::2], "STREAM0"), stream(paths[1::2], "STREAM1"), kill_mid_stream],
            timeout=90,
        )
    finally:
        serve.kill()
    assert not failures, failures[:3]
    assert 40 <= len(acknowledged) < len(paths), "the kill did not land mid-stream"
    (store / ".incoming-interrupted.part").write_bytes(b"\x00" * 128 + b"DICM")

    with ServeCommand(url, log, "--store", str(store)) as restarted:
        assert not list(store.rglob(".*.part"))
        with Catalog(url) as catalog:
            for sop in acknowledged:
                [held] = catalog.locate(sop)
                assert Path(held.path).is_relative_to(store)
                assert read_object(held.path).sop_instance == sop
            for file in store.rglob("*.dcm"):
                assert str(file) in [s.path for s in catalog.locate(sop_of(file))], file
        assert findable(restarted.port, acknowledged) == set(acknowledged)
    assert "removed" in log.read_text() and "partial files" in log.read_text()
