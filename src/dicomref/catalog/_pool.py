"""Worker processes for a scan: forked, fed through pipes, answered in the caller's thread.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: scan workers keep state (a database
connection, rows queued for the next batch) and each must be told, once, to write what it
has queued: a task addressed to every worker, which an executor cannot send.  The caller
also works: it runs tasks itself while its workers have enough waiting, which spares a
process (its start, its copy-on-write faults, its connection).  And an executor unpickles
results in a manager thread and pickles tasks in a feeder thread, and costs a Future, a work
item and two queue hops per task.

Here each worker has a pipe for tasks and a pipe for results; the caller keeps every worker
a few tasks ahead (by weight: a task of big files counts for more) and waits on all result
pipes, and the workers' process sentinels, at once.  Each worker drains its task pipe in a
thread of its own, so the caller's sends never wait for a worker that is itself waiting to
send a result.  A worker leaves once it has answered its closing task, or when its task pipe
closes (the caller is done, or has died), or, through ``initializer``, whenever else the
caller asks.  An exception raised by the task function in a worker is raised again in the
caller, with the worker's traceback as its cause; a worker that dies raises
:class:`BrokenProcessPool`, also to a caller waiting for a :class:`SharedLock` it held.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import DefaultContext, ForkContext
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for a stopped worker to leave before killing it.
JOIN_TIMEOUT = 5.0
#: Seconds between two looks for dead workers while waiting for a :class:`SharedLock`.
LOCK_STEP = 0.2


class RemoteTraceback(Exception):  # noqa: N818 - a cause carrying text, never raised alone
    """The traceback of an exception raised in a worker (the cause of the one re-raised)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


@dataclass
class _Worker:
    process: BaseProcess
    tasks: Connection
    results: Connection
    #: Weights of the tasks sent and not answered, oldest first, and their sum.
    weights: deque[int] = field(default_factory=deque)
    load: int = 0


def _serve(
    function: Callable[[Any], Any],
    initializer: Callable[[], None] | None,
    tasks: Connection,
    results: Connection,
    inherited: list[Connection],
) -> None:
    """A worker's life: run ``function`` on each task and send back (ok, value, traceback)."""
    for conn in inherited:
        conn.close()
    if initializer is not None:
        initializer()
    waiting: queue.SimpleQueue[Any] = queue.SimpleQueue()
    done = object()

    def drain() -> None:
        try:
            while True:
                waiting.put(tasks.recv())
        except (EOFError, OSError):
            waiting.put(done)

    threading.Thread(target=drain, name="dicomref-tasks", daemon=True).start()
    while (item := waiting.get()) is not done:
        task, last = item
        try:
            message: tuple[bool, Any, str] = (True, function(task), "")
        except BaseException as error:  # noqa: BLE001 - sent to the caller, who raises it
            message = (False, error, traceback.format_exc())
        try:
            results.send(message)
        except (BrokenPipeError, EOFError):
            return  # the caller is gone
        except Exception as error:  # noqa: BLE001 - the value or the exception does not pickle
            text = message[2] or traceback.format_exc()
            results.send((False, RuntimeError(f"{type(error).__name__}: {error}"), text))
        if last:
            return  # the closing task: leave now rather than when the caller closes the pipe


class SharedLock:
    """A lock for the caller and its workers (say, a turn to write), made before they start.

    A worker that dies holding it never releases it; so the process that made the lock
    waits for it in short steps and, between them, looks for a worker that has died
    (:meth:`watch` tells which): then it raises :class:`BrokenProcessPool` instead of
    waiting for ever.  The workers need not look: the caller stops them.
    """

    def __init__(self) -> None:
        self._lock = start_context().Lock()
        self._owner = os.getpid()
        self._watched: list[BaseProcess] = []

    def watch(self, processes: list[BaseProcess]) -> None:
        self._watched = processes

    def acquire(self, block: bool = True, /) -> bool:
        if not block or os.getpid() != self._owner:
            return bool(self._lock.acquire(block))
        while not self._lock.acquire(True, LOCK_STEP):
            for process in self._watched:
                if process.exitcode not in (None, 0):
                    raise BrokenProcessPool(
                        f"a scan worker died (exit code {process.exitcode}): scan again"
                    )
        return True

    def release(self) -> None:
        self._lock.release()

    def __getstate__(self) -> dict[str, object]:
        return {"_lock": self._lock, "_owner": self._owner, "_watched": []}


