"""The C-STORE path's parts: the staged file, the indexer's duplicate check and group
commits, the C-STORE response encoded without pydicom, objects whose SOP Instance UID the
catalog holds outside the store (the indexer finds them; the new copy is compared, then
dropped), and a server killed while associations store at once."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import UID, CTImageStorage, RTPlanStorage
from pynetdicom.dimse_messages import C_ECHO_RQ, C_STORE_RQ, C_STORE_RSP
from pynetdicom.dimse_primitives import C_ECHO, C_STORE
from pynetdicom.dsutils import decode, encode
from pynetdicom.presentation import build_context

from backends import BOTH_BACKENDS
from dicomref.catalog import Catalog
from dicomref.errors import CatalogError
from dicomref.extraction import read_object
from dicomref.server import ServerConfig
from dicomref.server._ingest import Indexer
from dicomref.server._staging import Staged
from dicomref.server._store_request import command_elements, store_request
from dicomref.server._tuning import _Contexts, store_response
from dicomref.store import ManagedStore
from serve_support import ServeCommand, Served, catalog_of, raw_association, start
from servers import clone_ct

# -- the C-STORE response --------------------------------------------------------------------


@pytest.mark.parametrize("code", [0x0000, 0xB000, 0x0111, 0xA700])
@pytest.mark.parametrize("sop_class", [CTImageStorage, RTPlanStorage])
@pytest.mark.parametrize("sop_instance", ["1.2.3.4", "1.2.3.45"])
def test_store_response_is_what_pynetdicom_encodes(
    code: int, sop_class: str, sop_instance: str
) -> None:
    primitive = C_STORE()
    primitive.MessageIDBeingRespondedTo = 65535
    primitive.AffectedSOPClassUID = sop_class
    primitive.AffectedSOPInstanceUID = sop_instance
    primitive.Status = code
    message = C_STORE_RSP()
    message.primitive_to_message(primitive)
    assert store_response(primitive) == encode(message.command_set, True, True)


def test_store_response_leaves_the_rest_to_pynetdicom() -> None:
    primitive = C_STORE()
    primitive.MessageIDBeingRespondedTo = 1
    primitive.AffectedSOPClassUID = CTImageStorage
    primitive.AffectedSOPInstanceUID = "1.2.3"
    primitive.Status = 0xA700
    primitive.ErrorComment = "cannot write"  # type: ignore[assignment]  # typed None there
    assert store_response(primitive) is None
    request = C_STORE()
    request.MessageID = 1
    assert store_response(request) is None


def _command_set(primitive: C_STORE | C_ECHO) -> bytes:
    message = C_STORE_RQ() if isinstance(primitive, C_STORE) else C_ECHO_RQ()
    message.primitive_to_message(primitive)
    encoded = encode(message.command_set, True, True)
    assert encoded is not None
    return bytes(encoded)


def _store_request(**extra: object) -> C_STORE:
    primitive = C_STORE()
    primitive.MessageID = 65535
    primitive.AffectedSOPClassUID = CTImageStorage
    primitive.AffectedSOPInstanceUID = "1.2.826.0.1.3680043.10.1.234"  # odd: padded
    primitive.DataSet = BytesIO(b"data")
    for name, value in extra.items():
        setattr(primitive, name, value)
    return primitive


_READ = (
    "MessageID",
    "AffectedSOPClassUID",
    "AffectedSOPInstanceUID",
    "Priority",
    "MoveOriginatorApplicationEntityTitle",
    "MoveOriginatorMessageID",
)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"Priority": 1},
        {"Priority": 2, "MoveOriginatorApplicationEntityTitle": "ORTHANC"},
        {"MoveOriginatorApplicationEntityTitle": "MOVER", "MoveOriginatorMessageID": 7},
    ],
    ids=repr,
)
def test_a_store_request_is_read_as_pynetdicom_reads_it(extra: dict[str, object]) -> None:
    raw = _command_set(_store_request(**extra))
    message = C_STORE_RQ()
    message.command_set = decode(BytesIO(raw), True, True)
    message.data_set = BytesIO(b"data")
    theirs = message.message_to_primitive()
    ours = store_request(raw)
    assert ours is not None
    for name in _READ:
        assert getattr(ours, name) == getattr(theirs, name), name
        assert type(getattr(ours, name)) is type(getattr(theirs, name)), name


def test_what_is_not_a_plain_store_request_is_left_to_pynetdicom() -> None:
    echo = C_ECHO()
    echo.MessageID = 1
    echo.AffectedSOPClassUID = "1.2.840.10008.1.1"
    assert store_request(_command_set(echo)) is None
    raw = _command_set(_store_request())
    assert store_request(raw) is not None
    assert store_request(raw[:-3]) is None  # truncated
    assert store_request(raw + struct.pack("<HHI", 0x0000, 0x0902, 2) + b"no") is None
    assert store_request(raw + struct.pack("<HHI", 0x0008, 0x0016, 0)) is None  # not group 0
    twice = _command_set(_store_request(AffectedSOPInstanceUID="1.2.3"))
    assert store_request(twice.replace(b"1.2.3\x00", b"1\\2.")) is None  # two values
    assert set(command_elements(raw) or {}) == {0x0, 0x2, 0x100, 0x110, 0x700, 0x800, 0x1000}


def test_presentation_contexts_are_copied_sharing_their_uids() -> None:
    contexts = _Contexts(
        [build_context(CTImageStorage, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])]
    )
    contexts[0].context_id = 3
    [twin] = copy.deepcopy(contexts)
    [reference] = copy.deepcopy(list(contexts))
    assert str(twin) == str(reference) and twin.context_id == 3
    twin.transfer_syntax = ["1.2.840.10008.1.2"]
    twin.context_id = 5
    assert len(contexts[0].transfer_syntax) == 2 and contexts[0].context_id == 3


# -- the staged file ---------------------------------------------------------------------------


def test_a_staged_file_is_linked_never_over_another(tmp_path: Path) -> None:
    store = ManagedStore(tmp_path)
    target = tmp_path / "study" / "CT_series" / "object.dcm"
    with Staged(store, b"first") as staged:
        assert staged.link(target) == (True, [tmp_path / "study", tmp_path / "study/CT_series"])
        staged.sync()
    with Staged(store, b"second") as staged:
        assert staged.link(target) == (False, [])
    assert target.read_bytes() == b"first"
    with Staged(store, b"withdrawn") as staged:
        other = target.with_name("other.dcm")
        assert staged.link(other) == (True, [])
        staged.withdraw(other)
        assert not other.exists() and staged.path.read_bytes() == b"withdrawn"
    with Staged(store, b"third") as staged:
        assert staged.replace(target) == []
    assert target.read_bytes() == b"third"
    assert [p.name for p in tmp_path.iterdir()] == ["study"]  # no temporary name left


# -- the indexer's duplicate check -------------------------------------------------------------


@BOTH_BACKENDS
def test_the_indexer_skips_what_another_file_holds(tmp_path: Path, catalog_url: str) -> None:
    [path] = clone_ct(tmp_path / "in", 1)
    summary = read_object(path)
    with Catalog(catalog_url) as catalog:
        catalog.add([summary])
        indexer = Indexer(catalog)
        indexer.start()
        try:
            elsewhere = dataclasses.replace(summary, path=str(tmp_path / "copy.dcm"))
            assert not indexer.wait(indexer.submit(elsewhere, unless_held=True))
            assert [s.path for s in catalog.locate(summary.sop_instance)] == [str(path)]
            assert indexer.wait(indexer.submit(summary, unless_held=True))  # its own row
            assert indexer.wait(indexer.submit(elsewhere))  # without the check: a 2nd row
            assert len(catalog.locate(summary.sop_instance)) == 2
        finally:
            indexer.stop()


@contextlib.contextmanager
def _writes_held(url: str, uid: str) -> Iterator[None]:
    """Another connection holds what the indexer's next write of ``uid`` must take (the
    SQLite write lock; on PostgreSQL the advisory lock of the UID's duplicate check), so
    that what is submitted meanwhile queues up into one group."""
    if url.startswith("sqlite"):
        held = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        held.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            held.execute("ROLLBACK")
            held.close()
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (uid,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (uid,))


@BOTH_BACKENDS
def test_an_object_the_catalog_refuses_fails_alone_in_its_group(
    tmp_path: Path, catalog_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One object of a group commit that the catalog refuses (here: no SOP Class UID, a
    NOT NULL column) fails alone: the others of its group are indexed and answered."""
    summaries = [read_object(p) for p in clone_ct(tmp_path / "in", 6)]
    bad = dataclasses.replace(summaries[3], sop_class=None)  # type: ignore[arg-type]
    with Catalog(catalog_url) as catalog:
        indexer = Indexer(catalog)
        indexer.start()
        try:
            with (
                caplog.at_level(logging.WARNING),
                _writes_held(catalog_url, summaries[0].sop_instance),
            ):
                tickets = [
                    indexer.submit(s, unless_held=True)
                    for s in [*summaries[:3], bad, *summaries[4:]]
                ]
                time.sleep(0.3)  # the first write waits for the lock; the rest queue up
                assert not any(ticket.done.is_set() for ticket in tickets)
            for i, ticket in enumerate(tickets):
                if i == 3:
                    with pytest.raises(CatalogError):
                        indexer.wait(ticket)
                else:
                    assert indexer.wait(ticket)
        finally:
            indexer.stop()
        assert "indexing each alone" in caplog.text  # a group of several failed, then split
        for i, summary in enumerate(summaries):
            assert len(catalog.locate(summary.sop_instance)) == (i != 3)


