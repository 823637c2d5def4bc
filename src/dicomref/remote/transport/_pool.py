"""Several associations with one node, sharing one tally: a phase's steps sent in parallel.

The planner's phases hold independent steps (:mod:`._planner`).  A :class:`ClientPool`
sends them over ``size`` associations at once, one thread each (the work waits on the
network; pynetdicom is safe with one thread per association), and hands each answer
back to the calling thread as it comes, where it is recorded into the state: the
state, the store's index and the catalog are only ever touched from that one thread.

C-MOVE steps are the exception: the server opens its own association to our storage
SCP on the node's store port, one port for the whole fetch, and nothing in that
association says which C-MOVE it serves.  They are sent one at a time, by the calling
thread on the first client (whose receiver listens on that port), after the phase's
other steps.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from dicomref._dicomweb._node import WebNode
from dicomref._dimse._node import Node
from dicomref.errors import DicomrefError
from dicomref.remote.fetching._report import FetchProgress
from dicomref.remote.planner._enums import Method
from dicomref.remote.planner._steps import Retrieve, Step
from dicomref.remote.transport._executor import Executor, Tally
from dicomref.remote.transport._open import open_transport

T = TypeVar("T")

#: Associations a cohort fetch opens by default.
DEFAULT_ASSOCIATIONS = 4


@dataclass(frozen=True, slots=True)
class Sent(Generic[T]):
    """One step's answer: ``value`` when it was sent, ``error`` when sending raised;
    ``seconds`` it took."""

    step: Step
    value: T | None
    error: BaseException | None
    seconds: float


class ClientPool:
    """``size`` clients of ``node`` (each opens its association on first use), their
    executors sharing one :class:`Tally`.  Use as a context manager."""

    def __init__(
        self,
        node: Node | WebNode,
        size: int = 1,
        progress: Callable[[FetchProgress], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one association, not {size}")
        self.tally = Tally(progress)
        self.executors = [Executor(open_transport(node), tally=self.tally) for _ in range(size)]
        self._workers: list[threading.Thread] = []

    @property
    def main(self) -> Executor:
        """The executor of the calling thread (discovery, C-MOVE, everything serial)."""
        return self.executors[0]

    @property
    def size(self) -> int:
        return len(self.executors)

    def send(self, steps: Sequence[Step], run: Callable[[Executor, Step], T]) -> Iterator[Sent[T]]:
        """Run each step with ``run`` on a free executor; yield the answers as they come.

        Steps are started in order; with one association (or one step) they run in the
        calling thread, one after the other, exactly as without a pool.  An exception is
        handed back in :attr:`Sent.error`, never raised here: the caller records what the
        other steps brought before it raises.  (Anything that is not a dicomref error is a
        bug, raised as it comes.)
        """
        parallel = [s for s in steps if not _is_move(s)]
        serial = [s for s in steps if _is_move(s)]
        if self.size == 1 or len(parallel) < 2:
            serial = list(steps)
            parallel = []
        if parallel:
            yield from self._parallel(parallel, run)
        for step in serial:
            yield _timed(self.main, step, run)

    def _parallel(self, steps: list[Step], run: Callable[[Executor, Step], T]) -> Iterator[Sent[T]]:
        """One daemon thread per association, each taking the next step until none is left.
        Daemon threads: an interrupted fetch exits without waiting for the requests still
        out (their associations are aborted; see :meth:`close`)."""
        todo: queue.SimpleQueue[Step] = queue.SimpleQueue()
        for step in steps:
            todo.put(step)
        answers: queue.SimpleQueue[Sent[T] | BaseException] = queue.SimpleQueue()

        def work(executor: Executor) -> None:
            try:
                while True:
                    try:
                        step = todo.get_nowait()
                    except queue.Empty:
                        return
                    answers.put(_timed(executor, step, run))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                answers.put(exc)

        workers = [
            threading.Thread(target=work, args=(e,), name=f"dicomref-assoc-{n}", daemon=True)
            for n, e in enumerate(self.executors[: len(steps)])
        ]
        self._workers = workers
        for worker in workers:
            worker.start()
        for _ in steps:
            answer = answers.get()
            if isinstance(answer, BaseException):
                raise answer
            yield answer

    def close(self, *, abort: bool = False) -> None:
        """Release every association once the running steps are done; ``abort``: abort
        them at once and wait for nothing (an interruption: what is still running fails,
        or dies with the process)."""
        if abort:
            for executor in self.executors:
                executor.transport.close(abort=True)
            return
        for worker in self._workers:
            worker.join()
        for executor in self.executors:
            executor.transport.close()

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close(abort=exc is not None and not isinstance(exc, Exception))


def _is_move(step: Step) -> bool:
    return isinstance(step, Retrieve) and step.method is Method.MOVE


def _timed(executor: Executor, step: Step, run: Callable[[Executor, Step], T]) -> Sent[T]:
    began = time.perf_counter()
    try:
        value = run(executor, step)
    except DicomrefError as exc:  # handed back to the recording thread, which raises it
        return Sent(step, None, exc, time.perf_counter() - began)
    return Sent(step, value, None, time.perf_counter() - began)
