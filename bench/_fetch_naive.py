"""The naive way, with pynetdicom alone: C-MOVE the whole study to a storage SCP of our own.

:class:`NaiveReceiver` is the storage SCP (AE :data:`NAIVE_AE` on a free loopback port,
registered with the server as a C-MOVE destination, started once like a user's running
storescp).  Every object it receives is written the way dicomref writes one: encoded as a
Part-10 file, written to a temporary file in the target folder, flushed (fsync'd when
asked), renamed into place.  :func:`naive_move` sends one STUDY-level C-MOVE of the study
(its UID given for free: the user would find it with a STUDY C-FIND by Patient ID first).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

NAIVE_AE = "NAIVE"
LOOPBACK = "127.0.0.1"
PENDING = (0xFF00, 0xFF01)
STUDY_ROOT_MOVE = UID("1.2.840.10008.5.1.4.1.2.2.2")
"""Study Root Query/Retrieve Information Model - MOVE."""

logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class NaiveRun:
    """One whole-study C-MOVE: what arrived and what it cost."""

    objects: int
    bytes: int
    c_move: int
    associations: int
    incoming: int
    seconds: float
    status: int
    completed: int
    failed: int


class NaiveReceiver:
    """A storage SCP writing what arrives into ``folder`` (settable between runs)."""

    def __init__(self, port: int, *, fsync: bool) -> None:
        self.port = port
        self.fsync = fsync
        self.folder: Path | None = None
        self._lock = threading.Lock()
        self._objects = 0
        self._bytes = 0
        self._incoming = 0
        self._server: ThreadedAssociationServer | None = None
        self._ae = AE(ae_title=NAIVE_AE)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                self._ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)

    def start(self) -> None:
        handlers: list[EventHandlerType] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_CONN_OPEN, self._on_open),
        ]
        self._server = self._ae.start_server(
            (LOOPBACK, self.port), block=False, evt_handlers=handlers
        )

    def stop(self) -> None:
        self._ae.shutdown()
        self._server = None

    def reset(self, folder: Path) -> None:
        """Write into ``folder`` from now on, with the counts set to zero."""
        with self._lock:
            self.folder = folder
            self._objects = self._bytes = self._incoming = 0

    def counts(self) -> tuple[int, int, int]:
        """Objects written, their bytes, associations the server opened to us."""
        with self._lock:
            return self._objects, self._bytes, self._incoming

    def _on_open(self, event: Event) -> None:
        with self._lock:
            self._incoming += 1

    def _on_store(self, event: Event) -> int:
        dataset: Dataset = event.dataset
        dataset.file_meta = event.file_meta
        buffer = io.BytesIO()
        dcmwrite(buffer, dataset, enforce_file_format=True)
        data = buffer.getvalue()
        folder = self.folder
        if folder is None:
            return 0xA700
        _atomic_write(folder / f"{dataset.SOPInstanceUID}.dcm", data, fsync=self.fsync)
        with self._lock:
            self._objects += 1
            self._bytes += len(data)
        return 0x0000


def _atomic_write(target: Path, data: bytes, *, fsync: bool) -> None:
    """What dicomref's store does per object: temporary file, flush, (fsync), rename."""
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
        stream.flush()
        if fsync:
            os.fsync(stream.fileno())
    Path(temp_name).replace(target)
    if fsync:
        descriptor = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def naive_move(
    receiver: NaiveReceiver, server_ae: str, server_port: int, study: str, folder: Path
) -> NaiveRun:
    """C-MOVE study ``study`` from the server to ``receiver``, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    receiver.reset(folder)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study
    ae = AE(ae_title=NAIVE_AE)
    ae.dimse_timeout = 600
    ae.add_requested_context(STUDY_ROOT_MOVE)
    started = time.perf_counter()
    assoc = ae.associate(LOOPBACK, server_port, ae_title=server_ae)
    if not assoc.is_established:
        raise RuntimeError(f"naive: no association with {server_ae}@{LOOPBACK}:{server_port}")
    status = completed = failed = -1
    try:
        for response, _ in assoc.send_c_move(identifier, NAIVE_AE, STUDY_ROOT_MOVE):
            if response is None or "Status" not in response:
                raise RuntimeError("naive: the C-MOVE got no response")
            status = int(response.Status)
            if status in PENDING:
                continue
            completed = int(response.get("NumberOfCompletedSuboperations", 0) or 0)
            failed = int(response.get("NumberOfFailedSuboperations", 0) or 0)
    finally:
        assoc.release()
    seconds = time.perf_counter() - started
    objects, size, incoming = receiver.counts()
    return NaiveRun(
        objects=objects,
        bytes=size,
        c_move=1,
        associations=1,
        incoming=incoming,
        seconds=seconds,
        status=status,
        completed=completed,
        failed=failed,
    )
