"""pynetdicom's DUL reactor, waiting instead of polling, on associations clients open
with the server.

pynetdicom's DUL thread (``DULServiceProvider.run_reactor``) takes one turn after
another: it sends what its association queued, or reads a PDU that arrived, then feeds
the resulting event to the state machine, and when a turn found nothing it sleeps
``_run_loop_delay`` (:data:`~._tuning.ACCEPTOR_POLL`) before the next.  Every
association therefore woke ~2,000 times a second, busy or idle, and every wake-up
needed the GIL: with 4 associations storing at once (bench/serve.py) the server's
threads spent their time taking turns at the GIL rather than storing.

:func:`wait_between_turns` keeps pynetdicom's turn exactly as it is (the same calls, in
the same order, the same handling of errors) and replaces only the sleep between two
empty turns with a wait that ends as soon as there is something to do:

- the peer sent data, or closed the connection: ``select`` on the association's socket;
- the association (or anyone else) queued a primitive to send, or an event for the
  state machine, or asked the reactor to stop (``kill_dul``, ``stop_dul``): these write
  a byte to a wake-up socket pair the same ``select`` watches (the ``put`` of both
  queues and the two stop methods of this DUL are wrapped to do so);
- the ARTIM timer runs out: the wait is no longer than the time it has left;
- anything else (a change nobody announces): the wait is never longer than
  :data:`LONGEST_WAIT`.

A wait never starts while a primitive or an event is queued, in state Sta13 (awaiting
the close of the connection: pynetdicom closes it at its next turn), or on TLS data
already decrypted (``select`` cannot see it).  Without a socket (closed), the wait is on
the wake-up pair alone.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import ssl
import threading
import time
from typing import Any, Final

from pynetdicom import evt
from pynetdicom.fsm import InvalidEventError
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.utils import make_target

LOGGER = logging.getLogger("pynetdicom.dul")
ASSOC_LOGGER = logging.getLogger("pynetdicom.association")
OWN_LOGGER = logging.getLogger(__name__)
LONGEST_WAIT: Final = 0.05
"""Seconds a reactor with nothing to do waits at most before it looks again (a safety
net: whatever gives it work wakes it at once)."""
#: Sta13: the association is over; the connection is closed at the next turn.
_AWAITING_CLOSE: Final = "Sta13"


class _WakeUp:
    """A socket pair: :meth:`set` makes the reading end readable until :meth:`clear`."""

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def fileno(self) -> int:
        return self._reader.fileno()

    def set(self) -> None:
        # OSError: full (a wake-up is pending anyway) or closed (the reactor ended)
        with contextlib.suppress(OSError):
            self._writer.send(b"\x00")

    def clear(self) -> None:
        try:
            while self._reader.recv(512):
                pass
        except OSError:  # nothing left to read, or closed
            pass

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def wait_between_turns(dul: Any) -> bool:
    """Make ``dul`` (a ``DULServiceProvider`` not started yet) wait for work instead of
    polling.  Returns False, changing nothing, when ``dul`` lacks what this relies on
    (another pynetdicom) or has started already."""
    needed = ("to_provider_queue", "event_queue", "state_machine", "artim_timer", "assoc")
    if dul.is_alive() or not all(hasattr(dul, name) for name in needed):
        return False
    if not all(
        callable(getattr(dul, name, None))
        for name in ("_process_recv_primitive", "_is_transport_event", "kill_dul", "stop_dul")
    ):
        return False
    wake_up = _WakeUp()
    for pending in (dul.to_provider_queue, dul.event_queue):
        _wake_on_put(pending, dul, wake_up)
    kill_dul = dul.kill_dul

    def kill_and_wake() -> None:
        kill_dul()
        wake_up.set()

    def stop_dul() -> bool:
        """pynetdicom's ``stop_dul``: stop the reactor if the state machine is back in
        Sta1 (and wait for it to end), waking it so that it notices at once."""
        if dul.state_machine.current_state != "Sta1":
            return False
        dul._kill_thread = True
        wake_up.set()
        if dul.is_alive() and threading.current_thread() is not dul:
            dul.join()
        return True

    dul.kill_dul = kill_and_wake
    dul.stop_dul = stop_dul
    target = make_target(lambda: _run_reactor(dul, wake_up))
    dul.run = target
    return True


def _wake_on_put(pending: queue.Queue[Any], dul: Any, wake_up: _WakeUp) -> None:
    put = pending.put

    def put_and_wake(item: Any, block: bool = True, timeout: float | None = None) -> None:
        put(item, block, timeout)
        if threading.current_thread() is not dul:  # the reactor's own puts need no wake-up
            wake_up.set()

    pending.put = put_and_wake  # type: ignore[method-assign]


def _run_reactor(dul: Any, wake_up: _WakeUp) -> None:
    """pynetdicom 3.0's ``DULServiceProvider.run_reactor``, with :func:`_wait` where it
    sleeps."""
    try:
        dul._idle_timer.start()
        idle = False
        while True:
            if not dul.assoc._dul_ready.is_set():
                dul.assoc._dul_ready.set()
                idle = True
            if idle:
                _wait(dul, wake_up)
            if dul._kill_thread:
                break
            # The ARTIM timer first, so that its event is queued ahead of any other
            if dul.artim_timer.expired:
                dul.event_queue.put("Evt18")
            try:
                # Either send a primitive the association queued, or read a PDU
                if dul._process_recv_primitive():
                    pass
                elif dul._is_transport_event():
                    dul._idle_timer.restart()
            except Exception as exc:
                LOGGER.error("Exception in DUL.run(), aborting association")
                LOGGER.exception(exc)
                # As pynetdicom does: bypass the state machine, send an A-ABORT, stop
                abort_pdu = A_ABORT_RQ()
                abort_pdu.source = 0x02
                abort_pdu.reason_diagnostic = 0x00
                dul.socket.send(abort_pdu.encode())
                dul.assoc.is_aborted = True
                dul.assoc.is_established = False
                dul.assoc._kill = True
                dul._kill_thread = True
                return
            try:
                event = dul.event_queue.get(block=False)
            except queue.Empty:
                idle = True
                continue
            try:
                dul.state_machine.do_action(event)
            except InvalidEventError as exc:
                # pynetdicom lets this end the thread with a traceback on stderr; the
                # state machine cannot go on: close the connection, end the association
                OWN_LOGGER.warning("association ended: %s", exc)
                _close(dul)
                return
            except Exception as exc:  # noqa: BLE001 - an action failed on what the peer sent
                # (found by fuzzing: an A-ABORT whose source is 255 passes pynetdicom's
                # decoding and raises ValueError in the state machine's action)
                OWN_LOGGER.warning("association ended: the peer sent %s (%s)", event, exc)
                _close(dul)
                return
            idle = False
    finally:
        wake_up.close()


def _close(dul: Any) -> None:
    """Close ``dul``'s connection and stop its association (no state machine left to ask)."""
    raw = getattr(dul.socket, "socket", None)
    if isinstance(raw, socket.socket):
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)
    dul.assoc.is_aborted = True
    dul.assoc.is_established = False
    dul.assoc._kill = True
    dul._kill_thread = True


