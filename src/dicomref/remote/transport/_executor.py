"""Turning planned steps into DIMSE requests on one client, and counting what they cost.

The :class:`Executor` builds each identifier from a step's keyword/value pairs (a UID
list becomes a multi-valued element, a sequence keyword an empty sequence: a return
key), sends it with :class:`~dicomref.remote.transport._dimse.DimseClient`, and keeps the tally
a report needs: requests per command, one line per request, objects received.

What it raises and what it returns: a refused C-FIND raises :class:`StatusError` (the
caller records it with :meth:`State.with_find_failed`); a refused C-MOVE/C-GET is
returned as the retrieve's ``reason`` (the planner learns from it), except a C-MOVE
refused with 0xA801 (move destination unknown) that carried no UID list, which is
raised: the server does not know where to send, and no other plan can fix that.
Association failures and timeouts are raised as they come.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Set
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomref.errors import RemoteError, StatusError
from dicomref.remote.fetching._report import FetchProgress, Requests
from dicomref.remote.planner._enums import Level, Method, Root
from dicomref.remote.planner._steps import LIST_SEPARATOR, Find, Keys, Retrieve
from dicomref.remote.transport._dimse import (
    SOP_CLASS_NOT_SUPPORTED,
    DimseClient,
    RetrieveResult,
    status_meaning,
)

LOGGER = logging.getLogger(__name__)

MOVE_DESTINATION_UNKNOWN = 0xA801

StoreTarget = Callable[[Dataset], None]
"""Takes each object a retrieve brings (see :class:`~dicomref.remote.fetching._intake.Batch`)."""


def dataset_of(keys: Keys) -> Dataset:
    """The identifier for ``keys``: sequences asked back empty, UID lists multi-valued.

    ``QueryRetrieveLevel`` is left to the client (it sets the level it is given).
    """
    identifier = Dataset()
    for keyword, value in keys:
        if keyword == "QueryRetrieveLevel":
            continue
        tag = tag_for_keyword(keyword)
        if tag is not None and dictionary_VR(tag) == "SQ":
            setattr(identifier, keyword, Sequence())
        elif LIST_SEPARATOR in value:
            setattr(identifier, keyword, value.split(LIST_SEPARATOR))
        else:
            setattr(identifier, keyword, value)
    return identifier


def reason_of(exc: RemoteError) -> str:
    """The error's message without the node prefix (the report names the node once)."""
    return str(exc).removeprefix(f"{exc.node}: ")


@dataclass(frozen=True, slots=True)
class RetrieveAnswer:
    """What the server said about one C-MOVE/C-GET (what arrived is the intake's business).

    ``completed``: completed sub-operations it reported (None when it failed the request);
    ``reason``: its failure or warning status in words; ``refused``: objects it sent that
    were not asked for (refused by our storage SCP); ``failures``: objects that arrived but
    could not be kept, with why.  ``unsupported``: the server does not offer the service
    (status 0x0122, or it refused the presentation context).
    """

    completed: int | None
    reason: str | None
    refused: int
    failures: tuple[tuple[str, str], ...]
    unsupported: bool = False


