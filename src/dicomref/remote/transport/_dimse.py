"""DIMSE as a :class:`~dicomref.remote.transport._base.Transport`: C-FIND, C-GET, C-MOVE on
one association (:class:`~dicomref.remote.transport._dimse_client.DimseClient`).

What is DIMSE's own stays here: a step's keys become an identifier (a UID list a
multi-valued element, a sequence keyword an empty sequence: a return key); the retrieve
method (C-GET on this association, C-MOVE to our receiver) is the step's; statuses become
answers: a refused context or 0x0122 is "unsupported", any other refusal is the answer's
reason, except a C-MOVE refused with 0xA801 (move destination unknown) without a UID list,
which is raised: the server does not know where to send, and no other plan can fix that.
"""

from __future__ import annotations

from collections.abc import Set

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomref._dimse._node import Node
from dicomref._dimse._statuses import MOVE_DESTINATION_UNKNOWN
from dicomref.errors import StatusError
from dicomref.remote.planner._enums import Level, Method, Root
from dicomref.remote.planner._steps import LIST_SEPARATOR, Keys, Retrieve
from dicomref.remote.transport._base import Receiver, RetrieveAnswer, reason_of
from dicomref.remote.transport._dimse_client import (
    SOP_CLASS_NOT_SUPPORTED,
    DimseClient,
    RetrieveResult,
    status_meaning,
)
from dicomref.remote.transport._encode import encode
from dicomref.remote.transport._mismatch import Mismatch


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


class _Callback:
    """A :class:`Receiver` as the DIMSE receiver's callback: the file as received when it
    has one (always, for C-STORE), else the data set encoded."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def __call__(self, dataset: Dataset) -> None:
        self.receiver.store_file(dataset, encode(dataset))

    def store_file(self, dataset: Dataset, data: bytes) -> None:
        self.receiver.store_file(dataset, data)

    def on_mismatch(self, mismatch: Mismatch) -> None:
        """An object refused for not being what it was announced as: told to the
        receiver when it listens (``Batch.on_mismatch``)."""
        tell = getattr(self.receiver, "on_mismatch", None)
        if callable(tell):
            tell(mismatch)


class DimseTransport:
    """Steps as DIMSE requests over one :class:`DimseClient` (its association opened on
    first use, reopened when it drops)."""

    def __init__(self, node: Node, client: DimseClient | None = None) -> None:
        self.node = node
        self.client = client if client is not None else DimseClient(node)

    @property
    def name(self) -> str:
        return str(self.node)

    @property
    def connections_opened(self) -> int:
        return self.client.associations_opened

    @property
    def find_command(self) -> str:
        return "C-FIND"

    def retrieve_command(self, step: Retrieve) -> str:
        return "C-MOVE" if step.method is Method.MOVE else "C-GET"

    def find(self, level: Level, keys: Keys, root: Root) -> list[Dataset]:
        return self.client.find(level, dataset_of(keys), root)

    def retrieve(
        self, step: Retrieve, receiver: Receiver, expected: Set[str] | None
    ) -> RetrieveAnswer:
        identifier = dataset_of(step.identifier)
        callback = _Callback(receiver)
        try:
            if step.method is Method.MOVE:
                result = self.client.move(
                    identifier, step.level, root=step.root, on_store=callback, expected=expected
                )
            else:
                result = self.client.get(
                    identifier, step.level, callback, root=step.root, expected=expected
                )
        except StatusError as exc:
            moving = step.method is Method.MOVE
            if exc.status == MOVE_DESTINATION_UNKNOWN and moving and not step.listed:
                raise
            unsupported = exc.status == SOP_CLASS_NOT_SUPPORTED
            return RetrieveAnswer(None, reason_of(exc), 0, (), unsupported=unsupported)
        return answer_of(result)

    def close(self, *, abort: bool = False) -> None:
        self.client.close(abort=abort)


def answer_of(result: RetrieveResult) -> RetrieveAnswer:
    """A C-MOVE/C-GET result in the transport's words."""
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
