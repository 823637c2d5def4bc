"""A scan on a Dask cluster: this process finds the files, the cluster's workers read them.

The walk, the incremental checks, the removal of files gone and the report are the local
scan's (:class:`~._scan.Scan`); only reading and writing differ.  The files found are cut,
in walk order, into batches of :data:`BATCH_FILES` (see :mod:`._batches`): a batch whose
files all match their catalog rows is not sent; one that is in the ledger is not sent
either (its failures are reported from the ledger), except for files whose rows are gone or
stale, sent again as a batch of their own.  The rest go to the cluster as tasks, at most
:data:`WINDOW_PER_THREAD` per worker thread at a time: memory stays flat on both sides
however many files there are.

Dask is imported here only, when a scan is given a cluster (``dicomref[cluster]``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from dicomref.catalog._batches import BatchTask, Entry, Recorded, batch_id, recorded, run_batch
from dicomref.catalog._engine import masked
from dicomref.catalog._reading import ChunkReport, Reader
from dicomref.catalog._scan import DicomdirLister, ProgressCallback, Scan, _Targets
from dicomref.catalog._walk import stat_file
from dicomref.errors import ClusterError, UsageError

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)

#: Files per batch (per task, per transaction, per ledger row).
BATCH_FILES = 200
#: Tasks sent and not finished, per worker thread of the cluster.
WINDOW_PER_THREAD = 2
#: Seconds to wait for the scheduler to answer.
CONNECT_TIMEOUT = 10.0
#: Runs of a task that raised (a database busy or gone for a moment) before the scan fails;
#: runs lost with their worker are Dask's own (``distributed.scheduler.allowed-failures``).
RETRIES = 2


def shared_url(url: str) -> str:
    """``url`` as a worker elsewhere can use it: a relative SQLite path made absolute (the
    workers' folder is not ours); an in-memory SQLite database cannot be shared."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise UsageError(
            f"catalog {masked(url)} lives in this process's memory: a cluster scan needs a "
            "catalog its workers can open (postgresql+psycopg://… or a SQLite file)"
        )
    absolute = os.path.abspath(database)  # noqa: PTH100 - a path string, not a Path
    return parsed.set(database=absolute).render_as_string(hide_password=False)


def _connect(address: str) -> Client:
    try:
        from distributed import Client
    except ImportError as error:
        raise UsageError(
            "scan --cluster needs Dask distributed: pip install 'dicomref[cluster]'"
        ) from error
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address}: {error}; start one "
            "(dask scheduler) and its workers (dask worker ADDRESS), or check the address"
        ) from error


class ClusterScan(Scan):
    """A :class:`~._scan.Scan` whose files are read and written by a Dask cluster's workers."""

    def __init__(
        self,
        engine: Engine,
        url: str,
        address: str,
        *,
        reader: Reader,
        lister: DicomdirLister,
        progress: ProgressCallback | None,
        batch_files: int | None = None,
    ) -> None:
        super().__init__(engine, reader=reader, lister=lister, workers=1, progress=progress)
        self._url = shared_url(url)
        self._address = address
        self._batch_files = batch_files or BATCH_FILES

    # -- batches ---------------------------------------------------------------------------

    def _batches(
        self, targets: _Targets, listed: Sequence[str]
    ) -> Iterator[tuple[list[Entry], list[Entry]]]:
        """The files found, in batches: (every file of the batch, those to read)."""
        batch: list[Entry] = []
        stale: list[Entry] = []
        for path, old in self._candidates(targets, listed):
            try:
                size, mtime_ns = stat_file(path)
            except OSError:
                size = mtime_ns = -1  # reading it will say what is wrong
            entry = Entry(path, size, mtime_ns)
            batch.append(entry)
            if old is None or (old[0], old[1]) != (size, mtime_ns):
                stale.append(entry)
            if len(batch) >= self._batch_files:
                yield batch, stale
                batch, stale = [], []
            self._tick()
        if batch:
            yield batch, stale
        self.total = self.files
        self._tick(force=True)

    def _tasks(self, targets: _Targets, listed: Sequence[str]) -> Iterator[BatchTask]:
        """The batches to send; counts the others (unchanged, or done before) on the way."""
        for batch, stale in self._batches(targets, listed):
            self.unchanged += len(batch) - len(stale)
            self.done += len(batch) - len(stale)
            if not stale:
                self._tick()
                continue
            name = batch_id(batch)
            with self._engine.connect() as conn:
                found = recorded(conn, [name]).get(name)
            if found is not None:  # written before: report what it found, read what is gone
                accounted = found.accounted()
                self._count_chunk(_known(found.report, {e.path for e in stale}, found))
                stale = [e for e in stale if e.path not in accounted]
                if not stale:
                    continue
                name = batch_id(stale, salt=f"again:{name}")
            yield BatchTask(self._url, name, tuple(e.path for e in stale), self._reader)

    # -- the cluster -----------------------------------------------------------------------

    def _read_and_write(self, targets: _Targets, listed: Sequence[str]) -> None:
        client = _connect(self._address)
        try:
            threads = sum(client.nthreads().values())
            if threads == 0:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
                threads = sum(client.nthreads().values())
            self._run(client, self._tasks(targets, listed), max(2, WINDOW_PER_THREAD * threads))
        except TimeoutError as error:
            raise ClusterError(
                f"the Dask scheduler at {self._address} has no worker: start one "
                f"(dask worker {self._address})"
            ) from error
        finally:
            client.close()

    def _run(self, client: Client, tasks: Iterator[BatchTask], window: int) -> None:
        from distributed import KilledWorker, as_completed

        running: as_completed = as_completed(loop=client.loop)
        try:
            for task in tasks:
                while running.count() >= window:
                    self._collect(next(running))
                running.add(self._submit(client, task))
            for future in running:
                self._collect(future)
        except KilledWorker as error:
            raise ClusterError(
                f"a batch of the scan killed every worker that ran it ({error}): a file in it "
                "may crash the reader; scan its folder without --cluster to find which"
            ) from error

    @staticmethod
    def _submit(client: Client, task: BatchTask) -> Future[Any]:
        return client.submit(
            run_batch, task, key=f"dicomref-batch-{task.batch_id}", retries=RETRIES
        )

    def _collect(self, future: Future[Any]) -> None:
        try:
            report: ChunkReport = future.result()
        except ImportError as error:  # a worker could not unpickle the task
            raise _unpicklable(self._address, str(error)) from error
        except RuntimeError as error:  # the scheduler could not (it unpickles the graph)
            if "deserializ" not in str(error):
                raise
            raise _unpicklable(self._address, "the scheduler cannot unpickle them") from error
        future.release()
        self._count_chunk(report)


def _known(report: ChunkReport, stale: set[str], found: Recorded) -> ChunkReport:
    """What the ledger says of the ``stale`` files that gave no rows: reported again, not
    read again."""
    failed = tuple(f for f in report.failed if f.path in stale)
    not_dicom = tuple(n for n in report.not_dicom if n.path in stale)
    others = len(found.not_instances & stale)
    return ChunkReport(len(failed) + len(not_dicom) + others, 0, others, failed, 0, not_dicom)


def _unpicklable(address: str, why: str) -> ClusterError:
    return ClusterError(
        f"the cluster at {address} cannot run the scan's tasks ({why}): install the same "
        "dicomref on the scheduler and every worker (pip install 'dicomref[cluster]')"
    )