class Tally:
    """What the requests of one fetch cost, shared by the executors of its associations:
    requests per command, one line per request (in the order answered), objects received,
    and the progress callback.  Thread-safe."""

    def __init__(self, progress: Callable[[FetchProgress], None] | None = None) -> None:
        self.progress = progress
        self.clients: list[DimseClient] = []
        self.wanted: int | None = None
        self._counts = {"C-FIND": 0, "C-MOVE": 0, "C-GET": 0}
        self._steps: list[str] = []
        self._lock = threading.Lock()
        self._received = 0
        self._received_bytes = 0

    @property
    def requests(self) -> Requests:
        with self._lock:
            return Requests(
                c_find=self._counts["C-FIND"],
                c_move=self._counts["C-MOVE"],
                c_get=self._counts["C-GET"],
            )

    @property
    def associations(self) -> int:
        return sum(client.associations_opened for client in self.clients)

    @property
    def steps(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._steps)

    def line(self, text: str) -> None:
        with self._lock:
            self._steps.append(text)
        LOGGER.info("%s", text)

    def count(self, command: str) -> None:
        with self._lock:
            self._counts[command] += 1

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
    """Sends steps on one :class:`DimseClient` and counts them in its :class:`Tally`
    (its own, or one shared with the executors of other associations).  One thread at a
    time, except :meth:`arrived` (called from the thread that receives objects)."""

    def __init__(
        self,
        client: DimseClient,
        progress: Callable[[FetchProgress], None] | None = None,
        *,
        tally: Tally | None = None,
    ) -> None:
        self.client = client
        self.tally = tally if tally is not None else Tally(progress)
        self.tally.clients.append(client)
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
        """C-FIND: the rows; StatusError when the server refuses."""
        self._begin("C-FIND", level, purpose)
        try:
            rows = self.client.find(level, dataset_of(keys), root)
        except RemoteError as exc:
            self._end(f"failed: {reason_of(exc)}")
            raise
        self._end(f"{len(rows)} {'match' if len(rows) == 1 else 'matches'}")
        return rows

    def run_find(self, step: Find) -> list[Dataset]:
        """The C-FIND a planned step describes (its ``why`` noted first)."""
        if step.why:
            self.note(step.why)
        return self.find(step.level, step.identifier, step.root, step.purpose)

    def retrieve(
        self, step: Retrieve, target: StoreTarget, arrivals: Callable[[], int]
    ) -> RetrieveAnswer:
        """The C-MOVE/C-GET a planned step describes; objects go to ``target``.

        At IMAGE level only the listed objects are accepted; at SERIES level everything
        the series holds is (the caller keeps what it wants).  ``arrivals`` counts what
        ``target`` took, for the step's line.
        """
        command = "C-MOVE" if step.method is Method.MOVE else "C-GET"
        if step.why:
            self.note(step.why)
        expected: Set[str] | None = set(step.sop_uids) if step.level is Level.IMAGE else None
        identifier = dataset_of(step.identifier)
        self._begin(command, step.level, step.purpose)
        try:
            if step.method is Method.MOVE:
                result = self.client.move(
                    identifier, step.level, root=step.root, on_store=target, expected=expected
                )
            else:
                result = self.client.get(
                    identifier, step.level, target, root=step.root, expected=expected
                )
        except StatusError as exc:
            destination = exc.status == MOVE_DESTINATION_UNKNOWN and command == "C-MOVE"
            self._end(f"{arrivals()} arrived; failed: {reason_of(exc)}")
            if destination and not step.listed:
                raise
            unsupported = exc.status == SOP_CLASS_NOT_SUPPORTED
            return RetrieveAnswer(None, reason_of(exc), 0, (), unsupported=unsupported)
        except RemoteError as exc:
            self._end(f"{arrivals()} arrived; failed: {reason_of(exc)}")
            raise
        answer = _answer(result)
        outcome = f"{arrivals()} arrived"
        if not arrivals() and not answer.completed and not answer.reason:
            outcome += " (success, 0 sub-operations: the server did not serve this identifier)"
        if answer.refused:
            outcome += f", {answer.refused} refused (not asked for)"
        if answer.reason:
            outcome += f"; {answer.reason}"
        self._end(outcome)
        return answer

    # -- helpers ---------------------------------------------------------------------------

    def _begin(self, command: str, level: Level, purpose: str) -> None:
        self.tally.count(command)
        self._current = f"{command} {level.value}: {purpose}"
        self._began = time.perf_counter()
        LOGGER.debug("sending %s", self._current)
        self._report()

    def _end(self, outcome: str) -> None:
        self.tally.line(f"{self._current} -> {outcome} ({time.perf_counter() - self._began:.2f} s)")

    def _report(self) -> None:
        self.tally.report(self._current)


def _answer(result: RetrieveResult) -> RetrieveAnswer:
    reason = None
    if result.status != 0:
        reason = f"status 0x{result.status:04X} ({status_meaning(result.command, result.status)})"
    if result.failed:
        failed = f"{result.failed} failed sub-operations"
        reason = f"{reason}, {failed}" if reason else failed
    return RetrieveAnswer(
        completed=result.completed + result.warning,
        reason=reason,
        refused=len(result.unexpected),
        failures=result.local_failures,
    )
