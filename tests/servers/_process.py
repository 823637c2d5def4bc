"""A server process owned by a test: started in its own process group, logged to a file,
stopped with terminate → wait → kill, never left behind."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from ._errors import ServerStartError

STOP_TIMEOUT = 5.0
"""Seconds a server gets to exit after SIGTERM before it is killed."""

_PR_SET_PDEATHSIG = 1


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``condition()`` until it is true (→ True) or ``timeout`` seconds pass (→ False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask the kernel to SIGKILL the child when the test process dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ("" if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """One child process in a process group of its own, its output appended to ``log_path``.

    ``stop()`` sends SIGTERM to the whole group (servers that fork per association, like
    dcmqrscp, leave no child behind), waits, then SIGKILLs what is left.  ``kill()`` is the
    abrupt variant tests use to simulate a crash.  The child also gets SIGKILL if the test
    process itself dies (``PR_SET_PDEATHSIG``).
    """

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError(f"{self.argv[0]} was not started")
        return self._popen.pid

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def start(self) -> None:
        if self._popen is not None:
            raise RuntimeError(f"{self.argv[0]} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        try:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            self._log.close()
            self._log = None
            raise ServerStartError(f"cannot run {self.argv[0]}: {exc}") from exc

    def wait_ready(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``condition()`` holds; raise ServerStartError (with the log tail) if the
        process exits first or ``timeout`` passes."""

        def ready_or_dead() -> bool:
            return not self.running or condition()

        ok = wait_until(ready_or_dead, timeout)
        if ok and self.running:
            return
        state = (
            f"exited with status {self.returncode}"
            if not self.running
            else f"not ready after {timeout:.0f} s"
        )
        self.stop()
        tail = log_tail(self.log_path)
        raise ServerStartError(
            f"{what} {state}: {' '.join(self.argv)}\n--- last lines of {self.log_path} ---\n{tail}"
        )

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Terminate the group, wait up to ``timeout`` seconds, then kill it."""
        if self._popen is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self._popen.wait()
        # Children (forked per association) may outlive the leader: finish them too.
        self._signal_group(signal.SIGKILL)
        self._close_log()

    def kill(self) -> None:
        """SIGKILL the whole group at once and reap the leader (a simulated crash)."""
        if self._popen is None:
            return
        self._signal_group(signal.SIGKILL)
        self._popen.wait()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

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
