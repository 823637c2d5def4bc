"""The dicomref command line: thin commands over the library.

Each command parses its options, builds one library object, makes one call and prints;
known errors become one line on stderr and a documented exit code (see ``_common``).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

import typer

from dicomref.cli import _catalog_cmds, _demo, _fetch_cmds, _files_cmds, _probe_cmd, _serve
from dicomref.cli._common import EXIT_PROBLEMS, err, fail
from dicomref.errors import DicomrefError

app = typer.Typer(
    name="dicomref",
    help="Find and fetch exactly the DICOM objects another object references.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_files_cmds.register(app)
_catalog_cmds.register(app)
_demo.register(app)
_probe_cmd.register(app)
_fetch_cmds.register(app)
_serve.register(app)


def main() -> None:
    """Console-script entry point: run the command, then end the process at once."""
    try:
        _run()
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _run() -> None:
    try:
        app()
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
