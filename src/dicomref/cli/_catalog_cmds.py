"""Commands over the catalog: ``scan``, ``show``, ``check`` and ``graph``."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dicomref._filenames import printable_path
from dicomref.check import CheckOptions, Finding, Severity
from dicomref.cli._common import (
    EXIT_PROBLEMS,
    DbOption,
    JsonOption,
    MaxInflatedOption,
    MaxValueOption,
    NoProgress,
    VerboseOption,
    class_name,
    console,
    err,
    maps_errors,
    out,
    print_json,
    read_limits,
    setup_logging,
)
from dicomref.cli._uid_args import uid_argument
from dicomref.graph import Direction

if TYPE_CHECKING:
    from rich.progress import Progress
    from rich.tree import Tree

    from dicomref.catalog import ScanProgress, ScanReport
    from dicomref.show import ObjectView, ResolvedReference


@maps_errors
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders or DICOMDIRs to index.")],
    db: DbOption = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes reading files (default: one per core).")
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Read on a Dask cluster: its scheduler, e.g. tcp://host:8786 "
            "(pip install 'dicomref[cluster]'); the workers must reach the files by the same "
            "paths and the catalog (--db) by its URL.",
        ),
    ] = None,
    json_out: JsonOption = False,
    max_inflated_mib: MaxInflatedOption = None,
    max_value_mib: MaxValueOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Index DICOM files into the catalog: incremental, parallel, goes on past bad files.

    Files that are not DICOM at all (texts, archives, programs) are counted, not failed
    (listed with -v); files that claim to be DICOM but cannot be read fail (exit 1).
    """
    from dicomref.catalog import Catalog

    setup_logging(verbose)
    with Catalog(db) as catalog, _progress() as progress:
        task = progress.add_task("scanning", total=None)

        def report(p: ScanProgress) -> None:
            progress.update(task, completed=p.files_done, total=p.total)

        limits = read_limits(max_inflated_mib, max_value_mib)
        result = catalog.scan(
            paths, workers=workers, progress=report, limits=limits, cluster=cluster
        )
    if json_out:
        print_json(result)
    else:
        _print_scan(result, verbose)
    if result.failed:
        raise SystemExit(EXIT_PROBLEMS)


def _progress() -> Progress | NoProgress:
    if not sys.stderr.isatty():
        return NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(err),
        transient=True,
    )


def _print_scan(result: ScanReport, verbose: int) -> None:
    out.print(
        f"Scanned {result.files} files in {result.seconds:.1f} s: {result.indexed} indexed, "
        f"{result.unchanged} unchanged, {result.not_instances} not instances, "
        f"{len(result.not_dicom)} not DICOM, {len(result.failed)} failed, "
        f"{result.removed} removed; {result.references} references; "
        f"{result.duplicates} duplicate SOP Instance UIDs."
    )
    if verbose:
        for path in result.not_dicom:
            out.print(f"  not DICOM: {printable_path(path)}", markup=False)
    for failure in result.failed:
        out.print(f"  failed: {failure.error}", markup=False)


