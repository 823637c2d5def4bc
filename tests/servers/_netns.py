"""Is this process in a private network namespace (loopback only)?

Orthanc 1.10 and dcmqrscp listen on every interface and have no option to bind to
loopback, so the tests run them only where no other interface exists: inside
``unshare --net`` with ``lo`` brought up (``scripts/in-netns.sh``).
"""

from __future__ import annotations

import socket

from ._errors import ServerUnavailableError
from ._ports import LOOPBACK

NETNS_HINT = (
    "run the tests in a private network namespace, e.g. "
    "`scripts/in-netns.sh .venv/bin/pytest …` (unshare --net, then ip link set lo up)"
)


class NotInPrivateNetnsError(ServerUnavailableError):
    """A server that listens on all interfaces was about to start outside a private netns."""


def interfaces() -> list[str]:
    """Names of the network interfaces of this process's namespace.

    (``/sys/class/net`` is not used: it shows the namespace that mounted /sys.)
    """
    return sorted(name for _, name in socket.if_nameindex())


def loopback_works() -> bool:
    """True when a TCP connection to 127.0.0.1 succeeds (``lo`` is up)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind((LOOPBACK, 0))
            server.listen(1)
            with socket.create_connection(server.getsockname(), timeout=1.0):
                return True
    except OSError:
        return False


def in_private_netns() -> bool:
    """True when ``lo`` is the only interface and it is up."""
    return interfaces() == ["lo"] and loopback_works()


def netns_problem(what: str) -> str | None:
    """Why ``what`` (a server listening on all interfaces) must not start here, or None."""
    names = interfaces()
    if names != ["lo"]:
        return (
            f"refusing to start {what}: it listens on all interfaces and this process "
            f"can reach {', '.join(n for n in names if n != 'lo')}; {NETNS_HINT}"
        )
    if not loopback_works():
        return f"refusing to start {what}: the loopback interface is down; {NETNS_HINT}"
    return None


def require_private_netns(what: str) -> None:
    """Raise NotInPrivateNetnsError (with the fix) unless in a private namespace."""
    problem = netns_problem(what)
    if problem is not None:
        raise NotInPrivateNetnsError(problem)
