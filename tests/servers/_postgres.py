"""A throwaway PostgreSQL server for tests and benchmarks (Debian package ``postgresql``).

::

    server = PostgresServer(tmp_path).start()      # initdb + postgres on a free loopback port
    url = server.create_database("scan_test")      # → "postgresql+psycopg://postgres@127.0.0.1:P/scan_test"
    other = server.new_database("scan")            # a name never used before: scan_<pid>_<n>
    ...                                            # Catalog(url), dicomref scan --db url ...
    server.drop_database("scan_test")
    server.stop()                                  # fast shutdown, data folder removed

or ``with PostgresServer(tmp_path) as server: ...``.

* ``initdb`` and ``postgres`` come from ``/usr/lib/postgresql/<newest>/bin`` (or PATH);
  missing, ``start()`` raises ServerUnavailableError (tests skip, or fail under CI=true).
* The cluster lives in a fresh folder: ``workdir/postgres`` for an ordinary user; as root,
  ``initdb`` refuses to run, so the server runs as the ``postgres`` user (``setpriv``) in a
  folder of its own under the system temp directory (the user cannot reach pytest's
  ``/tmp/pytest-of-root``), removed again by ``stop()``.  Its log is ``log_path``.
* It listens on 127.0.0.1 only, on a free port, with its Unix socket in that folder (never
  ``/var/run/postgresql``), and trusts every local connection: user ``postgres``, no password.
* ``durable=False`` (the default, for tests) turns off fsync and synchronous commit; benches
  that measure writes pass ``durable=True``.  ``settings`` adds or overrides server
  settings (``{"shared_buffers": "1GB"}``).
* The postmaster dies with the process that started it (``--pdeathsig``), so a killed test
  session leaves no server behind.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from ._errors import ServerStartError, ServerUnavailableError
from ._ports import LOOPBACK, free_port
from ._process import ManagedProcess, log_tail, wait_until

DEBIAN_PACKAGE = "postgresql"
SERVER_USER = "postgres"
"""The operating-system account the server runs as when the tests run as root, and the
database superuser's name either way."""

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

_numbers = itertools.count()
_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def postgres_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: Debian's newest version, else PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _really_root() -> bool:
    """Root outside any user namespace (one that maps us to root cannot switch users)."""
    if os.geteuid() != 0:
        return False
    try:
        first = Path("/proc/self/uid_map").read_text().split()
    except OSError:
        return True
    return first[:3] == ["0", "0", "4294967295"]


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1, for one test session (or one bench run)."""

    def __init__(
        self, workdir: Path, *, durable: bool = False, settings: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.durable = durable
        self.settings = dict(settings or {})
        self.port = free_port()
        self.user = SERVER_USER
        self._home: Path | None = None
        self._owns_home = False
        self._process: ManagedProcess | None = None

    # -- what tests use ------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of database ``dbname`` (psycopg 3 driver, no password)."""
        return f"postgresql+psycopg://{self.user}@{LOOPBACK}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """The libpq URL of ``dbname``, for psycopg.connect()."""
        return f"postgresql://{self.user}@{LOOPBACK}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` (letters, digits, _) and return its URL."""
        self._sql(f'CREATE DATABASE "{self._checked(name)}"')
        return self.url(name)

    def new_database(self, prefix: str = "db") -> str:
        """Create a database of a name not used before (``prefix``, this process's id and
        a counter) and return its URL; the name is ``make_url(url).database``."""
        name = f"{self._checked(prefix)}_{os.getpid()}_{next(_numbers)}"
        return self.create_database(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` even if clients are still connected; no error if absent."""
        self._sql(f'DROP DATABASE IF EXISTS "{self._checked(name)}" WITH (FORCE)')

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def log_path(self) -> Path:
        return self._require_home() / "server.log"

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines) if self._home else ""

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """initdb a fresh cluster and start it; wait until it accepts connections.

        Raises ServerUnavailableError when PostgreSQL is not installed (or cannot be run
        as another user here), ServerStartError (with the log tail) when it does not come up.
        """
        if self._process is not None:
            raise RuntimeError("PostgreSQL was already started")
        bindir = postgres_bin_dir()
        if bindir is None:
            raise ServerUnavailableError(
                "PostgreSQL: initdb not found (looked in /usr/lib/postgresql/*/bin and PATH): "
                f"install the Debian package '{DEBIAN_PACKAGE}' "
                f"(apt-get install {DEBIAN_PACKAGE})"
            )
        as_user = self._user_prefix()
        home = self._make_home(switch_user=bool(as_user))
        data = home / "data"
        initdb = [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
        done = subprocess.run(initdb, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ServerStartError(
                f"initdb failed (status {done.returncode}): {' '.join(initdb)}\n"
                f"{done.stdout}{done.stderr}"
            )
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(home),
            "max_connections": "200",
            "shared_buffers": "64MB",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        settings |= self.settings
        argv = [*as_user, str(bindir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self._process = ManagedProcess(argv, home / "server.log", cwd=home)
        self._process.start()
        self._process.wait_ready(self._accepts, START_TIMEOUT, "PostgreSQL")
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clients disconnected, no waiting), then remove the folder
        made for a root run; idempotent."""
        if self._process is not None and self._process.running:
            # setpriv execs the server, so this pid is the postmaster's.
            os.kill(self._process.pid, signal.SIGINT)
            wait_until(lambda: not self._process_running(), STOP_TIMEOUT, 0.05)
        if self._process is not None:
            self._process.stop()
        if self._owns_home and self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._owns_home = False

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
        return f"<PostgresServer {LOOPBACK}:{self.port} running={self.running}>"

    # -- internals -----------------------------------------------------------------------

    def _process_running(self) -> bool:
        return self._process is not None and self._process.running

    def _user_prefix(self) -> list[str]:
        """``setpriv`` to the postgres account when we are root; nothing otherwise."""
        if os.geteuid() != 0:
            return []
        if not _really_root():
            raise ServerUnavailableError(
                "PostgreSQL: running as root inside a user namespace, where initdb refuses to "
                "run and no other user exists: run the tests as root or as an ordinary user"
            )
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError as exc:
            raise ServerUnavailableError(
                f"PostgreSQL: running as root, and there is no '{SERVER_USER}' user to run the "
                f"server as: install the Debian package '{DEBIAN_PACKAGE}'"
            ) from exc
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise ServerUnavailableError(
                "PostgreSQL: running as root needs setpriv (Debian package util-linux)"
            )
        return [
            setpriv,
            f"--reuid={SERVER_USER}",
            f"--regid={SERVER_USER}",
            "--init-groups",
            "--pdeathsig=KILL",
        ]

    def _make_home(self, *, switch_user: bool) -> Path:
        if switch_user:
            home = Path(tempfile.mkdtemp(prefix="dicomref-postgres-"))
            account = pwd.getpwnam(SERVER_USER)
            os.chown(home, account.pw_uid, account.pw_gid)
            self._owns_home = True
        else:
            home = self.workdir / "postgres"
            if home.exists():
                shutil.rmtree(home)
            home.mkdir(parents=True)
            home.chmod(0o700)
        self._home = home
        return home

    def _require_home(self) -> Path:
        if self._home is None:
            raise RuntimeError("PostgreSQL was not started")
        return self._home

    def _accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def _sql(self, statement: str) -> None:
        import psycopg

        if not self.running:
            raise RuntimeError("PostgreSQL is not running")
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(statement.encode())

    @staticmethod
    def _checked(name: str) -> str:
        if not _DB_NAME.fullmatch(name):
            raise ValueError(
                f"database name {name!r}: use 1-63 letters, digits and _, not starting with a digit"
            )
        return name
