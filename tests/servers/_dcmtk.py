"""DCMTK's dcmqrscp (Debian package ``dcmtk``, 3.6.7) as a test server.

dcmqrscp has no option to bind to one address: it listens on every interface, so it is
started only inside a private network namespace.  It forks a child per association; the
managed process group makes sure none outlives the test.

Identifier checking (measured, see tests/test_servers.py and tests/test_dimse.py):
by default (``--no-check-find``/``--no-check-move``) it accepts identifiers that break the
hierarchical rules, and answers a C-MOVE/C-GET that lacks the Study/Series keys with
"success, 0 sub-operations".  ``strict=True`` adds ``-XF -XM`` (``--check-find``,
``--check-move``): such identifiers are refused with 0xA900.

DCMTK's programs are found by what they are, not by name (:func:`dcmtk_program`):
pynetdicom installs console scripts named ``findscu``, ``storescp``, ``echoscu``,
``getscu``, ``movescu``, ``storescu`` … into every environment that has it, and where one of
those comes first on PATH the first match is not DCMTK's.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from ._base import DcmtkNetworkMixin, DicomServer
from ._errors import ServerLoadError, ServerUnavailableError
from ._ports import Peer

LOAD_TIMEOUT = 120.0
STRICT_OPTIONS = ("--check-find", "--check-move")
#: Where Debian's ``dcmtk`` package installs the programs: looked at before PATH.
DCMTK_FOLDERS = ("/usr/bin",)
#: Seconds a program gets to print its version.
VERSION_TIMEOUT = 10.0
#: What DCMTK's ``--version`` prints first (``$dcmtk: findscu v3.6.7 2022-04-22 $``), or
#: its makers' name (OFFIS) in builds that print otherwise.
_DCMTK_VERSION = re.compile(r"\$dcmtk: \S+ v\d|\bOFFIS\b")


def _is_dcmtk(path: str) -> bool:
    """Whether the program at ``path`` says, asked for its version, that it is DCMTK's."""
    try:
        done = subprocess.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=VERSION_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return _DCMTK_VERSION.search(done.stdout + done.stderr) is not None


@functools.cache
def dcmtk_program(name: str) -> str | None:
    """The path of DCMTK's program ``name`` (``findscu``, ``dcmqrscp``, ``dcmdump`` …), or None.

    Looks in :data:`DCMTK_FOLDERS`, then along PATH, and takes the first program of that
    name whose ``--version`` names DCMTK; pynetdicom's scripts of the same names are passed
    over.
    """
    seen: set[str] = set()
    for folder in (*DCMTK_FOLDERS, *os.get_exec_path()):
        path = os.path.join(folder or ".", name)  # noqa: PTH118 (plain strings, as PATH is)
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(real) or not os.access(real, os.X_OK):  # noqa: PTH113
            continue
        seen.add(real)
        if _is_dcmtk(path):
            return path
    return None


def require_dcmtk(name: str) -> str:
    """:func:`dcmtk_program`, or ServerUnavailableError naming the Debian package."""
    path = dcmtk_program(name)
    if path is None:
        raise ServerUnavailableError(
            f"DCMTK's {name} not found (a program of that name that is not DCMTK's, such as "
            "pynetdicom's scripts, does not count): apt-get install dcmtk"
        )
    return path


class DcmqrscpServer(DcmtkNetworkMixin, DicomServer):
    """dcmqrscp with one storage area (AE ``ae``) in ``workdir``.

    ``peers`` go into the HostTable (C-MOVE destinations).  Any calling AE may store,
    query and retrieve; an association addressed to another AE title is rejected
    ("called AE title not recognised").  ``strict`` turns on identifier checking.
    ``options`` are added to the command line as they are.  ``tcp_nodelay``: see
    :class:`DcmtkNetworkMixin`.
    """

    NAME: ClassVar[str] = "dcmqrscp"
    PROGRAM: ClassVar[str] = "dcmqrscp"
    DEBIAN_PACKAGE: ClassVar[str | None] = "dcmtk"
    LISTENS_ON_ALL_INTERFACES: ClassVar[bool] = True

    def __init__(
        self,
        workdir: Path,
        *,
        ae: str = "DCMQRSCP",
        peers: Sequence[Peer] = (),
        strict: bool = False,
        options: Sequence[str] = (),
        tcp_nodelay: bool = True,
    ) -> None:
        super().__init__(workdir, ae=ae, peers=peers)
        self.tcp_nodelay = tcp_nodelay
        self.strict = strict
        self.options = tuple(options)
        self.config_path = workdir / "dcmqrscp.cfg"
        self.storage = workdir / "storage"
        self._loaded = 0

    @classmethod
    def program_path(cls) -> str | None:
        return dcmtk_program(cls.PROGRAM)

    def configuration(self) -> str:
        hosts = "\n".join(
            f"peer{i} = ({p.ae}, {p.host}, {p.port})" for i, p in enumerate(self.peers)
        )
        return (
            f"NetworkTCPPort = {self.port}\n"
            "MaxPDUSize = 16384\n"
            "MaxAssociations = 16\n"
            "\n"
            f"HostTable BEGIN\n{hosts}\nHostTable END\n"
            "\n"
            "VendorTable BEGIN\nVendorTable END\n"
            "\n"
            "AETable BEGIN\n"
            f"{self.ae} {self.storage} RW (1000, 4096mb) ANY\n"
            "AETable END\n"
        )

    def _prepare(self) -> None:
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.configuration())

    def _argv(self) -> list[str]:
        argv = [require_dcmtk(self.PROGRAM), "--config", str(self.config_path)]
        if self.strict:
            argv += STRICT_OPTIONS
        argv += self.options
        return argv

    def _environment(self) -> dict[str, str]:
        return self._dcmtk_environment(super()._environment())

    def load(self, paths: Iterable[Path]) -> None:
        """Copy the files into the storage area and register them with ``dcmqridx``.

        (Sending them with DCMTK's storescu works too, but takes ~90 ms per file on
        loopback here, against ~1 ms for dcmqridx.)  Safe while the server runs:
        dcmqridx and dcmqrscp lock the index file.
        """
        copies = []
        for path in paths:
            self._loaded += 1
            copy = self.storage / f"loaded{self._loaded:06d}.dcm"
            shutil.copyfile(path, copy)
            copies.append(str(copy))
        if not copies:
            return
        done = subprocess.run(
            [require_dcmtk("dcmqridx"), str(self.storage), *copies],
            capture_output=True,
            text=True,
            timeout=LOAD_TIMEOUT,
            check=False,
        )
        if done.returncode != 0 or done.stderr.strip():
            raise ServerLoadError(
                f"dcmqridx for {self.peer} failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
            )
