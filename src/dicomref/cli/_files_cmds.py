"""Commands that work on files alone, without the catalog: ``sample`` and ``refs``.

Like every command module, this one imports at its top only what registering its commands
needs (typer and light option types); a command's body imports what it uses
(docs/architecture.md: ``dicomref --help`` imports no pydicom, rich, SQLAlchemy or
pynetdicom).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dicomref._filenames import printable_path
from dicomref.cli._common import (
    EXIT_INPUT,
    JsonOption,
    MaxInflatedOption,
    MaxValueOption,
    VerboseOption,
    class_name,
    err,
    maps_errors,
    out,
    print_json,
    read_limits,
    setup_logging,
)
from dicomref.errors import DicomReadError
from dicomref.model import Reference, to_json

if TYPE_CHECKING:
    from rich.table import Table

    from dicomref.extraction import ReadLimits
    from dicomref.model import ObjectSummary


@maps_errors
def sample(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the sample patient into.")],
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same files.")] = 0,
    slices: Annotated[int, typer.Option(help="CT slices in the main study.")] = 40,
    rows: Annotated[int, typer.Option(help="Rows of each CT slice.")] = 64,
    columns: Annotated[int, typer.Option(help="Columns of each CT slice.")] = 64,
    pixel_spacing: Annotated[float, typer.Option(help="Pixel spacing in mm.")] = 1.0,
    slice_thickness: Annotated[float, typer.Option(help="Slice spacing in mm.")] = 2.5,
    json_out: JsonOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Write a generated, realistic sample patient (CT, RT, SEG, KOS) into OUT_DIR."""
    from dicomref.sample import generate_sample

    setup_logging(verbose)
    result = generate_sample(
        out_dir,
        seed=seed,
        slices=slices,
        rows=rows,
        columns=columns,
        pixel_spacing=pixel_spacing,
        slice_thickness=slice_thickness,
    )
    if json_out:
        print_json(result)
        return
    counts: dict[str, int] = defaultdict(int)
    for obj in result.objects:
        counts[obj.role] += 1
    out.print(f"Wrote {len(result.objects)} files for patient {result.patient_id} to {out_dir}:")
    for role, n in counts.items():
        out.print(f"  {n:5d}  {role}")


def _reference_rows(refs: list[Reference]) -> list[tuple[Reference, int]]:
    """One row per (kind, target): the first reference and how many places name it."""
    grouped: dict[tuple[str, str], list[Reference]] = {}
    for ref in refs:
        grouped.setdefault((ref.kind.value, ref.target), []).append(ref)
    return [(group[0], len(group)) for group in grouped.values()]


def _reference_table(title: str, refs: list[Reference]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left", show_lines=False)
    for column in ("kind", "target", "target class", "series hint", "places", "first place"):
        table.add_column(column, overflow="fold")
    for ref, places in _reference_rows(refs):
        table.add_row(
            ref.kind.value,
            ref.target,
            class_name(ref.target_class),
            ref.series or "-",
            str(places),
            ref.path,
        )
    return table


@maps_errors
def refs(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="DICOM files to read, or DICOMweb metadata saved as JSON (an instance's "
            "or a series' array)."
        ),
    ],
    json_out: JsonOption = False,
    max_inflated_mib: MaxInflatedOption = None,
    max_value_mib: MaxValueOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """What each FILE references: kind, target UID and class, where in the file, hints.

    A FILE holding DICOM JSON (WADO-RS metadata, e.g. saved with curl) is read as the
    objects it describes, with the same answers as their files."""
    setup_logging(verbose)
    limits = read_limits(max_inflated_mib, max_value_mib)
    everything: list[dict[str, object]] = []
    failed = 0
    for path, summary, error in _summaries(files, limits):
        if error is not None or summary is None:
            err.print(f"dicomref: {error}", markup=False)
            failed += 1
            continue
        if json_out:
            for ref in summary.references:
                row = to_json(ref)
                row["file"] = str(path)
                everything.append(row)
            continue
        title = (
            f"{printable_path(path)}: {summary.modality or '?'} {class_name(summary.sop_class)} "
            f"{summary.sop_instance} — {len(summary.references)} references"
        )
        if summary.references:
            out.print(_reference_table(title, list(summary.references)))
        else:
            out.print(title, markup=False)
    if json_out:
        print_json(everything)
    if failed:
        raise SystemExit(EXIT_INPUT)


def _summaries(
    files: list[Path], limits: ReadLimits | None
) -> Iterator[tuple[Path, ObjectSummary | None, DicomReadError | None]]:
    """Each object the FILES hold: a DICOM file is one; DICOM JSON (its first byte ``{``
    or ``[``, which no DICOM file starts with) is each instance it describes."""
    from dicomref.extraction import ReadLimits, read_json_series, read_object

    for path in files:
        try:
            if _is_json(path):
                for item in read_json_series(
                    path.read_bytes(), source=str(path), limits=limits or ReadLimits()
                ):
                    yield path, item.summary, item.error
                continue
            yield path, read_object(path) if limits is None else read_object(path, limits), None
        except DicomReadError as exc:
            yield path, None, exc


def _is_json(path: Path) -> bool:
    try:
        if not path.is_file():
            return False  # a FIFO would block the read; read_object refuses what is no file
        with path.open("rb") as stream:
            head = stream.read(64).lstrip(b" \t\r\n\xef\xbb\xbf")
    except OSError:
        return False  # read_object names the file and the error
    return head[:1] in (b"{", b"[")


def register(app: typer.Typer) -> None:
    app.command()(sample)
    app.command()(refs)
