"""pynetdicom tuned for either end of an association: its log kept quiet (and not even
composed), TCP_NODELAY on every connection, and, on associations we request and those a
server opens to deliver a C-MOVE's objects, a shorter DUL poll; on those we request, a
guard against a race in pynetdicom.

The server adds its own acceptor tuning (:mod:`dicomref.server._tuning`) on top of
:func:`no_delay`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import TYPE_CHECKING, Final

from pynetdicom import _config as pynetdicom_config

if TYPE_CHECKING:
    from pynetdicom.events import Event

_PYNETDICOM_LOGGER = logging.getLogger("pynetdicom")
_QUIET_LEVEL = logging.CRITICAL


def quiet_pynetdicom() -> None:
    """Keep pynetdicom's own log quiet (its errors become our exceptions) unless dicomref's
    remote logger is at DEBUG; a level someone else gave pynetdicom's logger is kept.

    While it is quiet, pynetdicom is also told not to compose the lines it would log
    (``_config.LOG_HANDLER_LEVEL`` and ``LOG_*_IDENTIFIERS``): it builds them whatever
    the logger's level, decoding every C-FIND identifier a second time to print it, and
    that is ~1 ms of CPU per C-FIND round trip at each end.
    """
    ours = logging.getLogger("dicomref.remote")
    level = _PYNETDICOM_LOGGER.level
    if ours.isEnabledFor(logging.DEBUG):
        if level == _QUIET_LEVEL:
            _PYNETDICOM_LOGGER.setLevel(logging.NOTSET)
            _compose_log_lines(True)
    elif level == logging.NOTSET:
        _PYNETDICOM_LOGGER.setLevel(_QUIET_LEVEL)
        _compose_log_lines(False)


def _compose_log_lines(compose: bool) -> None:
    pynetdicom_config.LOG_HANDLER_LEVEL = "standard" if compose else "none"
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = compose
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = compose


# -- tuning pynetdicom's connections --------------------------------------------------------------

REQUESTOR_POLL: Final = 0.0005
"""Seconds pynetdicom's DUL thread sleeps, on an association we request, whenever a turn
of its loop found nothing to do (pynetdicom's default: 1 ms).  Each request and each
response waits for such a turn.  Measured here against ``dicomref serve``: an IMAGE-level
C-FIND round trip ~0.5 ms shorter (1 ms → 0.5 ms; 0.2 ms gained nothing more), for an
idle association costing ~10% of a CPU instead of ~8% (pynetdicom polls)."""


def set_poll(assoc: object, seconds: float) -> None:
    """Make the DUL thread of ``assoc`` sleep ``seconds`` when a turn of its loop found
    nothing to do (pynetdicom's default: 1 ms); nothing where pynetdicom has no such
    setting."""
    dul = getattr(assoc, "dul", None)
    if dul is not None and hasattr(dul, "_run_loop_delay"):
        dul._run_loop_delay = seconds


def tune_receiver(event: Event) -> None:
    """EVT_CONN_OPEN handler for the associations a server opens to deliver the objects of
    a C-MOVE: TCP_NODELAY and :data:`REQUESTOR_POLL`, as on the associations we request."""
    no_delay(event)
    set_poll(event.assoc, REQUESTOR_POLL)


def no_delay(event: Event) -> None:
    """EVT_CONN_OPEN handler: send each PDU at once (TCP_NODELAY), at either end.

    pynetdicom writes a DIMSE message as several small sends; with Nagle's algorithm on,
    each exchange with a peer that delays its ACKs waits ~40 ms (measured: an IMAGE-level
    C-FIND by SOP Instance UID takes ~50 ms without, ~9 ms with it on both ends).
    """
    raw = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if isinstance(raw, socket.socket):
        with contextlib.suppress(OSError):  # not TCP, or already closed: nothing to tune
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tune_requestor(event: Event) -> None:
    """EVT_CONN_OPEN handler for every association we request (a client's, or a C-MOVE's
    towards its destination): TCP_NODELAY, a shorter DUL idle sleep (:data:`REQUESTOR_POLL`),
    and a guard against a race in pynetdicom (3.0; its issue #875).

    The race: a ``send_*`` call pauses the association's reactor thread and waits until it
    *looks* paused, but the flag it reads still says "paused" from the previous operation
    while that thread, woken when the previous operation ended, has not run yet.  It then
    runs, takes the first response off the queue as if it were a request, and drops it:
    a C-FIND loses a match and still ends in success (3 in 15,000 back-to-back C-FINDs
    against ``dicomref serve`` here), a C-STORE or C-ECHO waits out the DIMSE timeout.
    On our side of an association nothing but the operation in progress may take DIMSE
    messages, so the reactor's non-blocking reads are made to find nothing; A-RELEASE and
    A-ABORT from the peer still reach it (they are not DIMSE messages).
    """
    no_delay(event)
    assoc = event.assoc
    set_poll(assoc, REQUESTOR_POLL)
    dimse = getattr(assoc, "dimse", None)
    take = getattr(dimse, "get_msg", None)
    if dimse is None or take is None or getattr(take, "_dicomref_guard", False):
        return

    def get_msg(block: bool = False) -> tuple[int | None, object]:
        if not block and threading.current_thread() is assoc:
            return None, None  # the reactor thread: leave responses to the operation
        result: tuple[int | None, object] = take(block)
        return result

    get_msg._dicomref_guard = True  # type: ignore[attr-defined]
    dimse.get_msg = get_msg
