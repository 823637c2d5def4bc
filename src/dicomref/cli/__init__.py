"""The dicomref command line: thin commands over the library.

Each command parses its options, builds one library object, makes one call and prints;
known errors become one line on stderr and a documented exit code (see ``_common``).

A process imports the module of the command it runs and no other (:data:`COMMANDS`):
``dicomref fetch`` never imports the server, the catalog's SQLAlchemy side or the graph
drawing.  ``dicomref --help`` (or an unknown command) builds the whole app, as does
``app`` (for tests and for embedding).
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import Final, NoReturn

import typer

from dicomref.cli._common import EXIT_PROBLEMS, err, fail
from dicomref.errors import DicomrefError

COMMANDS: Final[dict[str, str]] = {
    "sample": "_files_cmds",
    "refs": "_files_cmds",
    "scan": "_catalog_cmds",
    "show": "_catalog_cmds",
    "check": "_catalog_cmds",
    "graph": "_catalog_cmds",
    "demo": "_demo",
    "probe": "_probe_cmd",
    "locate": "_fetch_cmds",
    "fetch": "_fetch_cmds",
    "serve": "_serve",
}
"""Each command and the module (in this package) that registers it, in the order
``--help`` lists them."""


def build_app(modules: Sequence[str] | None = None) -> typer.Typer:
    """The app with the commands of ``modules`` (default: every command)."""
    app = typer.Typer(
        name="dicomref",
        help="Find and fetch exactly the DICOM objects another object references.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    # with one command registered, Typer would run it without its name: keep a group
    app.callback()(_group)
    for name in modules if modules is not None else dict.fromkeys(COMMANDS.values()):
        importlib.import_module(f"{__name__}.{name}").register(app)
    return app


def _group() -> None:
    """Find and fetch exactly the DICOM objects another object references."""


def _app_for(argv: Sequence[str]) -> typer.Typer:
    """The app a process needs for ``argv``: the named command's module only."""
    module = COMMANDS.get(argv[1]) if len(argv) > 1 else None
    return build_app([module] if module is not None else None)


_whole: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    """``app``: the whole app, built on first use."""
    global _whole
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _whole is None:
        _whole = build_app()
    return _whole


def main() -> None:
    """Console-script entry point: run the command, then end the process at once."""
    try:
        _run()
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _run() -> None:
    try:
        _app_for(sys.argv)()
    except DicomrefError as exc:  # commands map their own errors; this is the safety net
        fail(exc)
    except KeyboardInterrupt:
        err.print("dicomref: interrupted")
        raise SystemExit(130) from None
    except BrokenPipeError:
        raise SystemExit(EXIT_PROBLEMS) from None


def _exit_now(code: object) -> NoReturn:
    """Exit with ``code`` (as ``SystemExit`` reads it) without the interpreter's teardown.

    Once a command is done, every resource it used has been closed by its own ``with``
    blocks; what the interpreter would still do is collect and clear every module's
    objects: ~0.1 s after a fetch (pydicom, pynetdicom, SQLAlchemy), as long as the work of
    a small fetch on loopback.  The exit handlers still run (logging's flush,
    multiprocessing's joins, anything registered with :mod:`atexit`), then stdout and
    stderr are flushed and the process ends.  When a thread that is not a daemon is still
    running, the interpreter's own exit, which waits for it, is kept.
    """
    status = 0 if code is None else code if isinstance(code, int) else 1
    if isinstance(code, str):
        err.print(code)
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(t.is_alive() and not t.daemon for t in others):
        raise SystemExit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (dicomref … | head): nothing to add
            status = status or EXIT_PROBLEMS
    os._exit(status)