# -- a server killed while associations store at once --------------------------------------------


@BOTH_BACKENDS
def test_nothing_answered_success_is_lost_when_killed_mid_group(
    tmp_path: Path, catalog_url: str
) -> None:
    """Four associations store at once (their objects share group commits); the server is
    SIGKILLed in the middle.  Every object answered success is in the catalog, its file in
    the store; nothing half-written is indexed."""
    batches = [clone_ct(tmp_path / f"in{i}", 40, patient_id=f"KILL-{i}") for i in range(4)]
    succeeded: list[Path] = []
    lock = threading.Lock()
    store = tmp_path / "store"
    serve = ServeCommand(catalog_url, tmp_path / "serve.log", "--store", str(store)).start()

    def send(paths: list[Path]) -> None:
        with (
            contextlib.suppress(Exception),
            raw_association(serve.port, calling="KILLED", storage=[CTImageStorage]) as assoc,
        ):
            for path in paths:
                answer = assoc.send_c_store(path)
                if not assoc.is_established or int(getattr(answer, "Status", -1)) != 0:
                    return
                with lock:
                    succeeded.append(path)

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(succeeded) < 40 and time.monotonic() < deadline:
            time.sleep(0.005)
        serve.kill()  # SIGKILL mid-stream: groups in flight, responses on their way
        for thread in threads:
            thread.join(60)
    finally:
        serve.kill()
    total = sum(len(batch) for batch in batches)
    assert 40 <= len(succeeded) < total, "the kill came too late to be in the middle"
    with Catalog(catalog_url) as catalog:
        for path in succeeded:
            sent = pydicom.dcmread(path)
            [held] = catalog.locate(str(sent.SOPInstanceUID))
            assert pydicom.dcmread(held.path).PixelData == sent.PixelData  # whole, to the end
        for indexed in catalog.instances():  # committed ones whose answer was cut: whole too
            assert read_object(indexed.path).sop_instance == indexed.sop_instance


