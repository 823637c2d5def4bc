"""Receiving the objects of one retrieve: into the store if wanted, else into a holding area.

A :class:`Batch` is the storage callback of one C-MOVE/C-GET.  Each object is written as
the Part-10 file it arrived as (preamble, file meta with the transfer syntax it came in,
the dataset's bytes as received: never decoded and encoded again):

- to the :class:`~dicomref.store.ManagedStore` (atomically, under hashed paths) when its
  SOP Instance UID is one the fetch wants.  The receiving thread hands the bytes to a
  flushing thread (:data:`FLUSHERS` of them) and answers at once: the write under a
  temporary name, the fsync and the rename into place happen there, so the server sends
  the next object while this one goes to disk instead of waiting ~4 ms per object for
  the write and its fsync (a C-STORE's success then says "received", and what is not
  yet flushed at a crash is not in the store, to be fetched again).  A retrieve's
  objects are all in place and durable once :meth:`Batch.sync` returns (before anything
  reads or indexes them); one whose flush failed is dropped there (logged, so missing).
  The flushing thread then reads the object back (:func:`read_object`, from the page
  cache) while the next ones arrive, so the caller finds it read;
- otherwise to the holding folder, for the caller to decide once it has read what
  arrived (candidates for dependents, objects a locating retrieve brought): kept when
  it turns out to be wanted, discarded and counted otherwise; or, with ``drop``, not
  written at all, only counted (the rest of a series retrieved whole for some of its
  objects, which the caller would discard unread).

Never a path from a raw UID: the store hashes, and so does the holding folder.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from dicomref.errors import UsageError
from dicomref.extraction import read_object
from dicomref.model import InstanceKey, ObjectSummary
from dicomref.remote.transport._encode import encode
from dicomref.remote.transport._mismatch import Mismatch
from dicomref.store import ManagedStore, Staged, fsync_folder, uid_token

LOGGER = logging.getLogger(__name__)

FLUSHERS = 2
"""Threads flushing a retrieve's objects to disk (fsync, rename) while more arrive."""
BACKLOG = 16
"""Objects of a retrieve waiting for their flush at most: past that, the receiving thread
waits for the oldest (the server then waits for our answer, as without flushing threads),
so what is written but not yet durable, or not yet in place, stays bounded."""
BACKLOG_BYTES = 128 << 20
"""The same bound in bytes held in memory for the flushing threads (large objects)."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """One object that arrived: where it was written and whether that is the store;
    ``summary``: the object read back by the flushing thread (None: not read yet)."""

    key: InstanceKey
    sop_class: str
    modality: str | None
    path: Path
    size: int
    kept: bool
    summary: ObjectSummary | None = None


def _text(dataset: Dataset, keyword: str) -> str:
    value = str(dataset.get(keyword, "") or "").strip()
    if not value:
        raise UsageError(f"the server sent an object without {keyword}: it cannot be stored")
    return value


class Batch:
    """The storage callback of one retrieve (called from the receiving thread).

    ``keep``: SOP Instance UIDs written straight to ``store``; others go to ``holding``,
    or with ``drop`` nowhere (:attr:`dropped` counts them).  ``on_arrival`` is told the
    size of each object written.
    """

    def __init__(
        self,
        store: ManagedStore,
        holding: Path,
        keep: frozenset[str],
        on_arrival: Callable[[int], None] | None = None,
        *,
        drop: bool = False,
    ) -> None:
        self.store = store
        self.holding = holding
        self.keep = keep
        self.drop = drop
        self._on_arrival = on_arrival
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._dropped: list[tuple[InstanceKey, int]] = []
        self._mismatches: list[Mismatch] = []
        self._folders: set[Path] = set()
        self._flusher: ThreadPoolExecutor | None = None
        self._pending: list[tuple[Arrival, Future[ObjectSummary | None]]] = []

    @property
    def dropped(self) -> tuple[tuple[InstanceKey, int], ...]:
        """The objects not wanted that were dropped unwritten (``drop``), with their sizes."""
        with self._lock:
            return tuple(self._dropped)

    @property
    def arrivals(self) -> tuple[Arrival, ...]:
        """What arrived, each in its place (waits for the pending flushes)."""
        self._settle()
        with self._lock:
            return tuple(self._arrivals)

    @property
    def mismatches(self) -> tuple[Mismatch, ...]:
        """Objects refused because they were not what their C-STORE announced."""
        with self._lock:
            return tuple(self._mismatches)

    def on_mismatch(self, mismatch: Mismatch) -> None:
        """The receiver refused an object that was not what it was announced as."""
        with self._lock:
            self._mismatches.append(mismatch)

    def sync(self) -> None:
        """Wait until every object is flushed and in its place, then make the renames
        into the store durable: each folder written to, synced once (not once per
        object), before the objects are indexed."""
        self._settle()
        with self._lock:
            folders, self._folders = self._folders, set()
        if self.store.fsync:
            for folder in sorted(folders):
                fsync_folder(folder)

    def _settle(self) -> None:
        """Wait for the pending flushes; an object whose flush failed is dropped from the
        arrivals (logged: it is then missing, and fetched again by a rerun)."""
        with self._lock:
            pending, self._pending = self._pending, []
            flusher, self._flusher = self._flusher, None
        failed: set[int] = set()
        read: dict[int, ObjectSummary] = {}
        for arrival, future in pending:
            error = future.exception()
            if error is not None:
                LOGGER.error("could not store SOP Instance %s: %s", arrival.key.sop, error)
                failed.add(id(arrival))
                continue
            summary = future.result()
            if summary is not None:
                read[id(arrival)] = summary
        if flusher is not None:
            flusher.shutdown(wait=True)
        if failed or read:
            with self._lock:
                self._arrivals = [
                    dataclasses.replace(a, summary=read[id(a)]) if id(a) in read else a
                    for a in self._arrivals
                    if id(a) not in failed
                ]

    def count(self) -> int:
        """How many objects arrived so far (flushed or not, dropped included)."""
        with self._lock:
            return len(self._arrivals) + len(self._dropped)

    def __call__(self, dataset: Dataset) -> None:
        self.store_file(dataset, encode(dataset))

    def store_file(self, dataset: Dataset, data: bytes) -> None:
        """Keep ``data``, the file ``dataset`` arrived as (its bytes as received)."""
        key = InstanceKey(
            _text(dataset, "StudyInstanceUID"),
            _text(dataset, "SeriesInstanceUID"),
            _text(dataset, "SOPInstanceUID"),
        )
        sop_class = _text(dataset, "SOPClassUID")
        modality = str(dataset.get("Modality", "") or "").strip() or None
        if key.sop in self.keep:
            path = self.store.path_for(key, modality)
            self._flush(Arrival(key, sop_class, modality, path, len(data), True), data)
            self._log(key.sop, len(data))
            return
        if self.drop:
            with self._lock:
                self._dropped.append((key, len(data)))
            LOGGER.debug("dropped SOP Instance %s (not wanted, %d bytes)", key.sop, len(data))
            return
        else:
            self.holding.mkdir(parents=True, exist_ok=True)
            path = self.holding / f"{uid_token(key.sop, 40)}.dcm"
            path.write_bytes(data)
            arrival = Arrival(key, sop_class, modality, path, len(data), False)
        with self._lock:
            self._arrivals.append(arrival)
        self._log(key.sop, len(data))

    def _flush(self, arrival: Arrival, data: bytes) -> None:
        """Have ``data`` written, flushed and put in place at ``arrival.path`` by a
        flushing thread (an object already there is kept as it is); it counts as arrived
        now, and is in :attr:`arrivals` once flushed."""
        with self._lock:
            if self._flusher is None:
                self._flusher = ThreadPoolExecutor(FLUSHERS, thread_name_prefix="dicomref-flush")
            future = self._flusher.submit(self._write, arrival, data)
            self._pending.append((arrival, future))
            self._arrivals.append(arrival)
            self._folders.add(arrival.path.parent)
            waiting = [(a.size, f) for a, f in self._pending if not f.done()]
        held = sum(size for size, _ in waiting)
        oldest = []
        while waiting and (len(waiting) > BACKLOG or held > BACKLOG_BYTES):
            size, future = waiting.pop(0)
            held -= size
            oldest.append(future)
        if oldest:
            wait(oldest)

    def _write(self, arrival: Arrival, data: bytes) -> ObjectSummary | None:
        """In a flushing thread: the object in its place, durable (see ManagedStore.write),
        then read back (None when it cannot be: the caller reads it again and says why)."""
        staged = self.store.stage(arrival.key, data, arrival.modality)
        stored = staged.commit() if isinstance(staged, Staged) else staged
        try:
            return read_object(stored.path)
        except Exception:  # noqa: BLE001 - the caller reads it again and reports the error
            return None

    def _log(self, uid: str, size: int) -> None:
        LOGGER.debug("received SOP Instance %s (%d bytes)", uid, size)
        if self._on_arrival is not None:
            self._on_arrival(size)
