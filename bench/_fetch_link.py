"""Shaping the loopback link of the private network namespace with ``tc … tbf``, and what
the kernel counts on it.

``lo`` keeps its 64 KiB MTU: the token bucket's burst must hold one such packet (a
packet larger than the burst can never be sent), so it is :data:`BURST` (256 KiB: 20 ms
at 100 Mbit/s).  :func:`shaped` adds the qdisc and always deletes it, also when the block
raises or the process gets SIGTERM/SIGINT (the namespace, and the qdisc with it, would go
when the last process in it exits anyway); :func:`throughput` measures what one TCP
stream achieves, to print next to the figures it explains; :func:`tcp_counters` reads
the namespace's TCP counters (connections opened, segments retransmitted).
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from servers import require_private_netns

DEVICE = "lo"
BURST = "256kb"
LATENCY = "50ms"
PROBE_BYTES = 32 * 1024 * 1024
CHUNK = 1024 * 1024
SNMP = Path("/proc/net/snmp")


def _tc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tc", *args], capture_output=True, text=True, check=False)


def qdisc() -> str:
    """What ``tc qdisc show dev lo`` says (one line)."""
    return " ".join(_tc("qdisc", "show", "dev", DEVICE).stdout.split())


def qdisc_drops() -> int:
    """Packets the root qdisc of ``lo`` dropped so far (0 when it keeps no count)."""
    match = re.search(r"dropped (\d+)", _tc("-s", "qdisc", "show", "dev", DEVICE).stdout)
    return int(match[1]) if match else 0


@dataclass(frozen=True, slots=True)
class TcpCounters:
    """This network namespace's TCP counters (``/proc/net/snmp``)."""

    active_opens: int
    retransmitted: int

    def __sub__(self, other: TcpCounters) -> TcpCounters:
        return TcpCounters(
            self.active_opens - other.active_opens, self.retransmitted - other.retransmitted
        )


def tcp_counters() -> TcpCounters:
    """Connections opened (by anyone in this namespace) and segments retransmitted so far."""
    lines = [line.split() for line in SNMP.read_text().splitlines() if line.startswith("Tcp:")]
    values = dict(zip(lines[0][1:], lines[1][1:], strict=True))
    return TcpCounters(int(values["ActiveOpens"]), int(values["RetransSegs"]))


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def shaped(rate: str) -> Iterator[str]:
    """Shape ``lo`` to ``rate`` (``100mbit``) for the block; yields the qdisc line."""
    require_private_netns("the link shaping of bench/fetch.py")
    command = ["qdisc", "add", "dev", DEVICE, "root", "tbf", "rate", rate]
    command += ["burst", BURST, "latency", LATENCY]
    previous = signal.signal(signal.SIGTERM, _terminate)
    done = _tc(*command)
    if done.returncode != 0:
        signal.signal(signal.SIGTERM, previous)
        raise RuntimeError(f"tc {' '.join(command)} failed: {done.stderr.strip()}")
    try:
        yield qdisc()
    finally:
        removed = _tc("qdisc", "del", "dev", DEVICE, "root")
        signal.signal(signal.SIGTERM, previous)
        if removed.returncode != 0:
            raise RuntimeError(f"tc qdisc del dev {DEVICE} root failed: {removed.stderr.strip()}")


def throughput(total: int = PROBE_BYTES) -> float:
    """Mbit/s of one TCP stream over loopback, timed at the receiver (first to last byte)."""
    received: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def receive() -> None:
            connection, _ = server.accept()
            with connection:
                count = 0
                first = 0.0
                while chunk := connection.recv(CHUNK):
                    if not count:
                        first = time.perf_counter()
                    count += len(chunk)
                received.extend([first, time.perf_counter(), float(count)])

        thread = threading.Thread(target=receive)
        thread.start()
        with socket.create_connection(server.getsockname()) as client:
            block = b"\0" * CHUNK
            for _ in range(total // CHUNK):
                client.sendall(block)
        thread.join()
    first, last, count = received
    return count * 8 / (last - first) / 1e6
