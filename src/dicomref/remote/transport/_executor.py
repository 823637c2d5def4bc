"""Sending planned steps on one transport, and counting what they cost.

The :class:`Executor` hands each step to its
:class:`~dicomref.remote.transport._base.Transport` (DIMSE, DICOMweb: it never knows
which) and keeps the tally a report needs: requests per command, one line per request,
objects received.

What it raises and what it returns: a refused find raises :class:`StatusError` (the caller
records it with :meth:`State.with_find_failed`); a refused retrieve comes back as the
answer's ``reason`` (the planner learns from it).  What the transport raises (no
connection, a timeout, a C-MOVE destination the server does not know) is raised as it
comes, after the step's line is written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Set
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from dicomref.errors import RemoteError
from dicomref.remote.fetching._report import FetchProgress, Requests
from dicomref.remote.planner._enums import Level, Root
from dicomref.remote.planner._steps import Find, Keys, Retrieve
from dicomref.remote.transport._base import (
    CountsRequests,
    ReadsMetadata,
    Receiver,
    RetrieveAnswer,
    Transport,
    reason_of,
)

if TYPE_CHECKING:
    from dicomref.extraction import JsonInstance

LOGGER = logging.getLogger(__name__)

__all__ = ["Executor", "RetrieveAnswer", "Tally", "reason_of"]


class Tally:
    """What the requests of one fetch cost, shared by the executors of its associations:
    requests per command, one line per request (in the order answered), objects received,
    and the progress callback.  Thread-safe."""

    def __init__(self, progress: Callable[[FetchProgress], None] | None = None) -> None:
        self.progress = progress
        self.transports: list[Transport] = []
        self.wanted: int | None = None
        self._counts: dict[str, int] = {}
        self._steps: list[str] = []
        self._lock = threading.Lock()
        self._received = 0
        self._received_bytes = 0

    @property
    def requests(self) -> Requests:
        with self._lock:
            return Requests.counted(self._counts)

    @property
    def associations(self) -> int:
        return sum(transport.connections_opened for transport in self.transports)

    @property
    def steps(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._steps)

    def line(self, text: str) -> None:
        with self._lock:
            self._steps.append(text)
        LOGGER.info("%s", text)

    def count(self, command: str, requests: int = 1) -> None:
        with self._lock:
            self._counts[command] = self._counts.get(command, 0) + requests

    def received(self, size: int) -> None:
        with self._lock:
            self._received += 1
            self._received_bytes += size

    def report(self, step: str) -> None:
        if self.progress is None:
            return
        with self._lock:
            progress = FetchProgress(
                step=step,
                requests=sum(self._counts.values()),
                objects=self._received,
                bytes=self._received_bytes,
                wanted=self.wanted,
            )
        self.progress(progress)


class Executor:
    """Sends steps on one :class:`Transport` and counts them in its :class:`Tally`
    (its own, or one shared with the executors of other associations).  One thread at a
    time, except :meth:`arrived` (called from the thread that receives objects)."""

    def __init__(
        self,
        transport: Transport,
        progress: Callable[[FetchProgress], None] | None = None,
        *,
        tally: Tally | None = None,
    ) -> None:
        self.transport = transport
        self.tally = tally if tally is not None else Tally(progress)
        self.tally.transports.append(transport)
        self._current = ""
        self._began = 0.0

    # -- the tally -------------------------------------------------------------------------

    @property
    def requests(self) -> Requests:
        return self.tally.requests

    @property
    def associations(self) -> int:
        """Associations opened by every client of the tally."""
        return self.tally.associations

    @property
    def steps(self) -> tuple[str, ...]:
        return self.tally.steps

    def note(self, line: str) -> None:
        """Add a line to the steps that is not a request (a decision, a local finding)."""
        self.tally.line(line)

    def arrived(self, size: int) -> None:
        """One object arrived (``size`` bytes): update the progress."""
        self.tally.received(size)
        self._report()

    # -- requests --------------------------------------------------------------------------

    def find(self, level: Level, keys: Keys, root: Root, purpose: str) -> list[Dataset]:
        """The rows of a find; StatusError when the server refuses."""
        self._begin(self.transport.find_command, level, purpose)
        try:
            rows = self.transport.find(level, keys, root)
        except RemoteError as exc:
            self._end(f"failed: {reason_of(exc)}")
            raise
        self._end(f"{len(rows)} {'match' if len(rows) == 1 else 'matches'}")
        return rows

    def run_find(self, step: Find) -> list[Dataset]:
        """The find a planned step describes (its ``why`` noted first)."""
        if step.why:
            self.note(step.why)
        return self.find(step.level, step.identifier, step.root, step.purpose)

    def read_metadata(
        self, reader: ReadsMetadata, study: str, series: str, purpose: str
    ) -> list[JsonInstance]:
        """A series' objects read from their metadata (``reader``: this executor's
        transport, where it has metadata)."""
        self._begin("WADO-RS", Level.SERIES, purpose)
        try:
            instances = reader.series_metadata(study, series)
        except RemoteError as exc:
            self._end(f"failed: {reason_of(exc)}")
            raise
        self._end(f"{len(instances)} instances' metadata read")
        return instances

    def retrieve(
        self, step: Retrieve, receiver: Receiver, arrivals: Callable[[], int]
    ) -> RetrieveAnswer:
        """The retrieve a planned step describes; objects go to ``receiver``.

        At IMAGE level only the listed objects are accepted; at SERIES level everything
        the series holds is (the caller keeps what it wants).  ``arrivals`` counts what
        ``receiver`` took, for the step's line.
        """
        if step.why:
            self.note(step.why)
        expected: Set[str] | None = set(step.sop_uids) if step.level is Level.IMAGE else None
        self._begin(self.transport.retrieve_command(step), step.level, step.purpose)
        try:
            answer = self.transport.retrieve(step, receiver, expected)
        except RemoteError as exc:
            self._end(f"{arrivals()} arrived; failed: {reason_of(exc)}")
            raise
        if answer.completed is None and answer.reason:
            self._end(f"{arrivals()} arrived; failed: {answer.reason}")
            return answer
        outcome = f"{arrivals()} arrived"
        if not arrivals() and not answer.completed and not answer.reason:
            if self.transport.find_command == "C-FIND":
                outcome += " (success, 0 sub-operations: the server did not serve this identifier)"
            else:
                outcome += " (the server answered with nothing)"
        if answer.refused:
            outcome += f", {answer.refused} refused (not asked for)"
        if answer.reason:
            outcome += f"; {answer.reason}"
        if answer.given_up:
            outcome += f"; {answer.given_up}"
        self._end(outcome)
        return answer

    # -- helpers ---------------------------------------------------------------------------

    def _begin(self, command: str, level: Level, purpose: str) -> None:
        if not isinstance(self.transport, CountsRequests):
            self.tally.count(command)
        self._current = f"{command} {level.value}: {purpose}"
        self._began = time.perf_counter()
        LOGGER.debug("sending %s", self._current)
        self._report()

    def _end(self, outcome: str) -> None:
        if isinstance(self.transport, CountsRequests):
            sent = self.transport.take_requests()
            for command, requests in sent.items():
                self.tally.count(command, requests)
            if sum(sent.values()) > 1:
                what = ", ".join(f"{n} {command}" for command, n in sent.items() if n)
                outcome += f" [{what}]"
        self.tally.line(f"{self._current} -> {outcome} ({time.perf_counter() - self._began:.2f} s)")

    def _report(self) -> None:
        self.tally.report(self._current)
