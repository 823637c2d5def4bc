"""Reading files for a scan, in this process or in a pool of worker processes.

Workers turn each file into :class:`~._rows.ObjectRows` (or a failure) and send back plain
tuples; the scanning process does all the writing.  A file that cannot be read as DICOM (the
:class:`~dicomref.errors.DicomReadError` family) or cannot be opened (``OSError``: gone,
no permission) is a per-file outcome; any other exception is a bug and stops the scan.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice
from typing import NamedTuple

from dicomref.catalog._rows import ObjectRows, to_rows
from dicomref.errors import DicomReadError, NotAnInstanceError
from dicomref.model import ObjectSummary

Reader = Callable[[str], ObjectSummary]

#: Below this many files to read, reading in-process beats starting a pool.
SMALL_SCAN = 300
#: Files per task sent to a worker.
CHUNK = 64
#: Tasks in flight per worker: enough to keep workers busy, few enough to keep memory flat.
IN_FLIGHT_PER_WORKER = 8


class Failed(NamedTuple):
    path: str
    error: str


class NotInstance(NamedTuple):
    path: str


#: What reading one file gives; ObjectRows is a plain tuple, so test for the others first.
Outcome = ObjectRows | Failed | NotInstance


def read_one(reader: Reader, path: str) -> Outcome:
    """Read one file into rows, or say why not."""
    try:
        summary = reader(path)
    except NotAnInstanceError:
        return NotInstance(path)
    except DicomReadError as error:
        return Failed(path, str(error))
    except OSError as error:
        return Failed(path, f"{path}: cannot read: {error.strerror or error}")
    if summary.path != path:  # rows are keyed by the path the scan found
        summary = dataclasses.replace(summary, path=path)
    return to_rows(summary)


def read_chunk(reader: Reader, paths: list[str]) -> list[Outcome]:
    """The worker's task: read a chunk of files."""
    return [read_one(reader, path) for path in paths]


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: leave when the scanning process dies (even by SIGKILL)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="dicomref-parent-watch", daemon=True).start()


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _read_in_pool(reader: Reader, paths: Iterator[str], workers: int) -> Iterator[Outcome]:
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    gc.freeze()  # forked workers then never touch (and copy) the parent's objects
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_exit_with_parent, initargs=(os.getpid(),)
        ) as pool:
            pending: deque[Future[list[Outcome]]] = deque()
            try:
                for chunk in _batched(paths, CHUNK):
                    pending.append(pool.submit(read_chunk, reader, chunk))
                    while len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                        yield from pending.popleft().result()
                while pending:
                    yield from pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()
    finally:
        gc.unfreeze()


def read_all(reader: Reader, paths: Iterator[str], workers: int) -> Iterator[Outcome]:
    """Outcomes for ``paths``, in order; a pool only when there are enough files to share."""
    head = list(islice(paths, SMALL_SCAN))
    if workers <= 1 or len(head) < SMALL_SCAN:
        for path in chain(head, paths):
            yield read_one(reader, path)
        return
    yield from _read_in_pool(reader, chain(head, paths), workers)
