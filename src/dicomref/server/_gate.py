"""Connections that have not associated yet: held by one thread, never by an association.

pynetdicom gives every TCP connection it accepts an association thread (and a DUL
thread) at once, and counts it against ``maximum_associations`` while it waits up to the
ACSE timeout for an A-ASSOCIATE-RQ.  16 connections that send nothing therefore locked
every client out (~28 s, renewable at will), and one that declared a 4 GiB PDU was read
without limit.  The :class:`Gate` sits between the listening socket and pynetdicom:

- it reads each new connection's first PDU itself, with one ``select`` loop for all of
  them, and hands the connection to pynetdicom only once a complete, decodable
  A-ASSOCIATE-RQ has arrived: only then does it get threads and count as an association;
- the first PDU must be an A-ASSOCIATE-RQ of at most :data:`MAX_ASSOCIATE_PDU` bytes;
  anything else is answered with an A-ABORT and the connection closed (an A-ABORT from
  the peer just closes it);
- a connection that has not completed its A-ASSOCIATE-RQ within the ARTIM time
  (``ServerConfig.artim_timeout``) is closed, as PS3.8's ARTIM timer would;
- one peer address holds at most ``max_peer_connections`` connections, waiting or
  associated: beyond that, its own oldest waiting connection is closed to make room, or,
  when it has none waiting, the new one is refused;
- at most ``max_pending`` connections wait at once; beyond that the oldest is closed;
- with TLS (``ServerConfig.tls``), the handshake happens here too, before the
  A-ASSOCIATE-RQ, on the same non-blocking sockets and under the same ARTIM deadline
  (``SSLWantReadError``/``SSLWantWriteError`` say which way to wait): a peer that stalls
  in the middle of its handshake holds no thread and no slot, and is closed on time;
  one that fails it (a plain-TCP client, a certificate we do not trust) is closed with a
  warning.  Decrypted bytes OpenSSL holds already (``SSLSocket.pending()``) are read at
  once, as ``select`` cannot see them.

Closing the oldest rather than refusing the newest means nobody is locked out by
connections that sit idle: a real client sends its request within milliseconds of
connecting, and so always gets through.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import selectors
import socket
import ssl
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from pynetdicom.pdu import A_ASSOCIATE_RQ

LOGGER = logging.getLogger(__name__)

MAX_ASSOCIATE_PDU: Final = 1_048_576
"""Largest A-ASSOCIATE-RQ (and A-ASSOCIATE-AC/RJ) accepted, in bytes after its 6-byte
header: 128 presentation contexts with 20 transfer syntaxes each take ~70 KB (DCMTK's own
limit is the same 1 MiB)."""
_HEADER: Final = 6
_ASSOCIATE_RQ: Final = 0x01
_ABORT: Final = 0x07
#: A-ABORT source "service provider" (2), reasons: unrecognised PDU (1), unexpected PDU
#: (2), invalid PDU parameter value (6).
_PROVIDER: Final = 2
_UNRECOGNISED: Final = 1
_UNEXPECTED: Final = 2
_INVALID_VALUE: Final = 6
#: OpenSSL's reasons for a first record that is not TLS (a plain DICOM PDU, say).
_NOT_TLS: Final = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL"})
#: Seconds the loop sleeps at most when no connection waits (it is woken for new ones).
_IDLE_WAIT: Final = 1.0
#: Seconds between two warnings about the same peer.
_WARN_EVERY: Final = 10.0


def abort_pdu(reason: int, source: int = _PROVIDER) -> bytes:
    """An encoded A-ABORT PDU."""
    return struct.pack(">BBL4B", _ABORT, 0, 4, 0, 0, source, reason)


def send_nowait(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` if it fits without waiting (a TLS socket: only from the thread that
    reads it, as OpenSSL requires); nothing if not."""
    if isinstance(sock, ssl.SSLSocket):  # no flags on an SSLSocket: make it non-blocking
        with contextlib.suppress(OSError, ValueError):
            sock.settimeout(0.0)
            sock.send(data)
        return
    with contextlib.suppress(OSError):
        sock.send(data, socket.MSG_DONTWAIT)


def drop(sock: socket.socket, answer: bytes = b"") -> None:
    """Send ``answer`` if it fits without waiting, then close ``sock``."""
    if answer:
        send_nowait(sock, answer)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@dataclass(frozen=True, slots=True)
class GateLimits:
    """``artim``: seconds to complete the A-ASSOCIATE-RQ; ``per_peer``: connections one
    address may hold; ``pending``: connections that may wait at once; ``stall``: the
    socket timeout handed-over connections get (a peer that stops in the middle of a PDU,
    or stops reading, is dropped after that long)."""

    artim: float
    per_peer: int
    pending: int
    stall: float


