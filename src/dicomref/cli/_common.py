"""What every command shares: options, output consoles, logging and error mapping.

Data goes to stdout, logs and progress to stderr.  Exit codes (documented in the README):

====  =========================================================================
0     success
1     the command ran, and found what it reports as a problem (check errors,
      files that could not be read or scanned)
2     bad usage: unknown option, a value that cannot be used
3     an input file that is not readable DICOM
4     the catalog: cannot be opened, or does not hold the UID asked for
5     a DICOM server: unreachable, refused the association, timed out or failed;
      or the Dask cluster of ``scan --cluster``: unreachable, no worker
130   interrupted (Ctrl-C)
====  =========================================================================
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar, cast

import typer

from dicomref._filenames import json_safe
from dicomref.errors import (
    CatalogError,
    ClusterError,
    ConfigError,
    DicomReadError,
    DicomrefError,
    RemoteError,
    UsageError,
)
from dicomref.model import to_json

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from dicomref.extraction import ReadLimits

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_CATALOG = 4
EXIT_REMOTE = 5


class _Deferred:
    """A rich Console made on first use: rich costs ~25 ms to import, and ``--help``, a
    command's registration and a JSON answer need none of it."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    @property
    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
            if not self._stderr and not console.is_terminal:
                console.width = max(console.width, 200)  # piped: never crop UIDs to 80
            self._console = console
        return self._console


out = cast("Console", _Deferred(stderr=False))
"""Data on stdout (a rich Console, made on first use)."""
err = cast("Console", _Deferred(stderr=True))
"""Logs, progress and errors on stderr (a rich Console, made on first use)."""


class NoProgress:
    """A progress display for when stderr is not a terminal (a pipe, a file, a script):
    it draws nothing, and rich's progress machinery (~60 ms to import, a refresh thread)
    is never loaded.  It takes the calls the commands make on ``rich.progress.Progress``."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None) -> TaskID:
        return cast("TaskID", 0)

    def update(self, task: TaskID, **fields: object) -> None:
        return None


def console(deferred: Console) -> Console:
    """The Console behind :data:`out` or :data:`err`, for rich objects that hold one
    (``Progress(console=...)``)."""
    return deferred.real if isinstance(deferred, _Deferred) else deferred


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="DICOMREF_DB",
        help="Catalog database URL (sqlite:///path or postgresql+psycopg://…). "
        "Default: a SQLite file in your user data directory.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
MaxInflatedOption = Annotated[
    int | None,
    typer.Option(
        "--max-inflated-mib",
        min=1,
        help="Refuse a Deflated file whose header inflates past this many MiB (default 256).",
        show_default=False,
    ),
]
MaxValueOption = Annotated[
    int | None,
    typer.Option(
        "--max-value-mib",
        min=1,
        help="Refuse a file with a value read longer than this many MiB (default 16).",
        show_default=False,
    ),
]
VerboseOption = Annotated[
    int,
    typer.Option("--verbose", "-v", count=True, help="More log output on stderr (-vv for debug)."),
]


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is when a record comes, not to the
    stream it was when the handler was made: in a process that runs commands in turn (a
    test runner, an embedding program), a thread still logging after its command ended
    would otherwise write to a stream that was swapped out and closed."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always sys.stderr


def setup_logging(verbose: int) -> None:
    """Log to stderr; WARNING by default, INFO with -v, DEBUG with -vv."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger("dicomref")
    root.setLevel(level)
    if not any(getattr(h, "_dicomref_cli", False) for h in root.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._dicomref_cli = True  # type: ignore[attr-defined]
        root.addHandler(handler)


def read_limits(max_inflated_mib: int | None, max_value_mib: int | None) -> ReadLimits | None:
    """The ReadLimits the options ask for, or None for the library's defaults."""
    if max_inflated_mib is None and max_value_mib is None:
        return None
    from dicomref.extraction import ReadLimits

    defaults = ReadLimits()
    mib = 1 << 20
    return ReadLimits(
        max_inflated=defaults.max_inflated if max_inflated_mib is None else max_inflated_mib * mib,
        max_value=defaults.max_value if max_value_mib is None else max_value_mib * mib,
    )


def print_json(value: Any) -> None:
    """``value`` as JSON on stdout; a file name that is not UTF-8 keeps its undecodable
    bytes as ``\\udcXX`` escapes (Python's ``json.loads`` gives back the exact name)."""
    text = json.dumps(to_json(value), indent=2, ensure_ascii=False)
    sys.stdout.write(json_safe(text) + "\n")


def exit_code_for(exc: DicomrefError) -> int:
    if isinstance(exc, UsageError | ConfigError):
        return EXIT_USAGE
    if isinstance(exc, DicomReadError):
        return EXIT_INPUT
    if isinstance(exc, CatalogError):
        return EXIT_CATALOG
    if isinstance(exc, RemoteError | ClusterError):
        return EXIT_REMOTE
    return EXIT_PROBLEMS


def fail(exc: DicomrefError) -> NoReturn:
    """Print one line naming the problem and exit with the documented code."""
    err.print(f"dicomref: error: {exc}", markup=False)
    raise SystemExit(exit_code_for(exc))


P = ParamSpec("P")
R = TypeVar("R")


def maps_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn dicomref's known errors raised by a command into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DicomrefError as exc:
            fail(exc)

    return wrapper


def class_name(uid: str | None) -> str:
    """The SOP class's name where pydicom knows it, else the UID itself."""
    if not uid:
        return "-"
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid
