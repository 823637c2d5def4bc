"""``dicomref serve`` as a child process for bench/serve.py (its own interpreter: the
clients never share its GIL), logging to a file, stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

AE_TITLE = "DICOMREF_QR"
START_TIMEOUT = 120.0


class ServeProcess:
    """``dicomref serve`` on ``url`` (and ``store``), on a free port (``port``, once started)."""

    def __init__(
        self, url: str, log: Path, *, store: Path | None = None, options: tuple[str, ...] = ()
    ) -> None:
        self.url = url
        self.log = log
        self.store = store
        self.options = options
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> Self:
        """Start it and return once it listens (told by its log: a probe connection would
        hold one of its ``max_associations`` for the ACSE timeout, 30 s)."""
        argv = [sys.executable, "-m", "dicomref", "serve", "--db", self.url]
        argv += ["--ae", AE_TITLE, "--port", "0", *self.options]
        if self.store is not None:
            argv += ["--store", str(self.store)]
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            found = re.search(r"listening on [^ ]+:(\d+) as", self.log.read_text(errors="replace"))
            if found:
                self.port = int(found[1])
                return self
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dicomref serve did not start:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def problems(self) -> list[str]:
        """The WARNING, ERROR and CRITICAL lines of its log."""
        found = re.compile(r"^(WARNING|ERROR|CRITICAL) ")
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if found.match(line)]

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every association its log shows opening has ended (pynetdicom counts
        an association against ``max_associations`` until its threads are gone)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            opened = text.count(" accepted\n")
            ended = text.count(" released: ") + text.count(" aborted: ")
            if ended >= opened:
                time.sleep(0.5)  # the threads finish after the last log line
                return
            time.sleep(0.1)
        raise RuntimeError(f"associations still open after {timeout:g} s:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
