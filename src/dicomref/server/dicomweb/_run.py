"""uvicorn in a thread of its own (with its own event loop), next to the DIMSE server.

:meth:`HttpServer.start` binds the socket itself (so an address in use is an error at
once, and port 0 gives the bound port back), then runs uvicorn on it in a daemon thread
and waits until it serves.  :meth:`HttpServer.stop` asks uvicorn to exit, lets requests in
flight finish for ``grace`` seconds, then closes what is left: it returns within
``grace`` plus a moment.  uvicorn configures no logging and writes no access log (its
lines carry query strings, which may name a patient): :mod:`._app` logs each request.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any, Final

import uvicorn

from dicomref._dimse._tls import Tls
from dicomref.errors import ServerError

LOGGER = logging.getLogger(__name__)
START_TIMEOUT: Final = 10.0
_POLL: Final = 0.02


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServerError(f"cannot listen for HTTP on {host}:{port}: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServerError(
            f"cannot listen for HTTP on {host}:{port}: {exc.strerror or exc} "
            "(choose another --http-port or --host)"
        ) from exc
    return sock


class HttpServer:
    """The ASGI ``app`` served by uvicorn on ``host``:``port`` (0: any free port); with
    ``tls``, HTTPS only, with the DIMSE server's TLS settings and policy (its certificate,
    TLS 1.2 or newer, client certificates checked against ``tls.ca`` and required with
    ``tls.verify_peer``)."""

    def __init__(
        self, app: Any, host: str, port: int, *, grace: float = 10.0, tls: Tls | None = None
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.grace = grace
        self.tls = tls
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"

    @property
    def port(self) -> int:
        if self._socket is None:
            raise ServerError("the HTTP server is not running")
        return int(self._socket.getsockname()[1])

    def start(self) -> int:
        """Bind, serve from a thread, and return the bound port once it serves.  Raises
        ServerError when the address cannot be bound or uvicorn does not come up."""
        context = None if self.tls is None else self.tls.server_context()
        sock = _bind(self.host, self.requested_port)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=max(1, int(self.grace)),
            server_header=False,
            ssl_context_factory=None if context is None else (lambda _config, _default: context),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="dicomref-http", daemon=True
        )
        self._socket, self._server, self._thread = sock, server, thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"the HTTP server on {self.host}:{self.port} did not start")
            time.sleep(_POLL)
        LOGGER.info("serving DICOMweb on %s://%s:%d/dicom-web", self.scheme, self.host, self.port)
        return self.port

    def stop(self) -> None:
        """Stop serving: requests in flight get ``grace`` seconds; idempotent."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(self.grace + 1.0)
            if thread.is_alive():
                server.force_exit = True
                thread.join(1.0)
            if thread.is_alive():
                LOGGER.warning("the HTTP server thread did not stop in time: left behind")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self._socket = None
