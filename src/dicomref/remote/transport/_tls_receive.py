"""Receiving C-MOVE objects over TLS: the storage SCP the server connects back to.

A PACS configured for TLS opens its C-MOVE sub-association to us with TLS too, so a node
with :attr:`~dicomref._dimse._node.Node.tls` makes :class:`~._receiver.StoreReceiver`
listen with TLS, with the node's files: our certificate and key (required: a TLS server
cannot go without), and its CA, whose signature the PACS's own certificate must then carry
(``verify_peer``; without a CA no client certificate is asked for).

pynetdicom's server does the TLS handshake in its accepting thread, with no timeout: a
peer that connects and stalls would stop every other connection.  :class:`HandshakingServer`
does it in the connection's own thread instead, within the ACSE timeout.
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Any

from pynetdicom.transport import ThreadedAssociationServer

from dicomref._dimse._tls import Tls
from dicomref.errors import RemoteError, UsageError

LOGGER = logging.getLogger(__name__)


def receiver_context(tls: Tls, node: str) -> ssl.SSLContext:
    """The server context our C-MOVE storage SCP listens with, for ``node``'s ``tls``."""
    if tls.cert is None:
        raise RemoteError(
            node,
            "C-MOVE over TLS needs our own certificate (--tls-cert and --tls-key, or tls.cert "
            "and tls.key in nodes.toml): the server connects back to us with TLS; or use "
            "--retrieve get",
        )
    mine = Tls(cert=tls.cert, key=tls.key, ca=tls.ca, verify_peer=tls.ca is not None)
    try:
        return mine.server_context()
    except UsageError as exc:
        raise RemoteError(node, f"cannot receive C-MOVE objects over TLS: {exc}") from exc


class HandshakingServer(ThreadedAssociationServer):
    """pynetdicom's threaded server, the TLS handshake done in each connection's thread
    within ``handshake_timeout`` seconds (made by ``AE.make_server(...,
    server_class=HandshakingServer, tls=..., handshake_timeout=...)``)."""

    daemon_threads = True

    def __init__(
        self, *args: Any, tls: ssl.SSLContext, handshake_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._tls = tls
        self._handshake_timeout = handshake_timeout

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        """Accept only: no handshake in the accepting thread."""
        assert self.socket is not None
        return self.socket.accept()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """In the connection's thread: the handshake, then pynetdicom's association."""
        request.settimeout(self._handshake_timeout)
        try:
            secured = self._tls.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as exc:  # ssl.SSLError and TimeoutError are OSErrors
            LOGGER.warning(
                "TLS handshake with %s:%s failed: %s", client_address[0], client_address[1], exc
            )
            request.close()
            return
        secured.settimeout(None)
        super().finish_request(secured, client_address)
