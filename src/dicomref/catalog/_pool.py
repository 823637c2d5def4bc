"""Worker processes for a scan: forked, fed through pipes, answered in the caller's thread.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: scan workers keep state (a database
connection, rows queued for the next batch) and each must be told, once, to write what it
has queued: a task addressed to every worker, which an executor cannot send.  An executor
also unpickles results in a manager thread and pickles tasks in a feeder thread, and costs a
Future, a work item and two queue hops per task.  Here each worker has a pipe for tasks and
a pipe for results; the caller keeps every worker a few tasks ahead (by weight: a task of
big files counts for more) and waits on all result pipes, and the workers' process
sentinels, at once.

Each worker drains its task pipe in a thread of its own, so the caller's sends never wait for
a worker that is itself waiting to send a result.  A worker leaves once it has answered its
closing task, or when its task pipe closes (the caller is done, or has died), or, through
``initializer``, whenever else the caller asks.
An exception raised by the task function in a worker is raised again in the caller, with the
worker's traceback as its cause; a worker that dies raises :class:`BrokenProcessPool`.
"""

from __future__ import annotations

import multiprocessing
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

#: Seconds to wait for a worker to leave once its task pipe is closed.
JOIN_TIMEOUT = 5.0


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
) -> Iterator[R]:
    """``function(task)`` for each (task, weight) of ``tasks``, run in ``workers`` processes
    (at least one); the results in the order they come.

    Each task goes to the worker with the least weight of tasks sent and not answered, as
    long as that is under ``ahead``; ``tasks`` is read only as workers have room, so memory
    stays bounded however many tasks there are.  With ``local``, the caller works too: while
    every worker has its fill, the caller runs ``local(task)`` on the next task, if no
    heavier than what each worker has waiting (otherwise it goes to the least loaded
    worker).  Once the tasks are all sent, ``closing`` (if not None) is sent to every worker
    as its last task, and given to ``local`` last.
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
        yield from _run(pool, tasks, ahead, closing, local)
    finally:
        _stop(pool)


def _run(
    pool: list[_Worker],
    tasks: Iterator[tuple[T, int]],
    ahead: int,
    closing: T | None,
    local: Callable[[T], Any] | None,
) -> Iterator[Any]:
    more = True
    while True:
        while more:  # each task to the least loaded worker, while one has room
            worker = min(pool, key=lambda w: w.load)
            if worker.load >= ahead:
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
            worker = min(pool, key=lambda w: w.load)
            if item[1] <= worker.load:
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
    for worker in pool:
        worker.tasks.close()  # the worker leaves when it has done what was sent …
        if worker.weights:
            worker.process.terminate()  # … unless that is no longer wanted
    for worker in pool:
        worker.process.join(JOIN_TIMEOUT)
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join()
        worker.results.close()
