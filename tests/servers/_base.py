"""What every test DICOM server shares: a work folder, a free port, a managed process."""

from __future__ import annotations

import abc
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from ._errors import ServerUnavailableError
from ._netns import netns_problem, require_private_netns
from ._ports import LOOPBACK, Peer, free_port, port_open
from ._process import ManagedProcess, log_tail

START_TIMEOUT = 30.0
"""Seconds a server gets to answer after it was started."""


class DcmtkNetworkMixin:
    """For servers built on DCMTK's network layer (dcmqrscp, Orthanc).

    DCMTK 3.6.7 leaves Nagle's algorithm on unless the environment variable TCP_NODELAY is
    1.  Against a pynetdicom peer every DIMSE exchange then waits for a delayed ACK:
    measured on loopback here, ~45 ms per C-ECHO and ~55 ms per object of a C-GET, against
    ~2 ms and ~13 ms with TCP_NODELAY=1.  ``tcp_nodelay`` (the default, to keep the tests
    fast) sets it; pass False to see a server as it runs out of the box.
    """

    tcp_nodelay: bool

    def _dcmtk_environment(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        if self.tcp_nodelay:
            env["TCP_NODELAY"] = "1"
        else:
            env.pop("TCP_NODELAY", None)
        return env


class DicomServer(abc.ABC):
    """A real DICOM server run by a test on a free loopback port with storage in ``workdir``.

    ``peers`` are the application entities the server is told about (C-MOVE destinations).
    Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    #: Human name, used in messages.
    NAME: ClassVar[str]
    #: The program to run (a name looked up in PATH, or an absolute path).
    PROGRAM: ClassVar[str]
    #: The Debian package that installs ``PROGRAM`` (None when it comes with Python).
    DEBIAN_PACKAGE: ClassVar[str | None] = None
    #: True when the server cannot be told to bind to loopback only.
    LISTENS_ON_ALL_INTERFACES: ClassVar[bool] = False

    def __init__(self, workdir: Path, *, ae: str, peers: Sequence[Peer] = ()) -> None:
        self.workdir = workdir
        self.ae = ae
        self.peers = tuple(peers)
        self.port = free_port()
        self.log_path = workdir / "server.log"
        self._process: ManagedProcess | None = None

    # -- what tests use ------------------------------------------------------------------

    @property
    def peer(self) -> Peer:
        """Where to reach the server: its AE title on 127.0.0.1 and its DICOM port."""
        return Peer(self.ae, LOOPBACK, self.port)

    @property
    def pid(self) -> int:
        return self._require_process().pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    @classmethod
    def program_path(cls) -> str | None:
        return shutil.which(cls.PROGRAM)

    @classmethod
    def missing_program(cls) -> str | None:
        """Why the server's program cannot be run (naming its Debian package), or None."""
        if cls.program_path() is not None:
            return None
        if cls.DEBIAN_PACKAGE is None:
            return f"{cls.NAME}: {cls.PROGRAM} not found"
        return (
            f"{cls.NAME}: {cls.PROGRAM} not found: install the Debian package "
            f"'{cls.DEBIAN_PACKAGE}' (apt-get install {cls.DEBIAN_PACKAGE})"
        )

    def unavailable_reason(self) -> str | None:
        """Why the server cannot run here (program missing, not in a private netns), or None."""
        reason = self.missing_program()
        if reason is None and self.LISTENS_ON_ALL_INTERFACES:
            reason = netns_problem(self.NAME)
        return reason

    def start(self) -> Self:
        """Start the server and wait until it answers.

        Raises ServerUnavailableError when it cannot run here, ServerStartError (with the
        tail of its log) when it does not come up.
        """
        if self._process is not None:
            raise RuntimeError(f"{self.NAME} was already started")
        reason = self.missing_program()
        if reason is not None:
            raise ServerUnavailableError(reason)
        if self.LISTENS_ON_ALL_INTERFACES:
            require_private_netns(self.NAME)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._prepare()
        self._process = ManagedProcess(
            self._argv(), self.log_path, cwd=self.workdir, env=self._environment()
        )
        self._process.start()
        self._process.wait_ready(self._ready, START_TIMEOUT, self.NAME)
        return self

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit in time); idempotent."""
        if self._process is not None:
            self._process.stop()

    def kill(self) -> None:
        """SIGKILL the server and every process it forked, at once (a simulated crash)."""
        self._require_process().kill()

    @abc.abstractmethod
    def load(self, paths: Iterable[Path]) -> None:
        """Store these DICOM files on the server (through its own usual way in)."""

    # -- what each server defines --------------------------------------------------------

    @abc.abstractmethod
    def _prepare(self) -> None:
        """Write configuration files and create folders in ``workdir``."""

    @abc.abstractmethod
    def _argv(self) -> list[str]:
        """The command line that runs the server."""

    def _environment(self) -> dict[str, str]:
        """The server's environment: ours, by default."""
        return dict(os.environ)

    def _ready(self) -> bool:
        """True once the server answers; by default when its DICOM port accepts TCP."""
        return port_open(LOOPBACK, self.port)

    def _require_process(self) -> ManagedProcess:
        if self._process is None:
            raise RuntimeError(f"{self.NAME} was not started")
        return self._process

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.peer} running={self.running}>"
