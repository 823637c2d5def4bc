"""Loopback addresses: free ports, peers named by (AE title, host, port), waiting for a port."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Peer:
    """A DICOM application entity: its AE title and where it listens."""

    ae: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae}@{self.host}:{self.port}"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct TCP ports that were free on ``host`` a moment ago.

    All sockets stay bound until every port is chosen, so the ports differ from each
    other; another process may still take one before it is used (rare on loopback).
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    return free_ports(1, host)[0]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False
