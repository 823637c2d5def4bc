"""How the Q/R server runs: its address and AE title, where received objects go, who may
talk to it and where C-MOVE may send, and how strict it is.

A :class:`ServerConfig` is a frozen value: the CLI builds one from its options, a library
user builds one in code.  Nothing here reads files or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from dicomref._dimse._node import Node, check_ae_title
from dicomref._dimse._tls import Tls
from dicomref.errors import UsageError

DEFAULT_AE: Final = "DICOMREF_QR"
"""The server's AE title unless told otherwise (the client calls as ``DICOMREF``)."""
DEFAULT_HOST: Final = "127.0.0.1"
"""Loopback: reachable from this machine only, unless another address is given."""
DEFAULT_PORT: Final = 11112
"""The registered non-privileged DICOM port."""
DEFAULT_MAX_PDU: Final = 262_144
"""Largest PDU we receive: large PDUs move big objects with less per-PDU work."""
DEFAULT_MAX_ASSOCIATIONS: Final = 16
DEFAULT_SHUTDOWN_GRACE: Final = 10.0
"""Seconds in-flight associations get to finish when the server stops; then aborted."""
DEFAULT_ARTIM_TIMEOUT: Final = 5.0
"""Seconds a new connection has to send its whole A-ASSOCIATE-RQ (real clients: ~1 ms)."""
DEFAULT_STALL_TIMEOUT: Final = 10.0
"""Seconds a peer may stay silent in the middle of a PDU, or leave what we send unread."""
DEFAULT_MAX_PEER_CONNECTIONS: Final = 32
"""Connections one peer address may hold at once, associated or still associating."""
DEFAULT_MAX_PENDING: Final = 128
"""Connections that may wait for their A-ASSOCIATE-RQ at once (from every peer)."""
DEFAULT_MAX_INFLATED: Final = 256 * 1024 * 1024
"""Bytes a Deflated data set received by C-STORE may inflate to: the file reader's own
default (``dicomref.extraction.ReadLimits.max_inflated``; not imported here, which would
import pydicom; a test checks that both agree)."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A C-MOVE destination: the AE title a client names, and where that AE listens;
    ``tls``: reached with TLS (the server's own certificate and CA, ``ServerConfig.tls``)."""

    ae_title: str
    host: str
    port: int
    tls: bool = False

    @classmethod
    def parse(cls, text: str, *, tls: bool = False) -> Destination:
        """A destination from ``AE@host:port`` (IPv6 in brackets); UsageError otherwise."""
        node = Node.parse(text)
        return cls(node.ae_title, node.host, node.port, tls)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"


