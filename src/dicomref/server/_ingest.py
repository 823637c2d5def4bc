"""The catalog's single writer: received objects are indexed in group commits.

Every C-STORE handler thread hands its object's summary to :meth:`Indexer.submit`, does
what else it has to (flush the file's data to disk), then waits (:meth:`Indexer.wait`);
one thread takes whatever has queued up meanwhile as one group, flushes the folder entries
the group's files were given (each folder once, however many files it gained), writes its
summaries in one transaction, then wakes them all.  On a catalog server (PostgreSQL), whose
transaction is round trips away, :data:`WRITERS` threads take groups, each on its own
connection (one group commits while another waits for the server), and each has a second
thread flushing its group's folders while it commits (measured: a commit's median 5.5 ->
2.8 ms with 4 associations); on SQLite (one writer at a time), whose
transaction takes a fraction of a millisecond, handing the flush over costs more than it
saves.  Either way the folder flushes overlap the handlers' own file flushes (on ext4,
concurrent flushes share a journal commit; one after another they do not).  A handler answers
success only after its object's folder entries were flushed and its transaction
committed, so an acknowledged object survives a SIGKILL (SQLite WAL: a committed
transaction is in the log before the commit returns) and, with ``fsync``, a power loss,
while concurrent associations share commits and folder flushes.

A summary submitted ``unless_held`` is indexed only if no other file holds its SOP
Instance UID: the writer asks the catalog about the batch inside its transaction (see
:meth:`~dicomref.catalog.Catalog.add_unless_held`), so the handler's duplicate check costs
it nothing while its file is flushed, and servers sharing one catalog never both index an
object.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from dicomref.catalog import Catalog
from dicomref.errors import CatalogError
from dicomref.model import ObjectSummary
from dicomref.store import fsync_folder

LOGGER = logging.getLogger(__name__)
#: Most objects one transaction indexes.
MAX_BATCH: Final = 256
#: Writing threads on a catalog server (PostgreSQL: one connection each); SQLite takes one
#: writer at a time, so it gets one.
WRITERS: Final = 2
_POLL: Final = 1.0


@dataclass(slots=True)
class _Job:
    """One summary on its way into the catalog (:meth:`Indexer.submit` returns it)."""

    summary: ObjectSummary
    unless_held: bool = False
    folders: tuple[Path, ...] = ()
    done: threading.Event = field(default_factory=threading.Event)
    committed: bool = False
    held: bool = False
    error: CatalogError | None = None
    #: Why its folders could not be flushed (None: they were, or it had none).
    sync_error: OSError | None = None


Ticket = _Job
"""What :meth:`Indexer.submit` returns, for :meth:`Indexer.wait`."""


class Indexer:
    """Indexes summaries into ``catalog`` from one thread (on PostgreSQL :data:`WRITERS`,
    each with its own connection and folder flusher, so that one group commits while the
    previous one waits for the server); safe to call from many."""

    def __init__(self, catalog: Catalog, *, max_batch: int = MAX_BATCH) -> None:
        self.catalog = catalog
        self.max_batch = max_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._flushers: list[_FolderFlusher] = []
        self._closed = threading.Event()
        self._server = not catalog.url.startswith("sqlite")
        self._counting = threading.Lock()
        #: Objects indexed and transactions committed so far.
        self.indexed = 0
        self.commits = 0

    def start(self) -> None:
        if self._threads:
            return
        for number in range(WRITERS if self._server else 1):
            flusher = _FolderFlusher() if self._server else None
            if flusher is not None:
                self._flushers.append(flusher)
            thread = threading.Thread(
                target=self._run, args=(flusher,), name=f"dicomref-indexer-{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def index(self, summary: ObjectSummary) -> None:
        """Return once ``summary`` is committed; CatalogError if it could not be."""
        self.wait(self.submit(summary))

    def submit(
        self, summary: ObjectSummary, *, unless_held: bool = False, folders: Iterable[Path] = ()
    ) -> Ticket:
        """Queue ``summary`` for the next commit and return at once: :meth:`wait` on the
        ticket before answering (the caller may do other work meanwhile, such as flushing
        the object's file to disk).  With ``unless_held``, it is not indexed if a file other
        than its own ``path`` holds its SOP Instance UID already.  ``folders`` are flushed
        (``fsync``) before the commit, once per group however many of its objects name
        them: the folders whose entries the object's file needs (its own, and the parents
        of those created for it); an error is the ticket's ``sync_error``.  CatalogError if
        the indexer is stopping."""
        if not self._threads or self._closed.is_set():
            raise CatalogError("the server is stopping: nothing more is indexed")
        job = _Job(summary, unless_held, tuple(folders))
        self._queue.put(job)
        return job

    def wait(self, ticket: Ticket) -> bool:
        """Return once the ticket's summary is committed (True), or found held by another
        file (False: submitted ``unless_held``, nothing written); CatalogError if it could
        not be indexed."""
        job = ticket
        threads = self._threads
        while not job.done.wait(_POLL):
            if not any(thread.is_alive() for thread in threads):
                if job.done.is_set():
                    break
                raise CatalogError("the catalog writer stopped: the object was not indexed")
        if job.error is not None:
            raise job.error
        if not job.committed:
            raise CatalogError("the catalog writer failed: the object was not indexed")
        return not job.held

    def stop(self) -> None:
        """Index what is queued, then stop; later :meth:`index` calls raise."""
        self._closed.set()
        threads, self._threads = self._threads, []
        if not threads:
            return
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join()
        for flusher in self._flushers:
            flusher.stop()
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job.error = CatalogError("the server stopped before the object was indexed")
                job.done.set()

    def _run(self, flusher: _FolderFlusher | None) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._commit(batch, flusher)
            if stopping:
                return

    def _commit(self, batch: list[_Job], flusher: _FolderFlusher | None) -> None:
        """Index the batch in one transaction after flushing its folders (or meanwhile,
        on a catalog server); if the transaction fails, each of its objects on its own, so that one
        object the catalog refuses fails alone (its handler answers a failure) and the
        others are answered success.  The batch is woken once both are done."""
        flushed = None
        if flusher is not None:
            flushed = flusher.flush(batch)
        else:
            _flush_folders(batch)
        try:
            try:
                self._write(batch)
            except CatalogError as exc:
                if len(batch) == 1:
                    self._failed(batch[0], exc)
                    return
                LOGGER.warning(
                    "a group commit of %d received objects failed (%s); indexing each alone",
                    len(batch),
                    exc,
                )
                for job in batch:
                    try:
                        self._write([job])
                    except CatalogError as alone:
                        self._failed(job, alone)
        finally:
            if flushed is not None:
                flushed.wait()
            for job in batch:
                if not job.committed and job.error is None:  # interrupted
                    job.error = CatalogError("the object could not be indexed")
                job.done.set()

    def _write(self, jobs: list[_Job]) -> None:
        """One transaction; CatalogError if it failed."""
        written = self.catalog.add_unless_held(
            [job.summary for job in jobs], [job.unless_held for job in jobs]
        )
        for job, was_written in zip(jobs, written, strict=True):
            job.held = not was_written
            job.committed = True
        with self._counting:
            self.commits += 1
            self.indexed += sum(written)

    @staticmethod
    def _failed(job: _Job, error: CatalogError) -> None:
        LOGGER.error("could not index SOP Instance %s: %s", job.summary.sop_instance, error)
        job.error = error


class _FolderFlusher:
    """A thread flushing the folders of a group (each once) while the indexer commits it."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[list[_Job], threading.Event] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    def flush(self, batch: list[_Job]) -> threading.Event | None:
        """Start flushing the folders ``batch`` names; the event is set once they are
        (their errors in each job's ``sync_error``); None if it names none."""
        if not any(job.folders for job in batch):
            return None
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="dicomref-folder-flush", daemon=True
            )
            self._thread.start()
        done = threading.Event()
        self._queue.put((batch, done))
        return done

    def stop(self) -> None:
        """End the thread once what it was given is flushed."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch, done = item
            try:
                _flush_folders(batch)
            finally:
                done.set()


def _flush_folders(batch: list[_Job]) -> None:
    """Flush each folder the batch names, once; a failure is each naming job's."""
    failed: dict[Path, OSError | None] = {}
    for job in batch:
        for folder in job.folders:
            if folder not in failed:
                try:
                    fsync_folder(folder)
                    failed[folder] = None
                except OSError as exc:
                    failed[folder] = exc
            job.sync_error = job.sync_error or failed[folder]
