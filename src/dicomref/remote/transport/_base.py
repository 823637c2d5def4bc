"""The seam between the fetch loop and a protocol: what every transport does.

The planner writes steps (:mod:`dicomref.remote.planner._steps`) in the words of DICOM
query/retrieve: a :class:`~dicomref.remote.planner._steps.Find` at a level with keys, a
:class:`~dicomref.remote.planner._steps.Retrieve` of a series or of listed instances.  A
:class:`Transport` carries them over one protocol and answers in the same words: rows of
keys for a find, a :class:`RetrieveAnswer` for a retrieve, every object that arrives handed
to a :class:`Receiver` as its header and the Part-10 bytes it came as.  The executor, the
pool and the fetch loop only ever talk to this protocol; :func:`open_transport` (in
``_open.py``) is the one place that picks an implementation for a node.

Adding a protocol means adding one module that implements :class:`Transport` and one line
in ``_open.py``'s table (docs/architecture.md, "Transports").

Errors: a find the server refuses raises :class:`~dicomref.errors.StatusError`; a retrieve
the server refuses or cannot serve returns an answer with a ``reason`` (the planner learns
from it); what makes the whole fetch impossible (no connection, refused credentials, a
C-MOVE destination the server does not know) raises a
:class:`~dicomref.errors.RemoteError`.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomref.errors import RemoteError
    from dicomref.extraction import JsonInstance
    from dicomref.remote.planner._enums import Level, Root
    from dicomref.remote.planner._steps import Keys, Retrieve


def reason_of(exc: RemoteError) -> str:
    """The error's message without the node prefix (the report names the node once)."""
    return str(exc).removeprefix(f"{exc.node}: ")


class Receiver(Protocol):
    """Takes each object a retrieve brings: its header (at least the UIDs) and the complete
    Part-10 file as received (see :class:`~dicomref.remote.fetching._intake.Batch`)."""

    def store_file(self, dataset: Dataset, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class RetrieveAnswer:
    """What the server said about one retrieve (what arrived is the receiver's business).

    ``completed``: objects it reports as sent (None when it failed the request);
    ``reason``: its failure or warning in words; ``refused``: objects it sent that were not
    asked for (refused or discarded here); ``failures``: objects that arrived but could not
    be kept, with why.  ``unsupported``: the server does not offer this way of retrieving
    (a refused presentation context, status 0x0122, HTTP 405/501).  ``given_up``: why a
    series retrieved on trial was dropped before its end (see :mod:`..planner._trial`).
    """

    completed: int | None
    reason: str | None
    refused: int
    failures: tuple[tuple[str, str], ...]
    unsupported: bool = False
    given_up: str | None = None


@runtime_checkable
class ReadsMetadata(Protocol):
    """A transport that can give a series' objects as metadata, read into summaries
    without moving the objects (DICOMweb's series metadata)."""

    def series_metadata(self, study: str, series: str) -> list[JsonInstance]:
        """Each instance of the series, its summary or why it cannot be read."""
        ...


@runtime_checkable
class CountsRequests(Protocol):
    """A transport whose step may take several requests (DICOMweb: one GET per instance
    of a retrieve, a search cut into several): it says how many it sent, and the tally
    counts those instead of one per step."""

    def take_requests(self) -> dict[str, int]:
        """Requests sent since the last call, by command ("QIDO-RS": 2, "WADO-RS": 60)."""
        ...


@runtime_checkable
class Transport(Protocol):
    """One connection's worth of talking to one server (not thread-safe: one thread
    at a time; a pool opens one transport per parallel worker)."""

    @property
    def name(self) -> str:
        """The server as messages name it (``AE@host:port``, a base URL without
        credentials)."""
        ...

    @property
    def connections_opened(self) -> int:
        """Associations (DIMSE) or HTTP connections opened so far."""
        ...

    @property
    def find_command(self) -> str:
        """A find as the report counts it: "C-FIND", "QIDO-RS"."""
        ...

    def retrieve_command(self, step: Retrieve) -> str:
        """The request ``step`` becomes, as the report counts it: "C-GET", "C-MOVE",
        "WADO-RS"."""
        ...

    def find(self, level: Level, keys: Keys, root: Root) -> list[Dataset]:
        """The rows matching ``keys`` at ``level`` (``keys``: keyword/value pairs, a UID
        list backslash-joined, ``""`` a return key); StatusError when refused."""
        ...

    def retrieve(
        self, step: Retrieve, receiver: Receiver, expected: Set[str] | None
    ) -> RetrieveAnswer:
        """Bring what ``step`` names to ``receiver``: exactly ``expected`` when given (at
        IMAGE level; anything else is refused), the whole series otherwise."""
        ...

    def close(self, *, abort: bool = False) -> None:
        """Release the connection (``abort``: without the polite goodbye)."""
        ...
