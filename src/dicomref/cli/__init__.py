"""The dicomref command line: thin commands over the library.

Each command parses its options, builds one library object, makes one call and prints;
known errors become one line on stderr and a documented exit code (see ``_common``).
"""

from __future__ import annotations

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
    """Console-script entry point."""
    try:
        app()
    except DicomrefError as exc:  # commands map their own errors; this is the safety net
        fail(exc)
    except KeyboardInterrupt:
        err.print("dicomref: interrupted")
        raise SystemExit(130) from None
    except BrokenPipeError:
        raise SystemExit(EXIT_PROBLEMS) from None
