"""A real Dask cluster on loopback: ``dask scheduler`` and ``dask worker`` processes.

Each process is a :class:`ManagedProcess` (its own process group, dies with the test).  The
workers run without a nanny, so a worker SIGKILLed by a test stays dead: its tasks must be
finished by the others.  Workers get ``PYTHONPATH`` so that they can import the test helpers
a task names (a slow reader, say).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from ._errors import ServerStartError, ServerUnavailableError
from ._ports import LOOPBACK, free_ports, port_open
from ._process import ManagedProcess, log_tail, wait_until

START_TIMEOUT = 30.0


def dask_program() -> str:
    """The ``dask`` command of this interpreter's environment."""
    beside = Path(sys.executable).parent / "dask"
    found = str(beside) if beside.exists() else shutil.which("dask")
    if found is None:
        raise ServerUnavailableError(
            "the dask command is not installed: pip install 'dicomref[cluster]'"
        )
    return found


class DaskCluster:
    """A scheduler and ``workers`` single-threaded worker processes on 127.0.0.1."""

    def __init__(
        self,
        folder: Path,
        *,
        workers: int = 2,
        threads: int = 1,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.port = free_ports(1)[0]
        self.address = f"tcp://{LOOPBACK}:{self.port}"
        self._count = workers
        self._threads = threads
        self._env = {**os.environ, **(env or {})}
        self.scheduler: ManagedProcess | None = None
        self.workers: list[ManagedProcess] = []

    def start(self) -> None:
        dask = dask_program()
        self.scheduler = ManagedProcess(
            [dask, "scheduler", "--host", LOOPBACK, "--port", str(self.port), "--no-dashboard"],
            self.folder / "scheduler.log",
            env=self._env,
        )
        self.scheduler.start()
        self.scheduler.wait_ready(
            lambda: port_open(LOOPBACK, self.port), START_TIMEOUT, "dask scheduler"
        )
        for number in range(self._count):
            worker = ManagedProcess(
                [
                    dask,
                    "worker",
                    self.address,
                    "--host",
                    LOOPBACK,
                    "--nthreads",
                    str(self._threads),
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    f"worker-{number}",
                ],
                self.folder / f"worker-{number}.log",
                cwd=self.folder,
                env=self._env,
            )
            worker.start()
            self.workers.append(worker)
        if not wait_until(lambda: self.connected() >= self._count, START_TIMEOUT, 0.1):
            tails = "".join(f"\n--- {w.log_path} ---\n{log_tail(w.log_path)}" for w in self.workers)
            self.stop()
            raise ServerStartError(f"dask workers did not join {self.address}:{tails}")

    def connected(self) -> int:
        """Workers the scheduler has registered (from its log: no client needed)."""
        assert self.scheduler is not None
        text = self.scheduler.log_path.read_text(errors="replace")
        return text.count("Register worker") - text.count("Remove worker")

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.scheduler is not None:
            self.scheduler.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
