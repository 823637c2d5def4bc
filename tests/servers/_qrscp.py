"""pynetdicom's Query/Retrieve SCP application (``python -m pynetdicom qrscp``) as a test
server.  It binds to 127.0.0.1, so it needs no private network namespace."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from ._base import DicomServer
from ._errors import ServerLoadError
from ._ports import LOOPBACK, Peer

LOAD_TIMEOUT = 120.0


class QrscpServer(DicomServer):
    """pynetdicom's qrscp with its SQLite database and instance folder in ``workdir``.

    ``peers`` become its move destinations.  It does not check the called AE title.
    """

    NAME: ClassVar[str] = "pynetdicom qrscp"
    PROGRAM: ClassVar[str] = sys.executable
    DEBIAN_PACKAGE: ClassVar[str | None] = None

    def __init__(self, workdir: Path, *, ae: str = "QRSCP", peers: Sequence[Peer] = ()) -> None:
        super().__init__(workdir, ae=ae, peers=peers)
        self.config_path = workdir / "qrscp.ini"

    def configuration(self) -> str:
        lines = [
            "[DEFAULT]",
            f"ae_title: {self.ae}",
            f"port: {self.port}",
            "max_pdu: 16382",
            "acse_timeout: 30",
            "dimse_timeout: 30",
            "network_timeout: 30",
            f"bind_address: {LOOPBACK}",
            f"instance_location: {self.workdir / 'instances'}",
            f"database_location: {self.workdir / 'instances.sqlite'}",
            "log_identifier: True",
        ]
        for peer in self.peers:
            lines += ["", f"[{peer.ae}]", f"address: {peer.host}", f"port: {peer.port}"]
        return "\n".join(lines) + "\n"

    def _prepare(self) -> None:
        (self.workdir / "instances").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.configuration())

    def _argv(self) -> list[str]:
        return [sys.executable, "-m", "pynetdicom", "qrscp", "--config", str(self.config_path)]

    def load(self, paths: Iterable[Path]) -> None:
        """Send the files with pynetdicom's storescu (one association, from a folder)."""
        staging = self.workdir / "to-load"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        count = 0
        for count, path in enumerate(paths, start=1):
            shutil.copyfile(path, staging / f"{count:06d}.dcm")
        if count == 0:
            return
        argv = [
            sys.executable,
            "-m",
            "pynetdicom",
            "storescu",
            LOOPBACK,
            str(self.port),
            str(staging),
            "--recurse",
            "--required-contexts",
            "--calling-aet",
            "LOADER",
            "--called-aet",
            self.ae,
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=LOAD_TIMEOUT, check=False
        )
        shutil.rmtree(staging, ignore_errors=True)
        output = done.stdout + done.stderr
        if done.returncode != 0 or "E:" in output:
            raise ServerLoadError(
                f"storescu to {self.peer} failed (exit {done.returncode}):\n{output[-4000:]}"
            )