@maps_errors
def show(
    uid: Annotated[str, typer.Argument(help="SOP Instance UID to show.", callback=uid_argument)],
    db: DbOption = None,
    json_out: JsonOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Where an object is, what it references (resolved or not), what references it."""
    from dicomref.catalog import Catalog
    from dicomref.show import view_object

    setup_logging(verbose)
    with Catalog(db) as catalog:
        view = view_object(catalog, uid)
    if json_out:
        print_json(view)
        return
    out.print(_tree(view))


#: Above this many distinct targets of one kind, ``show`` summarises the kind in one line
#: (listing only the missing targets); ``--json`` always lists everything.
COLLAPSE_OVER = 8


def _safe(value: object) -> str:
    """A value read from a file, for a line of rich markup: on one line (control characters
    escaped, as file names are) and never taken as markup."""
    from rich.markup import escape

    return escape(printable_path(str(value)))


def _add_references(branch: Tree, items: tuple[ResolvedReference, ...], forward: bool) -> None:
    """One line per (kind, object); kinds with many objects collapse to a summary line."""
    by_kind: dict[str, dict[str, list[ResolvedReference]]] = {}
    for item in items:
        ref = item.reference
        other = ref.target if forward else ref.source
        by_kind.setdefault(ref.kind.value, {}).setdefault(other, []).append(item)
    for kind, objects in by_kind.items():
        missing = [uid for uid, group in objects.items() if not group[0].resolved]
        instance = next(iter(objects.values()))[0].reference.instance
        if len(objects) > COLLAPSE_OVER:
            state = "[red]✗[/]" if missing else "[green]✓[/]"
            held = f"{len(objects) - len(missing)} of {len(objects)} held"
            line = branch.add(f"{state} {kind}: {len(objects)} objects, {held}")
            for uid in missing:
                line.add(f"[red]✗ missing[/] {_safe(uid)}")
            continue
        for uid, group in objects.items():
            state = "[green]✓[/]" if group[0].resolved else "[red]✗ missing[/]" if instance else "·"
            where = group[0].reference.path
            more = f" (+{len(group) - 1} more places)" if len(group) > 1 else ""
            branch.add(f"{state} {kind} {_safe(uid)} [dim]{_safe(where)}{more}[/]")


def _tree(view: ObjectView) -> Tree:
    from rich.text import Text
    from rich.tree import Tree

    from dicomref import labels

    head = view.files[0] if view.files else None
    if head is None:
        title = f"[bold]{_safe(view.uid)}[/] [red]not in any scanned file[/]"
    else:
        named = (
            labels.object_name(head)
            if head.modality in labels.OBJECT_MODALITIES
            else head.modality or "?"
        )
        title = f"[bold]{_safe(named)}[/] {_safe(view.uid)} ({_safe(class_name(head.sop_class))})"
    tree = Tree(title)
    for f in view.files:
        where = tree.add(Text(f"file {printable_path(f.path)}"))
        when = f"{labels.date(f.content_date)} {labels.time(f.content_time)}".strip()
        if when:
            where.add(Text(f"date {when}"))
        patient = f"patient {f.patient_id or '-'} {f.patient_name or ''}".rstrip()
        where.add(Text(printable_path(patient)))
        study = f"study {f.study}" + (f" ({f.study_date})" if f.study_date else "")
        where.add(Text(printable_path(study)))
        number = f.series_number if f.series_number is not None else "-"
        where.add(Text(printable_path(f"series {f.series} #{number}")))
    if len(view.files) > 1:
        tree.add(f"[yellow]held by {len(view.files)} files: duplicate SOP Instance UID[/]")
    _add_references(tree.add(f"references ({len(view.references)})"), view.references, True)
    _add_references(tree.add(f"referenced by ({len(view.referrers)})"), view.referrers, False)
    return tree


class Format(enum.StrEnum):
    JSON = "json"
    DOT = "dot"


@maps_errors
def check(
    db: DbOption = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this check (repeatable).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option(help="CONTOUR_OFF_SLICE tolerance in mm along the slice normal.")
    ] = CheckOptions().contour_tolerance_mm,
    json_out: JsonOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Dangling references, duplicate UIDs, contours off their slices, frame mismatches."""
    from dicomref.catalog import Catalog
    from dicomref.check import run_checks

    setup_logging(verbose)
    with Catalog(db) as catalog:
        findings = run_checks(catalog, CheckOptions(contour_tolerance_mm=tolerance), only=only)
    if json_out:
        print_json(findings)
    else:
        _print_findings(findings)
    if any(f.severity is Severity.ERROR for f in findings):
        raise SystemExit(EXIT_PROBLEMS)


def _print_findings(findings: list[Finding]) -> None:
    if not findings:
        out.print("No problems found.")
        return
    colour = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}
    for f in findings:
        out.print(
            f"[{colour[f.severity]}]{f.severity.value:7}[/] [bold]{f.code}[/] {f.source or ''}"
        )
        out.print(f"        {f.message}", markup=False)
    errors = sum(f.severity is Severity.ERROR for f in findings)
    out.print(f"{len(findings)} findings, {errors} errors.")


@maps_errors
def graph(
    uid: Annotated[
        str,
        typer.Argument(help="SOP Instance UID at the centre of the graph.", callback=uid_argument),
    ],
    db: DbOption = None,
    depth: Annotated[int, typer.Option(min=1, help="How many hops to follow.")] = 2,
    direction: Annotated[
        Direction, typer.Option(help="Follow references forward, reverse, or both.")
    ] = Direction.BOTH,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.JSON,
    per_instance: Annotated[
        bool,
        typer.Option(
            "--per-instance",
            help="dot: one box per object, labelled by UID (default: each image series "
            "folded into one node, objects labelled as people name them).",
        ),
    ] = False,
    expand: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SERIES_UID", help="dot: show this series object by object (repeatable)."
        ),
    ] = None,
    verbose: VerboseOption = 0,
) -> None:
    """The reference graph around UID, as JSON or Graphviz dot."""
    from dicomref.catalog import Catalog
    from dicomref.graph import build_graph, to_dot

    setup_logging(verbose)
    with Catalog(db) as catalog:
        result = build_graph(catalog, uid, depth=depth, direction=direction)
        if fmt is Format.DOT and not per_instance:
            from dicomref.graph_view import view_graph, view_to_dot

            out.file.write(view_to_dot(view_graph(catalog, result, expand=expand or ())))
            return
    if fmt is Format.DOT:
        out.file.write(to_dot(result))
    else:
        print_json(result)


def register(app: typer.Typer) -> None:
    app.command()(scan)
    app.command()(show)
    app.command()(check)
    app.command()(graph)