@dataclass(eq=False, slots=True)
class _Waiting:
    sock: socket.socket
    address: Any
    deadline: float
    received: bytearray = field(default_factory=bytearray)
    needed: int = _HEADER
    handshaking: bool = False
    events: int = selectors.EVENT_READ

    @property
    def peer(self) -> str:
        return str(self.address[0])

    def __str__(self) -> str:
        host = self.peer
        return f"{f'[{host}]' if ':' in host else host}:{self.address[1]}"


Handover = Callable[[socket.socket, Any, A_ASSOCIATE_RQ, bytes], None]
"""Called (from the gate's thread) with a connection, its address, its decoded
A-ASSOCIATE-RQ and that PDU's bytes."""


class Gate:
    """Holds new connections until their A-ASSOCIATE-RQ is complete (see the module).

    ``associated(peer)`` tells how many associations ``peer`` (an address) holds;
    ``hand_over`` receives each connection that completed its request; ``tls``: the
    server's TLS context (None: plain TCP), each connection then handed over as an
    ``SSLSocket``.
    """

    def __init__(
        self,
        limits: GateLimits,
        hand_over: Handover,
        associated: Callable[[str], int],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.limits = limits
        self._tls = tls
        self._hand_over = hand_over
        self._associated = associated
        self._arrivals: queue.SimpleQueue[tuple[socket.socket, Any]] = queue.SimpleQueue()
        self._waiting: OrderedDict[socket.socket, _Waiting] = OrderedDict()
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._stopping = False
        self._warned: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="dicomref-gate", daemon=True)

    # -- from other threads ----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def admit(self, sock: socket.socket, address: Any) -> None:
        """A connection just accepted (called by the listening thread; never blocks)."""
        if self._stopping:
            drop(sock)
            return
        self._arrivals.put((sock, address))
        self._wake()

    def stop(self) -> None:
        """Close every waiting connection and end the thread."""
        self._stopping = True
        self._wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5.0)

    @property
    def waiting(self) -> int:
        """Connections waiting for their A-ASSOCIATE-RQ (a snapshot)."""
        return len(self._waiting)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            self._wake_writer.send(b"\x00")

    # -- the gate's thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._take_arrivals()
                self._expire(time.monotonic())
                for key, _ in self._selector.select(self._timeout()):
                    if key.fileobj is self._wake_reader:
                        with contextlib.suppress(OSError):
                            while self._wake_reader.recv(4096):
                                pass
                        continue
                    waiting = self._waiting.get(key.fileobj)  # type: ignore[call-overload]
                    if waiting is not None:
                        self._read(waiting)
        finally:
            self._take_arrivals()
            for waiting in list(self._waiting.values()):
                self._forget(waiting)
                drop(waiting.sock)
            self._selector.close()
            self._wake_reader.close()
            self._wake_writer.close()

    def _timeout(self) -> float:
        if not self._waiting:
            return _IDLE_WAIT
        first = next(iter(self._waiting.values()))  # oldest: the earliest deadline
        return max(0.0, min(_IDLE_WAIT, first.deadline - time.monotonic()))

    def _take_arrivals(self) -> None:
        while True:
            try:
                sock, address = self._arrivals.get_nowait()
            except queue.Empty:
                return
            if self._stopping:
                drop(sock)
            else:
                self._arrive(sock, address)

    def _arrive(self, sock: socket.socket, address: Any) -> None:
        waiting = _Waiting(sock, address, time.monotonic() + self.limits.artim)
        peer = waiting.peer
        mine = [w for w in self._waiting.values() if w.peer == peer]
        if len(mine) + self._associated(peer) >= self.limits.per_peer:
            if not mine:
                self._warn(
                    peer,
                    f"connection from {waiting} refused: {peer} holds "
                    f"{self.limits.per_peer} associations already (max_peer_connections)",
                )
                drop(sock)
                return
            oldest = mine[0]
            self._close(oldest, f"closed to make room for a newer one from {peer}")
        while len(self._waiting) >= self.limits.pending:
            oldest = next(iter(self._waiting.values()))
            self._close(oldest, "closed to make room: too many connections waiting")
        try:
            sock.setblocking(False)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                waiting.sock, waiting.handshaking = sock, True
            self._selector.register(sock, selectors.EVENT_READ)
        except (OSError, ValueError):
            drop(sock)
            return
        self._waiting[sock] = waiting

    def _expire(self, now: float) -> None:
        while self._waiting:
            oldest = next(iter(self._waiting.values()))
            if oldest.deadline > now:
                return
            self._close(
                oldest,
                f"no complete A-ASSOCIATE-RQ within {self.limits.artim:g} s "
                f"({len(oldest.received)} bytes received)",
            )

    def _read(self, waiting: _Waiting) -> None:
        if waiting.handshaking and not self._handshake(waiting):
            return
        while self._read_some(waiting):
            pass

    def _handshake(self, waiting: _Waiting) -> bool:
        """One step of the TLS handshake; True once it is complete."""
        assert isinstance(waiting.sock, ssl.SSLSocket)
        try:
            waiting.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._wait_for(waiting, selectors.EVENT_READ)
            return False
        except ssl.SSLWantWriteError:
            self._wait_for(waiting, selectors.EVENT_WRITE)
            return False
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self._forget(waiting)
            drop(waiting.sock)
            hint = ""
            if isinstance(exc, ssl.SSLError) and exc.reason in _NOT_TLS:
                hint = " (the peer does not talk TLS: a client without TLS?)"
            self._warn(
                waiting.peer,
                f"connection from {waiting} closed: TLS handshake failed: {exc}{hint}",
            )
            return False
        waiting.handshaking = False
        self._wait_for(waiting, selectors.EVENT_READ)
        LOGGER.debug("connection from %s: TLS %s", waiting, waiting.sock.version())
        return True

    def _wait_for(self, waiting: _Waiting, events: int) -> None:
        if waiting.events != events:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.modify(waiting.sock, events)
            waiting.events = events

    def _read_some(self, waiting: _Waiting) -> bool:
        """Read what has come; True when a TLS socket holds more already decrypted."""
        try:
            chunk = waiting.sock.recv(waiting.needed - len(waiting.received))
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            self._wait_for(waiting, selectors.EVENT_READ)
            return False
        except ssl.SSLWantWriteError:
            self._wait_for(waiting, selectors.EVENT_WRITE)
            return False
        except OSError as exc:
            self._forget(waiting)
            drop(waiting.sock)
            LOGGER.debug("connection from %s failed before associating: %s", waiting, exc)
            return False
        if not chunk:
            self._forget(waiting)
            drop(waiting.sock)
            LOGGER.debug("connection from %s closed before associating", waiting)
            return False
        self._wait_for(waiting, selectors.EVENT_READ)
        waiting.received += chunk
        if len(waiting.received) >= waiting.needed:
            if waiting.needed == _HEADER:
                self._check_header(waiting)
            else:
                self._complete(waiting)
            if self._waiting.get(waiting.sock) is not waiting:
                return False  # handed over or closed: no longer the gate's
        return isinstance(waiting.sock, ssl.SSLSocket) and waiting.sock.pending() > 0

    def _check_header(self, waiting: _Waiting) -> None:
        kind, _, length = struct.unpack(">BBL", waiting.received)
        if kind == _ABORT:
            self._forget(waiting)
            drop(waiting.sock)
            LOGGER.debug("connection from %s aborted by the peer before associating", waiting)
        elif kind != _ASSOCIATE_RQ:
            reason = _UNEXPECTED if 0x02 <= kind <= 0x06 else _UNRECOGNISED
            self._refuse(
                waiting, reason, f"sent a PDU of type 0x{kind:02X} instead of an A-ASSOCIATE-RQ"
            )
        elif length > MAX_ASSOCIATE_PDU:
            self._refuse(
                waiting,
                _INVALID_VALUE,
                f"declared an A-ASSOCIATE-RQ of {length:,} bytes "
                f"(at most {MAX_ASSOCIATE_PDU:,} are accepted)",
            )
        elif length == 0:
            self._refuse(waiting, _INVALID_VALUE, "sent an empty A-ASSOCIATE-RQ")
        else:
            waiting.needed = _HEADER + length

    def _complete(self, waiting: _Waiting) -> None:
        data = bytes(waiting.received)
        pdu = A_ASSOCIATE_RQ()
        try:
            pdu.decode(data)
        except Exception as exc:  # noqa: BLE001 - any decoding failure is the peer's
            why = f"sent an A-ASSOCIATE-RQ that cannot be read: {exc}"
            self._refuse(waiting, _INVALID_VALUE, why)
            return
        self._forget(waiting)
        sock = waiting.sock
        try:
            sock.setblocking(True)
            sock.settimeout(self.limits.stall)
        except OSError:
            drop(sock)
            return
        try:
            self._hand_over(sock, waiting.address, pdu, data)
        except Exception:  # never let one connection end the gate
            LOGGER.exception("association request from %s could not be handed over", waiting)
            drop(sock)

    # -- closing ---------------------------------------------------------------------------

    def _forget(self, waiting: _Waiting) -> None:
        self._waiting.pop(waiting.sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(waiting.sock)

    def _close(self, waiting: _Waiting, why: str) -> None:
        self._forget(waiting)
        drop(waiting.sock)
        LOGGER.info("connection from %s %s", waiting, why)

    def _refuse(self, waiting: _Waiting, reason: int, why: str) -> None:
        self._forget(waiting)
        drop(waiting.sock, abort_pdu(reason))
        self._warn(waiting.peer, f"connection from {waiting} aborted: it {why}")

    def _warn(self, peer: str, message: str) -> None:
        """A warning, at most one per peer every :data:`_WARN_EVERY` seconds (the others
        at DEBUG): a peer cannot fill the log."""
        now = time.monotonic()
        if now - self._warned.get(peer, -_WARN_EVERY) >= _WARN_EVERY:
            if len(self._warned) > 4096:
                self._warned.clear()
            self._warned[peer] = now
            LOGGER.warning("%s", message)
        else:
            LOGGER.debug("%s", message)