def start_context() -> ForkContext | DefaultContext:
    """How workers are started: forked where the system can (no imports, no pickling)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def imap_unordered(
    function: Callable[[T], R],
    tasks: Iterator[tuple[T, int]],
    workers: int,
    *,
    ahead: int,
    initializer: Callable[[], None] | None = None,
    closing: T | None = None,
    local: Callable[[T], R] | None = None,
    remaining: Callable[[], int | None] | None = None,
    lock: SharedLock | None = None,
) -> Iterator[R]:
    """``function(task)`` for each (task, weight) of ``tasks``, run in ``workers`` processes
    (at least one); the results in the order they come.

    Each task goes to the worker with the least weight of tasks sent and not answered, as
    long as that is under ``ahead``; ``tasks`` is read only as workers have room, so memory
    stays bounded however many tasks there are.  With ``local``, the caller works too: while
    every worker has its fill, the caller runs ``local(task)`` on the next task, if no
    heavier than what each worker has waiting behind its current task (otherwise the task
    goes to the worker with the least waiting).  ``remaining()``, once it knows, tells the
    weight of the tasks still to come, so that near the end each reader is sent only its
    share.  Once the tasks are all sent, ``closing`` (if not None) is sent to every worker as
    its last task, and given to ``local`` last.  ``lock``, if the tasks share one, is told
    which workers to watch.
    """
    pool: list[_Worker] = []
    context = start_context()
    try:
        for number in range(workers):
            task_out, task_in = context.Pipe(duplex=False)
            result_out, result_in = context.Pipe(duplex=False)
            # The caller's ends, this worker's and those made before: its copies must close,
            # or a pipe would not end when the caller closes (or loses) its own.
            inherited = [task_in, result_out, *(end for w in pool for end in (w.tasks, w.results))]
            process = context.Process(
                target=_serve,
                args=(function, initializer, task_out, result_in, inherited),
                name=f"dicomref-reader-{number}",
                daemon=True,
            )
            process.start()
            task_out.close()
            result_in.close()
            pool.append(_Worker(process, task_in, result_out))
        if lock is not None:
            lock.watch([w.process for w in pool])
        yield from _run(pool, tasks, ahead, closing, local, remaining)
    finally:
        _stop(pool)


def _run(
    pool: list[_Worker],
    tasks: Iterator[tuple[T, int]],
    ahead: int,
    closing: T | None,
    local: Callable[[T], Any] | None,
    remaining: Callable[[], int | None] | None,
) -> Iterator[Any]:
    more = True
    readers = len(pool) + (local is not None)
    while True:
        while more:  # each task to the least loaded worker, while one has room
            worker = min(pool, key=lambda w: w.load)
            if worker.load >= _room(pool, ahead, remaining, readers):
                break
            item = next(tasks, None)
            if item is None:
                more = _close(pool, closing)
                break
            _send(worker, *item)
        if more and local is not None:  # every worker has its fill: the caller's turn
            item = next(tasks, None)
            if item is None:
                more = _close(pool, closing)
                continue
            # Run it here only if every worker has at least as much waiting behind the task
            # it is on: the caller does not feed the workers while it runs one itself.
            worker = min(pool, key=lambda w: w.load - w.weights[0])
            if item[1] <= max(1, worker.load - worker.weights[0]):
                yield local(item[0])
            else:
                _send(worker, *item)
            yield from _collect(pool, block=False)
            continue
        if local is not None and closing is not None:
            yield local(closing)
            local = None
        if not any(w.weights for w in pool):
            return
        yield from _collect(pool, block=True)


def _room(
    pool: list[_Worker], ahead: int, remaining: Callable[[], int | None] | None, readers: int
) -> int:
    """How much a worker may have waiting: ``ahead``, or near the end its share of the rest,
    so that all readers run out of work together."""
    rest = remaining() if remaining is not None else None
    if rest is None:
        return ahead
    share = -(-(rest + sum(w.load for w in pool)) // readers)
    return max(1, min(ahead, share))


def _close(pool: list[_Worker], closing: T | None) -> bool:
    """The tasks are all sent: send each worker its closing task; no more tasks."""
    if closing is not None:
        for worker in pool:
            _send(worker, closing, 1, last=True)
    return False


def _collect(pool: list[_Worker], *, block: bool) -> Iterator[Any]:
    """The results that have come (with ``block``, waiting for at least one)."""
    busy = [w for w in pool if w.weights]
    if not busy:
        return
    by_conn: dict[object, _Worker] = {w.results: w for w in busy}
    by_sentinel = {w.process.sentinel: w for w in busy}
    waited: list[Connection | int] = [w.results for w in busy]
    waited += [w.process.sentinel for w in busy]
    ready = wait(waited, timeout=None if block else 0)
    for obj in ready:
        if isinstance(obj, int):  # a sentinel: the worker has died
            worker = by_sentinel[obj]
            if not worker.results.poll():
                raise _died(worker)
            continue
        worker = by_conn[obj]
        try:
            ok, value, text = worker.results.recv()
        except EOFError:
            raise _died(worker) from None
        worker.load -= worker.weights.popleft()
        if not ok:
            raise value from RemoteTraceback(text)
        yield value


def _send(worker: _Worker, task: object, weight: int, *, last: bool = False) -> None:
    try:
        worker.tasks.send((task, last))
    except BrokenPipeError:
        raise _died(worker) from None
    worker.weights.append(weight)
    worker.load += weight


def _died(worker: _Worker) -> BrokenProcessPool:
    worker.process.join(JOIN_TIMEOUT)  # its exit code, once it has one
    return BrokenProcessPool(
        f"a scan worker died (exit code {worker.process.exitcode}); the files it was reading "
        "are not indexed: scan again, with --workers 1 to read in one process"
    )


def _stop(pool: list[_Worker]) -> None:
    """Close the pipes; stop the workers that still have tasks.  A worker that has answered
    all of its tasks is leaving on its own: not waited for (multiprocessing reaps it when
    the next workers start, or at exit)."""
    stopped = []
    for worker in pool:
        worker.tasks.close()
        if worker.weights:  # its answers are no longer wanted
            worker.process.terminate()
            stopped.append(worker)
    for worker in stopped:
        worker.process.join(JOIN_TIMEOUT)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
    for worker in pool:
        worker.results.close()
