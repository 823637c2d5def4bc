"""Reading files for a scan: in this process, or in worker processes that also write.

In this process alone, each file becomes an :data:`Outcome` (its rows, or why not) for the
scan to write.  With ``workers`` readers, this process and ``workers - 1`` forked worker
processes each read the chunks of paths they are given and write their rows themselves, in
batches and in turns (:class:`~._writer.Turn`): rows never cross a process boundary, only a
:class:`ChunkReport` per chunk does.  Big files go first (:class:`_Schedule`).

A file that is not DICOM at all (:class:`~dicomref.errors.NotDicomError`: no ``DICM``
marker and no DICOM element at its start), one that holds no instance, one that claims to be
DICOM but cannot be read (the rest of the :class:`~dicomref.errors.DicomReadError` family) and
one that cannot be opened (``OSError``: gone, no permission) are per-file outcomes; any other
exception is a bug and stops the scan.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Engine

from dicomref._filenames import printable_path
from dicomref.catalog._engine import open_engine
from dicomref.catalog._pool import SharedLock, imap_unordered
from dicomref.catalog._rows import ObjectRows, to_rows
from dicomref.catalog._writer import Statements, Turn, Writer
from dicomref.errors import DicomReadError, NotAnInstanceError, NotDicomError
from dicomref.model import ObjectSummary

if TYPE_CHECKING:
    from dicomref.extraction._summary import Facts
    from dicomref.extraction._walk import RawReference

#: Reads one file: its summary, or (the scan's own reader) its facts and its references
#: apart, as tuples (see :func:`~dicomref.extraction.read_object_apart`).
Reader = Callable[[str], "ObjectSummary | tuple[ObjectSummary | Facts, list[RawReference]]"]

#: Below this many files to read, reading in-process beats starting a pool.
SMALL_SCAN = 300
#: Files per task sent to a worker.
CHUNK = 64
#: Weight of the tasks sent ahead to each worker (a chunk of small files weighs 1): enough to
#: keep it busy, little enough to keep memory flat.
TASKS_AHEAD = 8
#: Paths walked ahead of the readers, to find the big files among them.
LOOKAHEAD = 10_000
#: Files at least this big are read first (see :class:`_Schedule`).
BIG_FILE = 1 << 20
#: Bytes of big files that take about as long to index as a chunk of small ones.
BIG_UNIT = 256 << 10
#: Garbage collection thresholds while reading (see :func:`_rare_collections`).
READER_GC_THRESHOLD = (50_000, 20, 20)


class Failed(NamedTuple):
    path: str
    error: str


class NotInstance(NamedTuple):
    path: str


class NotDicom(NamedTuple):
    """A file that is not DICOM at all; ``reason`` says why (without the path)."""

    path: str
    reason: str


#: What reading one file gives; ObjectRows is a plain tuple, so test for the others first.
Outcome = ObjectRows | Failed | NotInstance | NotDicom


def read_one(reader: Reader, path: str) -> Outcome:
    """Read one file into rows, or say why not."""
    try:
        read = reader(path)
    except NotAnInstanceError:
        return NotInstance(path)
    except NotDicomError as error:
        return NotDicom(path, error.reason)
    except DicomReadError as error:
        return Failed(path, str(error))
    except OSError as error:
        return Failed(path, f"{printable_path(path)}: cannot read: {error.strerror or error}")
    summary, raw = read if isinstance(read, tuple) else (read, None)
    if summary.path != path:  # rows are keyed by the path the scan found
        if isinstance(summary, ObjectSummary):
            summary = dataclasses.replace(summary, path=path)
        else:
            summary = summary._replace(path=path)
    return to_rows(summary, raw)


@contextmanager
def _rare_collections() -> Iterator[None]:
    """While reading: cyclic garbage collected rarely (a structure set's tree is tens of
    thousands of containers, none of them in a cycle), and the objects made before set
    aside (``gc.freeze``: forked workers then never touch, and copy, them).  Undone after."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*READER_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _worker_init(parent: int) -> None:
    """Worker initializer: leave when the scanning process dies (even by SIGKILL)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="dicomref-parent-watch", daemon=True).start()


class _Schedule:
    """Paths walked ahead of the readers, big files first, each task with its weight.

    Up to :data:`LOOKAHEAD` paths are taken from the walk before they are sent, so that the
    files of at least :data:`BIG_FILE` bytes among them (structure sets with thousands of
    contours: the slowest to read) go out first, in tasks of their own while there are few,
    instead of holding up the end of the scan.  The walk goes ahead a few chunks' worth at
    each task, so that the first tasks go out at once.

    A chunk of small files weighs 1; a chunk of big ones a unit per :data:`BIG_UNIT` bytes,
    so that the weights of the tasks a reader has waiting tell how long they will keep it.
    """

    def __init__(self, paths: Iterator[str], workers: int) -> None:
        self._paths = paths
        self._workers = workers
        self._small: deque[str] = deque()
        self._big: deque[tuple[str, int]] = deque()
        self._walked = False

    def _fill(self) -> None:
        small, big = self._small, self._big
        want = min(LOOKAHEAD, len(small) + len(big) + 8 * CHUNK)
        while not self._walked and len(small) + len(big) < want:
            path = next(self._paths, None)
            if path is None:
                self._walked = True
            elif (size := _size(path)) >= BIG_FILE:
                big.append((path, size))
            else:
                small.append(path)

    def remaining(self) -> int | None:
        """The weight of the tasks still to come, once the walk is done (None before)."""
        if not self._walked:
            return None
        return -(-len(self._small) // CHUNK) + sum(s for _, s in self._big) // BIG_UNIT

    def tasks(self) -> Iterator[tuple[list[str], int]]:
        """The chunks of paths to send, in order, each with its weight."""
        while (task := self._next()) is not None:
            yield task

    def _next(self) -> tuple[list[str], int] | None:
        self._fill()
        big, small = self._big, self._small
        if big:
            count = min(CHUNK, max(1, len(big) // (2 * self._workers)), len(big))
            chunk = [big.popleft() for _ in range(count)]
            return [path for path, _ in chunk], max(1, sum(s for _, s in chunk) // BIG_UNIT)
        if len(small) >= CHUNK or (self._walked and small):
            return [small.popleft() for _ in range(min(CHUNK, len(small)))], 1
        return None


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size  # noqa: PTH116 (a Path per file costs more than the stat)
    except OSError:
        return 0  # the reader will say what is wrong with it


class ChunkReport(NamedTuple):
    """What a worker did with one chunk: files done, indexed, not instances, failed, not
    DICOM, and the references it has written since its last report (counted as Reference
    objects)."""

    done: int
    indexed: int
    not_instances: int
    failed: tuple[Failed, ...]
    references: int
    not_dicom: tuple[NotDicom, ...] = ()


class _Indexer:
    """A reader's share of a scan: read the files of each chunk, write their rows (in turns
    with the other readers), report.  The last task is an empty chunk: write what is still
    queued.

    Made in the scanning process, with its engine and its writer (statements compiled), for
    the scanning process itself or for a ``worker``: a forked worker keeps both, drops the
    connections copied from the scanning process, opens its own when it first writes and
    closes them at the end.  A worker started otherwise opens the catalog anew.
    """

    def __init__(
        self,
        reader: Reader,
        engine: Engine,
        turn: Turn,
        *,
        worker: bool,
        statements: Statements | None = None,
    ) -> None:
        self._reader = reader
        self._engine = engine
        self._writer = Writer(engine, turn, statements)
        self._worker = worker
        self._started = False
        self._reported = 0

    def __getstate__(self) -> dict[str, object]:
        url = self._engine.url.render_as_string(hide_password=False)
        return {"reader": self._reader, "url": url, "turn": self._writer.turn}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]  # unpickled: made anew, as in the caller
            state["reader"], open_engine(state["url"]), state["turn"], worker=True
        )

    def __call__(self, paths: list[str]) -> ChunkReport:
        if not self._started:
            if not paths:
                return ChunkReport(0, 0, 0, (), 0)
            if self._worker:
                self._engine.dispose(close=False)  # the scanning process's connections
            self._started = True
        writer = self._writer
        indexed = not_instances = 0
        failed: list[Failed] = []
        not_dicom: list[NotDicom] = []
        if not paths:
            # The checkpoint here, while other readers may still be at work, rather than at
            # the catalog's close.
            writer.flush(checkpoint=True)
            if self._worker:
                self._engine.dispose()
        else:
            for path in paths:
                outcome = read_one(self._reader, path)
                if isinstance(outcome, Failed):
                    failed.append(outcome)
                    writer.forget(path)
                elif isinstance(outcome, NotInstance):
                    not_instances += 1
                    writer.forget(path)
                elif isinstance(outcome, NotDicom):
                    not_dicom.append(outcome)
                    writer.forget(path)
                else:
                    writer.add(outcome)
                    indexed += 1
        references = writer.refs_written - self._reported
        self._reported = writer.refs_written
        return ChunkReport(
            len(paths), indexed, not_instances, tuple(failed), references, tuple(not_dicom)
        )


def _index_in_pool(
    reader: Reader, paths: Iterator[str], workers: int, engine: Engine
) -> Iterator[ChunkReport]:
    turn = SharedLock()
    statements = Statements.of(engine)
    schedule = _Schedule(paths, workers)
    with _rare_collections():  # inherited by the workers
        yield from imap_unordered(  # this process is one of the readers
            _Indexer(reader, engine, turn, worker=True, statements=statements),
            schedule.tasks(),
            workers - 1,
            ahead=TASKS_AHEAD,
            initializer=partial(_worker_init, os.getpid()),
            closing=[],
            local=_Indexer(reader, engine, turn, worker=False, statements=statements),
            remaining=schedule.remaining,
            lock=turn,
        )


def read_all(
    reader: Reader, paths: Iterator[str], workers: int, engine: Engine
) -> Iterator[Outcome | ChunkReport]:
    """An Outcome per path, read in this process; or, with enough files to share and more
    than one reader, a ChunkReport per chunk read and written to the catalog of ``engine``
    by this process or a worker, in the order they are done."""
    head = list(islice(paths, SMALL_SCAN))
    if workers <= 1 or len(head) < SMALL_SCAN:
        with _rare_collections():
            for path in chain(head, paths):
                yield read_one(reader, path)
        return
    yield from _index_in_pool(reader, chain(head, paths), workers, engine)
