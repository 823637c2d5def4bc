"""A DICOM server to talk to, and how: its address, our AE title, timeouts, retrieve method."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal, get_args

from dicomref._dimse._tls import Tls
from dicomref.errors import UsageError

DEFAULT_OUR_AE = "DICOMREF"
"""The AE title dicomref calls with (and receives C-MOVE objects under)."""

DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the TCP connection to the server."""
DEFAULT_ACSE_TIMEOUT = 30.0
"""Seconds to wait for the answer to an association request (or release)."""
DEFAULT_DIMSE_TIMEOUT = 120.0
"""Seconds to wait for each DIMSE response; a C-MOVE of a large series can be slow to
report progress, so this is generous."""
DEFAULT_NETWORK_TIMEOUT = 60.0
"""Seconds an idle association is kept before it is closed (it is re-opened when needed)."""

RetrieveMethod = Literal["move", "get", "auto"]
"""How objects are retrieved: C-MOVE to our store port, C-GET on the association, or
whichever the server supports (decided by the capability probe)."""
RETRIEVE_METHODS: tuple[str, ...] = get_args(RetrieveMethod)

AE_TITLE_MAX = 16
_NODE_PATTERN = re.compile(r"^(?P<ae>[^@]+)@(?P<host>\[[^\]]+\]|[^:@\[\]]+):(?P<port>\d+)$")
_NODE_FORM = "AE@host:port (e.g. PACS@pacs.example.org:104 or PACS@[::1]:11112)"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Timeouts in seconds for each stage of talking to a server (all must be positive)."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    acse: float = DEFAULT_ACSE_TIMEOUT
    dimse: float = DEFAULT_DIMSE_TIMEOUT
    network: float = DEFAULT_NETWORK_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("connect", "acse", "dimse", "network"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise UsageError(
                    f"{name} timeout must be a positive number of seconds, not {value!r}"
                )


def check_ae_title(title: str, what: str = "AE title") -> str:
    """``title`` without surrounding spaces, or UsageError if it is not a valid AE title
    (1 to 16 characters of the default repertoire, no backslash, not only spaces)."""
    stripped = title.strip(" ")
    if (
        not stripped
        or len(stripped) > AE_TITLE_MAX
        or "\\" in stripped
        or any(not (" " <= c <= "~") for c in stripped)
    ):
        raise UsageError(
            f"{title!r} is not a valid {what}: 1 to {AE_TITLE_MAX} printable ASCII characters, "
            "no backslash"
        )
    return stripped


def _check_port(port: int, what: str) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"{what} must be a TCP port number from 1 to 65535, not {port!r}")


@dataclass(frozen=True, slots=True)
class Node:
    """A DICOM server (``ae_title`` at ``host:port``) and how dicomref talks to it.

    ``our_ae`` is the calling AE title and the C-MOVE destination; ``store_port`` is where
    dicomref receives C-MOVE objects (the server must know ``our_ae`` at that port; None
    picks a free port when needed, which only a server told about it can use).
    ``tls``: talk TLS to the server (and receive C-MOVE objects over TLS); None: plain TCP.
    """

    ae_title: str
    host: str
    port: int
    our_ae: str = DEFAULT_OUR_AE
    store_port: int | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    retrieve: RetrieveMethod = "auto"
    tls: Tls | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title, "called AE title"))
        object.__setattr__(self, "our_ae", check_ae_title(self.our_ae, "calling AE title"))
        host = self.host.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host or any(c.isspace() for c in host):
            raise UsageError(f"{self.host!r} is not a host name or address")
        object.__setattr__(self, "host", host)
        _check_port(self.port, "the server's port")
        if self.store_port is not None:
            _check_port(self.store_port, "the store port")
        if self.retrieve not in RETRIEVE_METHODS:
            raise UsageError(
                f"retrieve method {self.retrieve!r} is not one of {', '.join(RETRIEVE_METHODS)}"
            )
        if not isinstance(self.timeouts, Timeouts):
            raise UsageError(f"timeouts must be a Timeouts, not {self.timeouts!r}")
        if self.tls is not None and not isinstance(self.tls, Tls):
            raise UsageError(f"tls must be a Tls or None, not {self.tls!r}")

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        our_ae: str = DEFAULT_OUR_AE,
        store_port: int | None = None,
        timeouts: Timeouts | None = None,
        retrieve: RetrieveMethod = "auto",
        tls: Tls | None = None,
    ) -> Node:
        """A node from ``AE@host:port`` (IPv6 addresses in brackets: ``AE@[::1]:104``)."""
        match = _NODE_PATTERN.match(text.strip())
        if match is None:
            raise UsageError(f"{text!r} is not a DICOM node: expected {_NODE_FORM}")
        port = int(match["port"])
        if not 0 < port < 65536:
            raise UsageError(
                f"{text!r}: port {port} is out of range 1-65535; expected {_NODE_FORM}"
            )
        return cls(
            ae_title=match["ae"],
            host=match["host"],
            port=port,
            our_ae=our_ae,
            store_port=store_port,
            timeouts=timeouts if timeouts is not None else Timeouts(),
            retrieve=retrieve,
            tls=tls,
        )

    @property
    def is_loopback(self) -> bool:
        """True when the server is on this machine's loopback interface."""
        if self.host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"
