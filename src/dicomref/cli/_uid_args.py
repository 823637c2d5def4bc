"""UIDs typed on the command line, checked where they enter (``dicomref._uids``'s rule).

Each function is a typer callback: it gives back the UID without its padding, or raises
``typer.BadParameter``, which typer reports as a usage error (exit code 2) naming the
argument, with what is wrong.
"""

from __future__ import annotations

from pathlib import Path

import typer

from dicomref._uids import PADDING, argument_problem


def _checked(value: str) -> str:
    why = argument_problem(value)
    if why is not None:
        raise typer.BadParameter(why)
    return value.rstrip(PADDING)


def uid_argument(value: str) -> str:
    """One UID (``show UID``, ``graph UID``)."""
    return _checked(value)


def uid_arguments(values: list[str]) -> list[str]:
    """Several UIDs (``locate NODE UID...``)."""
    return [_checked(v) for v in values]


def optional_uid(value: str | None) -> str | None:
    """An optional UID (``--study``)."""
    return None if value is None else _checked(value)


def uid_or_file_arguments(values: list[str] | None) -> list[str]:
    """Starts of a fetch: an existing path is a file (read later), anything else a UID."""
    checked = []
    for value in values or ():
        if Path(value).exists():
            checked.append(value)
            continue
        why = argument_problem(value)
        if why is not None:
            raise typer.BadParameter(f"{why}, and no file of that name exists")
        checked.append(value.rstrip(PADDING))
    return checked


def starts_from_file(listing: Path) -> list[str]:
    """The starts a ``--from-file`` list names: one UID or path a line; blank lines and
    lines starting with ``#`` skipped; each line checked as :func:`uid_or_file_arguments`
    checks an argument.  A bad line is a usage error naming the list and the line."""
    try:
        text = listing.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {listing}: {exc}") from exc
    starts = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        try:
            starts += uid_or_file_arguments([value])
        except typer.BadParameter as exc:
            raise typer.BadParameter(f"{listing} line {number}: {exc.message}") from exc
    return starts