# -- objects held outside the store ------------------------------------------------------------


@pytest.fixture
def held_outside(tmp_path: Path, catalog_url: str) -> Iterator[tuple[Served, Path]]:
    """A server whose catalog holds one CT file outside its store."""
    [path] = clone_ct(tmp_path / "scanned", 1, patient_id="HELD-OUTSIDE")
    url = catalog_of([tmp_path / "scanned"], catalog_url)
    running = start(ServerConfig(port=0, store=tmp_path / "store"), url)
    try:
        yield running, path
    finally:
        running.server.stop()


def _store(port: int, path: Path) -> int:
    with raw_association(port, calling="SENDER", storage=[CTImageStorage]) as assoc:
        return int(assoc.send_c_store(path).Status)


@BOTH_BACKENDS
def test_an_object_held_outside_the_store_is_not_stored_twice(
    held_outside: tuple[Served, Path], tmp_path: Path
) -> None:
    served, path = held_outside
    assert _store(served.port, path) == 0x0000
    changed = pydicom.dcmread(path)
    changed.PatientName = "OTHER^CONTENT"
    changed.save_as(tmp_path / "changed.dcm", enforce_file_format=True)
    assert _store(served.port, tmp_path / "changed.dcm") == 0x0111
    with Catalog(served.catalog_url) as catalog:
        assert [s.path for s in catalog.locate(str(changed.SOPInstanceUID))] == [str(path)]
    store = served.server.config.store
    assert store is not None and not [p for p in store.rglob("*") if p.is_file()]


# -- UIDs that are not UIDs ----------------------------------------------------------------------


_BAD_UIDS = ["1.2.3.4/../../etc", "1.2.3\n4", "1.2.x.4", "1." + "2" * 200]
_WHERE = ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"]


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI", "ignore:The value length")
@pytest.mark.parametrize(
    ("where", "bad"),
    # pynetdicom will not send an Affected SOP Instance UID over 64 characters at all
    [(w, b) for w in _WHERE for b in _BAD_UIDS if w != "SOPInstanceUID" or len(b) <= 64],
    ids=repr,
)
def test_a_c_store_whose_uid_is_not_a_uid_is_refused(
    held_outside: tuple[Served, Path], tmp_path: Path, bad: str, where: str
) -> None:
    """Sent over a real association: refused with a failure status, nothing written to the
    store or the catalog, and the server goes on taking good objects."""
    served, path = held_outside
    ds = pydicom.dcmread(path)
    ds.PatientID = "BAD-UID"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.99.1"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    setattr(ds, where, bad)
    if where == "SOPInstanceUID":
        ds.file_meta.MediaStorageSOPInstanceUID = UID(bad)
    with raw_association(served.port, calling="SENDER", storage=[CTImageStorage]) as assoc:
        answer = assoc.send_c_store(ds)
        assert int(answer.Status) & 0xF000 in (0xA000, 0xC000), hex(int(answer.Status))
    with Catalog(served.catalog_url) as catalog:
        assert catalog.locate(bad) == []
        assert catalog.locate("1.2.826.0.1.3680043.10.99.1") == []
    store = served.server.config.store
    assert store is not None and not [p for p in store.rglob("*") if p.is_file()]
    [good] = clone_ct(tmp_path / "good", 1)
    assert _store(served.port, good) == 0x0000