def _titles(values: frozenset[str] | None, what: str) -> frozenset[str] | None:
    if values is None:
        return None
    return frozenset(check_ae_title(v, what) for v in values)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything :class:`~dicomref.server.Server` needs besides the catalog.

    - ``ae_title``, ``host``, ``port``: where the server listens (port 0: any free port;
      :meth:`Server.start` returns the one bound).
    - ``store``: the folder received objects (C-STORE) are written into (a
      :class:`~dicomref.store.ManagedStore`); None refuses C-STORE.
    - ``destinations``: the only AE titles C-MOVE sends to (others: status 0xA801).
    - ``allowed_callers``: calling AE titles that may associate (None: any); others are
      rejected with "calling AE title not recognised".
    - ``retrievers``: calling AE titles that may C-MOVE and C-GET (None: every caller that
      may associate); others get status 0x0124 (refused: not authorised).
    - ``strict``: behave like a strictly hierarchical PACS (``dcmqrscp -XF -XM``): refuse
      (0xA900) identifiers without the unique keys of every level above, grant no
      relational negotiation.
    - ``check_called_ae``: reject associations addressed to another AE title.
    - ``reindex_store``: index the store folder at start-up (objects written just before a
      crash, before they were indexed, are indexed then).
    - ``max_associations``, ``max_pdu`` (the longest P-DATA-TF PDU we receive, in bytes,
      advertised in negotiation and enforced: a longer one aborts the association; 0:
      unlimited), the ACSE, DIMSE and network timeouts in seconds, and
      ``shutdown_grace``: the seconds open associations get to finish when the server
      stops, before they are aborted (:meth:`Server.stop` returns within it).
    - Connections that have not associated yet (:mod:`._gate`): ``artim_timeout``, the
      seconds one has to send its whole A-ASSOCIATE-RQ before it is closed;
      ``max_pending`` of them wait at once (beyond that the oldest is closed); and one
      peer address holds at most ``max_peer_connections`` connections, associated or
      not.  Such connections hold no association slot.
    - ``stall_timeout``: seconds a peer may stay silent in the middle of a PDU (or leave
      what we send it unread) before its connection is closed.
    - ``max_inflated``: bytes a Deflated data set received by C-STORE may inflate to
      (counted before anything inflates it); a larger one is refused with 0xA700.  The
      header of every received object is read within the same bound
      (:class:`~dicomref.extraction.ReadLimits`).
    - ``fsync``: flush each received file (its data, and the folder entries made for it)
      to disk before answering, as Orthanc does by default.  Acknowledged objects survive
      a crash of the server (SIGKILL) either way: a written file and a committed SQLite
      transaction are in the page cache, and the store is re-indexed at start-up; only a
      power loss or a kernel crash can lose what was acknowledged without ``fsync``.  The
      flush runs while the catalog commits, so it costs little (see bench/serve.py for
      both figures).
    - ``tls``: accept TLS connections only (:class:`~dicomref._dimse._tls.Tls`: our
      ``cert`` and ``key``; ``ca`` and ``verify_peer=True`` to require every client to
      present a certificate signed by ``ca``).  The handshake happens in the gate, under
      ``artim_timeout``.  C-MOVE sub-associations go with TLS to the ``destinations``
      marked ``tls`` (our certificate as the client's, the destination's checked against
      ``ca``, or the system's CAs without one), plain TCP to the others.
    """

    ae_title: str = DEFAULT_AE
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    store: Path | None = None
    destinations: tuple[Destination, ...] = ()
    allowed_callers: frozenset[str] | None = None
    retrievers: frozenset[str] | None = None
    strict: bool = False
    check_called_ae: bool = True
    reindex_store: bool = True
    max_associations: int = DEFAULT_MAX_ASSOCIATIONS
    max_pdu: int = DEFAULT_MAX_PDU
    acse_timeout: float = 30.0
    dimse_timeout: float = 60.0
    network_timeout: float = 60.0
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    fsync: bool = True
    artim_timeout: float = DEFAULT_ARTIM_TIMEOUT
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    max_peer_connections: int = DEFAULT_MAX_PEER_CONNECTIONS
    max_pending: int = DEFAULT_MAX_PENDING
    max_inflated: int = DEFAULT_MAX_INFLATED
    tls: Tls | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title, "server AE title"))
        if isinstance(self.port, bool) or not 0 <= self.port < 65536:
            raise UsageError(f"port must be from 0 (any free port) to 65535, not {self.port!r}")
        if not self.host.strip():
            raise UsageError("host must be an address or host name to listen on")
        object.__setattr__(self, "allowed_callers", _titles(self.allowed_callers, "allowed AE"))
        object.__setattr__(self, "retrievers", _titles(self.retrievers, "retrieving AE"))
        seen: dict[str, Destination] = {}
        for destination in self.destinations:
            if not isinstance(destination, Destination):
                raise UsageError(f"destinations must be Destination values, not {destination!r}")
            if destination.ae_title in seen and seen[destination.ae_title] != destination:
                raise UsageError(
                    f"move destination {destination.ae_title} is given twice, as "
                    f"{seen[destination.ae_title]} and {destination}"
                )
            seen[destination.ae_title] = destination
            if destination.tls and self.tls is None:
                raise UsageError(
                    f"move destination {destination} is to be reached with TLS, which needs "
                    "the server's own certificate and key (--tls-cert, --tls-key)"
                )
        for count in ("max_associations", "max_peer_connections", "max_pending", "max_inflated"):
            if getattr(self, count) < 1:
                raise UsageError(f"{count} must be at least 1")
        if self.max_pdu < 0:
            raise UsageError("max_pdu must be 0 (unlimited) or a number of bytes")
        for name in (
            "acse_timeout",
            "dimse_timeout",
            "network_timeout",
            "shutdown_grace",
            "artim_timeout",
            "stall_timeout",
        ):
            if getattr(self, name) <= 0:
                raise UsageError(f"{name} must be a positive number of seconds")
        if self.tls is not None:
            if not isinstance(self.tls, Tls):
                raise UsageError(f"tls must be a Tls or None, not {self.tls!r}")
            if self.tls.cert is None:
                raise UsageError(
                    "a TLS server needs its certificate and key (--tls-cert, --tls-key)"
                )
            if self.tls.verify_peer and self.tls.ca is None:
                raise UsageError(
                    "requiring client certificates needs the CA that signs them (--tls-ca); "
                    "or pass verify_peer=False to accept clients without one"
                )

    def destination(self, ae_title: str) -> Destination | None:
        """The configured destination called ``ae_title`` (spaces ignored), or None."""
        wanted = ae_title.strip()
        for destination in self.destinations:
            if destination.ae_title == wanted:
                return destination
        return None
