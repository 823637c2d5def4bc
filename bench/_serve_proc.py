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

from servers import free_port, port_open

AE_TITLE = "DICOMREF_QR"
START_TIMEOUT = 120.0


class ServeProcess:
    """``dicomref serve`` on ``url`` (and ``store``), on a free port."""

    def __init__(
        self, url: str, log: Path, *, store: Path | None = None, options: tuple[str, ...] = ()
    ) -> None:
        self.url = url
        self.log = log
        self.store = store
        self.options = options
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> Self:
        argv = [sys.executable, "-m", "dicomref", "serve", "--db", self.url]
        argv += ["--ae", AE_TITLE, "--port", str(self.port), *self.options]
        if self.store is not None:
            argv += ["--store", str(self.store)]
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not port_open("127.0.0.1", self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dicomref serve did not start:\n{self.tail()}")
            time.sleep(0.1)
        return self

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def problems(self) -> list[str]:
        """The WARNING, ERROR and CRITICAL lines of its log."""
        found = re.compile(r"^(WARNING|ERROR|CRITICAL) ")
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if found.match(line)]

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
