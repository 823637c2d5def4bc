"""TLS for DIMSE (PS3.15 Annex B, "Secure Transport Connection Profiles"): which files,
and the :class:`ssl.SSLContext` each side of an association uses.

A :class:`Tls` names files only (certificate, private key, trusted CAs); the files are read
when a context is made (:meth:`Tls.client_context`, :meth:`Tls.server_context`), and a
problem with one of them is a :class:`~dicomref.errors.ConfigError` naming the file.  Key
material never passes through dicomref's command line or its configuration, only paths.

Contexts follow Python's defaults (``ssl.create_default_context``): TLS 1.2 or newer and
the OpenSSL cipher selection, which DCMTK's default "BCP 195" profile accepts.

A handshake that fails on our side of an association we request is recorded by the
context (:func:`._tls_context.handshake_failure`): pynetdicom only logs it, and the client
needs it to say *why* no association was made ("certificate verify failed: unable to get
local issuer certificate").  ``ssl`` itself is imported only there, when a context is made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dicomref.errors import UsageError

if TYPE_CHECKING:
    import ssl  # imported by _tls_context, when a context is made (~8 ms)


@dataclass(frozen=True, slots=True)
class Tls:
    """TLS settings for one side of DIMSE associations.

    - ``cert``, ``key``: our certificate (PEM, the chain after it if any) and its private
      key (PEM; ``key`` None: in the ``cert`` file).  A server needs both; a client needs
      them only for a server that asks for client certificates.
    - ``ca``: PEM file of the certificate authorities whose certificates we trust for the
      peer (None: the system's trusted CAs, for a client; no client certificates trusted,
      for a server).
    - ``verify_peer``: as a client, check the server's certificate (its chain up to ``ca``
      and its name, ``server_hostname``); False accepts any server certificate, as DCMTK's
      ``-ic`` does (encrypted, but not authenticated).  As a server, require every client
      to present a certificate signed by ``ca``; False asks for none (a client certificate
      sent anyway must then still verify against ``ca``, if ``ca`` is given).
    - ``server_hostname``: the name the server's certificate must carry (a client only;
      None: the host the node is reached at).
    """

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    verify_peer: bool = True
    server_hostname: str | None = None

    def __post_init__(self) -> None:
        for name in ("cert", "key", "ca"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, str | os.PathLike):
                    raise UsageError(f"tls {name} must be a file path, not {value!r}")
                object.__setattr__(self, name, Path(value).expanduser())
        if self.key is not None and self.cert is None:
            raise UsageError("a TLS private key was given without its certificate (tls cert)")
        if not isinstance(self.verify_peer, bool):
            raise UsageError(f"tls verify_peer must be true or false, not {self.verify_peer!r}")
        if self.server_hostname is not None and not self.server_hostname.strip():
            raise UsageError("tls server_hostname must not be empty")

    def client_context(self) -> ssl.SSLContext:
        """The context for associations we request (read the files now)."""
        from dicomref._dimse._tls_context import client_context

        return client_context(self)

    def server_context(self) -> ssl.SSLContext:
        """The context for associations others request from us (read the files now)."""
        from dicomref._dimse._tls_context import server_context

        return server_context(self)