def _wait(dul: Any, wake_up: _WakeUp) -> None:
    """Wait until the next turn of ``dul``'s reactor may find something to do."""
    wake_up.clear()  # before looking: a wake-up from now on ends the wait below
    if dul._kill_thread or dul.to_provider_queue.qsize() or dul.event_queue.qsize():
        return
    transport = dul.socket
    peer = (
        getattr(transport, "socket", None) if getattr(transport, "_is_connected", False) else None
    )
    if peer is not None:
        if dul.state_machine.current_state == _AWAITING_CLOSE:
            return
        if isinstance(peer, ssl.SSLSocket) and peer.pending():
            return
    timeout = LONGEST_WAIT
    artim = dul.artim_timer
    if artim.timeout is not None:
        timeout = max(0.0, min(timeout, artim.remaining))
    watched: list[Any] = [wake_up] if peer is None else [wake_up, peer]
    try:
        select.select(watched, [], [], timeout)
    except (OSError, ValueError):  # the socket was closed meanwhile: the next turn sees it
        time.sleep(dul._run_loop_delay)


def serve_without_sleeping(assoc: Any) -> None:
    """Make the acceptor loop of ``assoc`` (pynetdicom's ``Association._run_reactor``)
    skip the 1 ms sleep it takes before each look at the association: its ``dimse.get_msg``
    must wait for requests itself (:func:`._tuning.tune_acceptor` makes it wait up to
    :data:`._tuning.REQUEST_WAIT`), or the loop would spin."""
    assoc._run_reactor = lambda: _run_acceptor(assoc)


def _run_acceptor(assoc: Any) -> None:
    """pynetdicom 3.0's ``Association._run_reactor`` for an acceptor, without its sleep."""
    assoc._is_paused = False
    while not assoc._kill:
        # The association's own send_*() calls pause the loop while they talk
        assoc._is_paused = True
        assoc._reactor_checkpoint.wait()
        assoc._is_paused = False
        context_id, msg = assoc.dimse.get_msg(block=False)  # waits a little: see above
        if msg:
            assoc._serve_request(msg, context_id)
        if assoc.is_established and assoc.acse.is_release_requested():
            assoc.acse.send_release(is_response=True)
            ASSOC_LOGGER.info("Association Released")
            assoc.is_released = True
            assoc.is_established = False
            evt.trigger(assoc, evt.EVT_RELEASED, {})
            assoc.kill()
            return
        if assoc.acse.is_aborted():
            message = "Association Aborted"
            if assoc.acse.is_aborted("a-p-abort"):
                message += " (A-P-ABORT)"
            ASSOC_LOGGER.info(message)
            assoc.dul.receive_pdu(wait=False)  # EVT_ACSE_RECV fires for subscribers
            assoc.is_aborted = True
            assoc.is_established = False
            evt.trigger(assoc, evt.EVT_ABORTED, {})
            assoc.kill()
            return
        if not assoc.dul.is_alive():
            assoc.kill()
            return
        if assoc.dul.idle_timer_expired():
            ASSOC_LOGGER.error("Network timeout reached")
            if assoc.network_timeout_response == "A-RELEASE":
                assoc._is_paused = True
                assoc._reactor_checkpoint.wait()
                assoc.release()
                assoc._is_paused = False
            else:
                assoc.abort()
            assoc.kill()
            return
