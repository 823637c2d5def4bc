"""In-process peers that misbehave on purpose, for the failures real servers do not show
on demand: a Q/R SCP whose C-FIND hangs or aborts, and a TCP port that speaks no DICOM."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Literal, Self

from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from ._ports import LOOPBACK, Peer

VERIFICATION = UID("1.2.840.10008.1.1")
STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")

FindBehaviour = Literal["answer", "warn", "hang", "abort"]
HANG_LIMIT = 30.0
"""Longest a hanging handler waits (it is released when the peer stops)."""


class ScriptedPeer:
    """A pynetdicom SCP on 127.0.0.1 (Verification and Study Root C-FIND).

    ``find`` says what a C-FIND does: ``answer`` (one match, then success), ``warn`` (one
    match with 0xFF01 "optional keys not supported", then success), ``hang`` (no response
    until the peer stops), ``abort`` (A-ABORT the association).  ``connections``
    counts the TCP connections it accepted.
    """

    def __init__(self, ae: str = "SCRIPTED", find: FindBehaviour = "answer") -> None:
        self.ae = ae
        self.find = find
        self.connections = 0
        self._release = threading.Event()
        self._ae: AE | None = None
        self._server: ThreadedAssociationServer | None = None
        self.port = 0

    @property
    def peer(self) -> Peer:
        return Peer(self.ae, LOOPBACK, self.port)

    def start(self) -> Self:
        ae = AE(ae_title=self.ae)
        ae.add_supported_context(VERIFICATION)
        ae.add_supported_context(STUDY_ROOT_FIND)
        handlers: list[EventHandlerType] = [
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_CONN_OPEN, self._on_open),
        ]
        server = ae.start_server((LOOPBACK, 0), block=False, evt_handlers=handlers)
        assert server is not None  # block=False returns the running server
        self._ae, self._server = ae, server
        self.port = int(server.server_address[1])
        return self

    def abort_all(self) -> None:
        """A-ABORT every association the peer has open."""
        if self._server is not None:
            for assoc in list(self._server.active_associations):
                assoc.abort()

    def stop(self) -> None:
        self._release.set()
        if self._ae is not None:
            self._ae.shutdown()
            self._ae = None

    def _on_open(self, event: Event) -> None:
        self.connections += 1

    def _on_find(self, event: Event) -> Iterator[tuple[int, Any]]:
        if self.find == "hang":
            self._release.wait(HANG_LIMIT)
            yield 0xC000, None
            return
        if self.find == "abort":
            event.assoc.abort()
            return
        match = event.identifier
        yield (0xFF01 if self.find == "warn" else 0xFF00), match
        yield 0x0000, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class GarbagePeer:
    """A TCP port on 127.0.0.1 that answers every connection with an HTTP error and closes."""

    REPLY = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOOPBACK, 0))
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> Self:
        self._sock.listen(4)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2.0)
                conn.recv(65536)
                conn.sendall(self.REPLY)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
