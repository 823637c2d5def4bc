"""The listening socket: pynetdicom's threaded association server with the
:class:`~._gate.Gate` in front of it, and a way to end every connection on time.

A connection accepted goes to the gate; the gate hands it back once its A-ASSOCIATE-RQ is
complete, and only then does pynetdicom create the association (its threads, its share of
``maximum_associations``).  The request the gate read is given to the association's DUL
as if the DUL had read it: the same decoded PDU, the same state machine event (Evt6), the
same notification events.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from datetime import datetime
from typing import Any, Final

from pynetdicom import AE, evt
from pynetdicom.events import EventHandlerType
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer
from pynetdicom.utils import make_target

from dicomref.server._gate import Gate, GateLimits, abort_pdu

LOGGER = logging.getLogger(__name__)
_ASSOCIATE_RQ_RECEIVED: Final = "Evt6"
#: States in which an association may be aborted through pynetdicom (A-ABORT request
#: primitive, Evt15): established, or releasing.
_ABORTABLE: Final = frozenset({"Sta6", "Sta7", "Sta8", "Sta9", "Sta10", "Sta11", "Sta12"})
#: A-ABORT reason "reason not specified", source "service user" (0).
_SERVICE_USER: Final = 0


class _GatedHandler(RequestHandler):
    """pynetdicom's handler for a connection whose A-ASSOCIATE-RQ the gate has read."""

    server: GatedServer

    def handle(self) -> None:
        assoc = self._create_association()
        pdu, data = self.server.take_request(self.request)
        evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
        dul = assoc.dul
        evt.trigger(assoc, evt.EVT_DATA_RECV, {"data": data})
        evt.trigger(assoc, evt.EVT_PDU_RECV, {"pdu": pdu})
        dul._recv_pdu.put(pdu)
        dul.event_queue.put(_ASSOCIATE_RQ_RECEIVED)
        assoc.start()


class GatedServer(ThreadedAssociationServer):
    """pynetdicom's ``ThreadedAssociationServer`` whose connections pass the gate first;
    made by :func:`start_gated`."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, *args: Any, limits: GateLimits, tls: ssl.SSLContext | None = None, **kwargs: Any
    ) -> None:
        kwargs["request_handler"] = _GatedHandler
        super().__init__(*args, **kwargs)  # no ssl_context: the gate does the handshake
        self._requests: dict[socket.socket, tuple[A_ASSOCIATE_RQ, bytes]] = {}
        self._requests_lock = threading.Lock()
        self.gate = Gate(limits, self._hand_over, self.associated_from, tls)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A connection was accepted: to the gate (it never blocks)."""
        self.gate.admit(request, client_address)

    def _hand_over(
        self, sock: socket.socket, address: Any, pdu: A_ASSOCIATE_RQ, data: bytes
    ) -> None:
        with self._requests_lock:
            self._requests[sock] = (pdu, data)
        try:
            self.finish_request(sock, address)
        except Exception as exc:  # one connection's failure, reported
            LOGGER.error("association request from %s:%s failed: %s", address[0], address[1], exc)
            LOGGER.debug("the failure", exc_info=True)
            self.shutdown_request(sock)
        finally:
            with self._requests_lock:
                self._requests.pop(sock, None)

    def take_request(self, sock: socket.socket) -> tuple[A_ASSOCIATE_RQ, bytes]:
        with self._requests_lock:
            return self._requests.pop(sock)

    def associated_from(self, peer: str) -> int:
        """Associations (accepted connections past the gate) ``peer`` holds."""
        return sum(1 for assoc in self.active_associations if assoc.requestor.address == peer)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback to stderr; log one line instead."""
        LOGGER.error("connection from %s failed", client_address, exc_info=True)

    def shutdown(self) -> None:
        """Stop accepting, close the connections waiting at the gate."""
        super().shutdown()
        self.gate.stop()


def start_gated(
    ae: AE,
    address: tuple[str, int],
    handlers: list[EventHandlerType],
    limits: GateLimits,
    tls: ssl.SSLContext | None = None,
) -> GatedServer:
    """``ae.start_server(address, block=False, evt_handlers=handlers)``, gated (and with
    TLS when ``tls`` is given: the gate does each handshake)."""
    server = ae.make_server(
        address, evt_handlers=handlers, server_class=GatedServer, limits=limits, tls=tls
    )
    assert isinstance(server, GatedServer)
    server.gate.start()
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    thread = threading.Thread(
        target=make_target(server.serve_forever), name=f"AcceptorServer@{stamp}", daemon=True
    )
    thread.start()
    ae._servers.append(server)
    return server


def _raw_socket(assoc: Any) -> socket.socket | None:
    raw = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    return raw if isinstance(raw, socket.socket) else None


def cut(assoc: Any) -> None:
    """End ``assoc``'s connection now, whatever its peer does: an A-ABORT if it fits in
    the socket's buffer, then ``shutdown``, which ends any ``recv`` or ``send`` its threads
    are blocked in; its DUL then sees the connection closed (Evt17) and stops.

    On a TLS connection no A-ABORT is sent: its DUL thread may be reading, and OpenSSL
    allows no write from another thread meanwhile; the TCP connection is shut down under
    TLS (``socket.socket.shutdown``: ``SSLSocket.shutdown`` would also drop the TLS state
    the DUL thread is using)."""
    raw = _raw_socket(assoc)
    if raw is None:
        return
    if isinstance(raw, ssl.SSLSocket):
        with contextlib.suppress(OSError):
            socket.socket.shutdown(raw, socket.SHUT_RDWR)
        return
    if assoc.dul.state_machine.current_state in _ABORTABLE:
        with contextlib.suppress(OSError):
            raw.send(abort_pdu(0, _SERVICE_USER), socket.MSG_DONTWAIT)
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_RDWR)


def end_all(server: GatedServer, deadline: float) -> list[Any]:
    """Abort the associations still open, cut their connections, and wait until
    ``deadline`` (a ``time.monotonic()``) at most for their threads to end; returns those
    that outlived it (daemon threads: they do not keep the process alive)."""
    left = [assoc for assoc in server.active_associations if assoc.is_alive()]
    for assoc in left:
        cut(assoc)
    for assoc in left:
        for thread in (assoc, assoc.dul):
            thread.join(max(0.0, deadline - time.monotonic()))
    return [assoc for assoc in left if assoc.is_alive() or assoc.dul.is_alive()]
