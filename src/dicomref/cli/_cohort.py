"""The cohort side of ``dicomref fetch``: its options, its progress line, a result per start.

``--from-file LIST`` and ``--query KEY=VALUE`` add starts to those given as arguments;
``--associations N`` sends a phase's independent steps over N associations at once (for
more than one start: a single start's closure is a handful of requests, which a second
association's set-up would not pay back).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dicomref.cli._common import NoProgress, console, err

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from dicomref.remote import FetchProgress, FetchReport

FromFileOption = Annotated[
    Path | None,
    typer.Option(
        "--from-file",
        metavar="LIST",
        help="A file of starts: one SOP Instance UID or DICOM file a line "
        "(blank lines and # comments skipped).",
        dir_okay=False,
        show_default=False,
    ),
]
QueryOption = Annotated[
    list[str] | None,
    typer.Option(
        "--query",
        metavar="KEY=VALUE",
        help="Select starts on the server with a C-FIND, e.g. --query Modality=RTPLAN "
        "--query PatientID=P1 (keys: PatientID, StudyInstanceUID, StudyDate, "
        "AccessionNumber, Modality, SeriesInstanceUID, SeriesDescription, SOPClassUID, "
        "SOPInstanceUID; wildcards * ? and date ranges as DICOM matching allows).",
        show_default=False,
    ),
]
AssociationsOption = Annotated[
    int,
    typer.Option(
        "--associations",
        min=1,
        max=32,
        help="Parallel associations for a fetch of several starts (C-MOVEs go one at a time).",
    ),
]

#: Associations by default for a cohort.
DEFAULT_ASSOCIATIONS = 4


class ProgressLine:
    """Objects, bytes, rate and ETA on stderr while a fetch runs (on a terminal only)."""

    def __init__(self) -> None:
        self.display: Progress | NoProgress = _display()
        self._task: TaskID | None = None
        self._began = time.monotonic()

    def __enter__(self) -> ProgressLine:
        self.display.__enter__()
        self._task = self.display.add_task("connecting", total=None)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.display.__exit__(*exc)

    def show(self, state: FetchProgress) -> None:
        if self._task is None:
            return
        seconds = max(time.monotonic() - self._began, 1e-3)
        rate = state.bytes / seconds
        self.display.update(
            self._task,
            total=max(state.wanted or 0, state.objects) or None,
            completed=state.objects,
            description=f"{state.requests} requests, {size(state.bytes)} at {size(rate)}/s",
        )


def _display() -> Progress | NoProgress:
    if not sys.stderr.isatty():
        return NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("objects"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console(err),
        transient=True,
    )


def starts_json(report: FetchReport) -> list[dict[str, Any]]:
    """``--json``: what each start needed, and what of it is missing and why."""
    return [
        {
            "start": s.start,
            "uid": s.uid,
            "complete": s.complete,
            "needed": list(s.needed),
            "missing": [
                {"uid": m.uid, "what": m.what, "named_by": m.named_by, "reason": m.reason}
                for m in s.missing
            ],
        }
        for s in report.starts
    ]


def size(n: float) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns
