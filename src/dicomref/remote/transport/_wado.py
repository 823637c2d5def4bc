"""WADO-RS retrieves: one GET answered by a ``multipart/related`` stream of DICOM
objects, each part checked and handed on as it arrives.

:func:`read_answer` reads the parts one at a time (never the whole answer in memory),
reads each part's header (the UIDs, without the pixel data or the sequences' contents),
and sorts it: an object that was asked for, or any object of a series retrieved whole, is
handed to the receiver with its bytes exactly as received; an object nobody asked for is
refused (dropped, counted), as the DIMSE receiver refuses it; a part that is not DICOM is
a local failure.  :func:`in_parallel` runs the GETs of single objects a few at a time on
daemon threads (an interrupted fetch does not wait for them).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from dicomref._dicomweb._media import DICOM
from dicomref._dicomweb._multipart import Part
from dicomref.remote.transport._header import header

if TYPE_CHECKING:
    from dicomref.remote.transport._base import Receiver

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class Tally:
    """What the parts of one retrieve turned out to be (shared by its GETs; locked)."""

    received: set[str] = field(default_factory=set)
    unexpected: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)
    bytes: int = 0
    given_up: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def read_answer(
    parts: Iterable[Part],
    receiver: Receiver,
    expected: Set[str] | None,
    tally: Tally,
    *,
    label: str,
    go_on: Callable[[str, int], bool] | None = None,
) -> int:
    """Hand each DICOM part of ``parts`` to ``receiver`` (only those in ``expected``, when
    given); how many parts were read.  ``label`` names the request in failures.
    ``go_on(sop, size)`` is asked after each part (its SOP Instance UID, "" if unread):
    False stops the reading there, before the next part is waited for."""
    count = 0
    for part in parts:
        count += 1
        sop = _hand_on(part, count, receiver, expected, tally, label)
        if go_on is not None and not go_on(sop, len(part.body)):
            break
    return count


def _hand_on(
    part: Part,
    count: int,
    receiver: Receiver,
    expected: Set[str] | None,
    tally: Tally,
    label: str,
) -> str:
    """One part checked and handed to ``receiver``; its SOP Instance UID ("" if unread)."""
    media = part.content_type.split(";", 1)[0].strip().lower()
    if media and media != DICOM:
        with tally.lock:
            tally.failures[f"{label} part {count}"] = f"a part of type {media}, not DICOM"
        return ""
    try:
        head = header(part.body)
    except ValueError as exc:
        with tally.lock:
            tally.failures[f"{label} part {count}"] = str(exc)
        return ""
    sop = str(head.get("SOPInstanceUID", "") or "")
    if expected is not None and sop not in expected:
        with tally.lock:
            tally.unexpected.add(sop or f"{label} part {count}")
        return sop
    try:
        receiver.store_file(head, part.body)
    except Exception as exc:  # noqa: BLE001 - one object that cannot be kept is reported, not fatal
        with tally.lock:
            tally.failures[sop] = f"{type(exc).__name__}: {exc}"
        return sop
    with tally.lock:
        tally.received.add(sop)
        tally.bytes += len(part.body)
    return sop


def in_parallel(
    items: Iterable[T], work: Callable[[T], R], workers: int
) -> Iterator[tuple[T, R | BaseException]]:
    """``work(item)`` for each item on at most ``workers`` daemon threads; yields
    ``(item, result or the exception it raised)`` as each finishes."""
    pending = list(items)
    if workers <= 1 or len(pending) <= 1:
        for item in pending:
            try:
                yield item, work(item)
            except Exception as exc:  # noqa: BLE001 - handed to the caller, which raises or records it
                yield item, exc
        return
    todo: queue.SimpleQueue[T | None] = queue.SimpleQueue()
    done: queue.SimpleQueue[tuple[T, R | BaseException]] = queue.SimpleQueue()
    for item in pending:
        todo.put(item)

    def run() -> None:
        while (item := todo.get()) is not None:
            try:
                done.put((item, work(item)))
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                done.put((item, exc))

    threads = min(workers, len(pending))
    for _ in range(threads):
        todo.put(None)
        threading.Thread(target=run, name="dicomref-wado", daemon=True).start()
    for _ in pending:
        yield done.get()
