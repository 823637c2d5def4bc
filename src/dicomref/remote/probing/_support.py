"""Small tools the probe's tests share: identifiers, a made-up UID, an in-memory store for
what arrives, and turning errors and retrieve results into a :class:`Measured` outcome."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from dicomref.errors import (
    AssociationError,
    RemoteError,
    RemoteTimeoutError,
    RetrieveMismatchError,
    StatusError,
)
from dicomref.remote.probing._report import Outcome, ProbeInstance

if TYPE_CHECKING:  # the DIMSE client (pynetdicom) only where a DIMSE probe uses it
    from dicomref.remote.transport._dimse_client import RetrieveResult


@dataclass(frozen=True, slots=True)
class Measured:
    """What one test found out, before it is timed and named."""

    outcome: Outcome
    detail: str
    status: int | None = None


def yes(detail: str) -> Measured:
    return Measured(Outcome.YES, detail)


def no(detail: str, status: int | None = None) -> Measured:
    return Measured(Outcome.NO, detail, status)


def unknown(detail: str) -> Measured:
    return Measured(Outcome.UNKNOWN, detail)


def made_up_uid() -> str:
    """A valid UID that names nothing on any server (``2.25.`` + a random UUID)."""
    return str(generate_uid(prefix=None))


def identifier(**keys: object) -> Dataset:
    """A C-FIND/C-MOVE/C-GET identifier; a list value is sent as a backslash-separated list."""
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def image_keys(instance: ProbeInstance, sops: str | Sequence[str], **extra: object) -> Dataset:
    """A hierarchical IMAGE identifier: the instance's study and series, then ``sops``."""
    return identifier(
        StudyInstanceUID=instance.study,
        SeriesInstanceUID=instance.series,
        SOPInstanceUID=sops if isinstance(sops, str) else list(sops),
        **extra,
    )


class Keeper:
    """A store callback that keeps what arrives in memory, by SOP Instance UID."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._datasets: dict[str, Dataset] = {}

    def __call__(self, dataset: Dataset) -> None:
        with self._lock:
            self._datasets[str(dataset.SOPInstanceUID)] = dataset

    def get(self, sop: str) -> Dataset | None:
        with self._lock:
            return self._datasets.get(sop)


def reason(exc: RemoteError) -> str:
    """The error's message without the node in front (the report names the node once)."""
    return str(exc).removeprefix(f"{exc.node}: ")


def from_error(exc: RemoteError) -> Measured:
    """A refused request (failure status, refused presentation context, a retrieve that did
    not bring what was asked) measures "no"; a lost association or a timeout measures
    nothing."""
    if isinstance(exc, AssociationError | RemoteTimeoutError):
        return unknown(f"no answer: {reason(exc)}")
    if isinstance(exc, StatusError):
        said = reason(exc).removeprefix(f"{exc.command} failed with status ")
        return no(said.replace(":", "", 1) if said.startswith("0x") else said, exc.status)
    return no(reason(exc))


def counts(result: RetrieveResult) -> str:
    return (
        f"0x{result.status:04X}, {result.completed} completed, {result.failed} failed, "
        f"{result.warning} warning sub-operations"
    )


def judge_retrieve(result: RetrieveResult, wanted: Collection[str]) -> Measured:
    """Whether a retrieve brought exactly the ``wanted`` objects (made-up UIDs it was also
    asked for excluded); the counts the server reports are never taken on trust."""
    from dicomref.remote.transport._dimse_client import is_failure, status_meaning

    expected = frozenset(wanted)
    nothing = result.completed == 0 and result.failed == 0 and result.warning == 0
    if not result.received and nothing and not is_failure(result.status):
        said = "success" if result.status == 0 else "warning"
        return no(f"0x{result.status:04X} {said} but 0 sub-operations — nothing sent")
    if not result.received and result.failed:
        meaning = status_meaning(result.command, result.status)
        return no(
            f"0x{result.status:04X} {meaning}: {result.failed} failed sub-operations, "
            "nothing arrived",
            result.status,
        )
    try:
        result.verify(expected)
    except RetrieveMismatchError as exc:
        return no(reason(exc))
    arrived = "the object arrived" if len(expected) == 1 else f"the {len(expected)} objects arrived"
    return yes(f"{arrived} ({counts(result)})")
