"""``dicomref locate NODE UID...`` and ``dicomref fetch NODE (UID|FILE)... --out DIR``.

Exit codes: 0 everything was found (and fetched); 1 some objects are missing (each listed
with its reason); 2 bad usage or configuration; 3 a start file that is not DICOM; 4 the
catalog; 5 the server (unreachable, association rejected, timed out, wrong C-MOVE
destination).  The report goes to stdout, progress to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dicomref.cli._cohort import (
    DEFAULT_ASSOCIATIONS,
    AssociationsOption,
    FromFileOption,
    ProgressLine,
    QueryOption,
    starts_json,
)
from dicomref.cli._common import (
    EXIT_PROBLEMS,
    DbOption,
    JsonOption,
    VerboseOption,
    maps_errors,
    out,
    print_json,
    setup_logging,
)
from dicomref.cli._remote_options import (
    ConfigOption,
    NodeArg,
    OurAeOption,
    RetrieveOption,
    StorePortOption,
    TlsCaOption,
    TlsCertOption,
    TlsKeyOption,
    node_from_cli,
)
from dicomref.cli._uid_args import (
    optional_uid,
    starts_from_file,
    uid_arguments,
    uid_or_file_arguments,
)

if TYPE_CHECKING:
    from dicomref._dicomweb._node import WebNode
    from dicomref._dimse._node import Node
    from dicomref.catalog._deferred import FetchCatalog
    from dicomref.remote import Capabilities, FetchReport, LocateReport

StudyOption = Annotated[
    str | None,
    typer.Option(
        "--study",
        help="Study Instance UID where the UIDs given are (a hint: it saves searching).",
        show_default=False,
        callback=optional_uid,
    ),
]
ProbeOption = Annotated[
    bool,
    typer.Option(
        "--probe",
        help="Probe the server first and keep the result in the catalog (default: use the "
        "last probe's result, else assume a strict server and learn on the way).",
    ),
]


# -- locate ----------------------------------------------------------------------------------------


@maps_errors
def locate(
    node: NodeArg,
    uids: Annotated[
        list[str],
        typer.Argument(
            metavar="UID...", help="SOP Instance UIDs to locate.", callback=uid_arguments
        ),
    ],
    study: StudyOption = None,
    ae: OurAeOption = None,
    config: ConfigOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    tls_ca: TlsCaOption = None,
    db: DbOption = None,
    probe: ProbeOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Where these objects are on the server (study and series), with C-FIND only.

    Exit code 1 when some are not found (each is listed with what was searched).
    """
    from dicomref._pydicom_import import import_pydicom_lean

    import_pydicom_lean()  # before anything imports pydicom: without numpy and requests
    from dicomref.catalog._deferred import open_for_fetch
    from dicomref.remote import Wanted
    from dicomref.remote import locate as locate_objects

    setup_logging(verbose)
    target = node_from_cli(
        node, ae=ae, config=config, tls_cert=tls_cert, tls_key=tls_key, tls_ca=tls_ca
    )
    with open_for_fetch(db) as catalog:  # SQLite: SQLAlchemy loaded in the background
        capabilities = _capabilities(catalog, target, probe)
        report = locate_objects(
            target,
            uids,
            capabilities=capabilities,
            hints=[Wanted(uid, study=study) for uid in uids] if study else (),
            catalog=catalog,
        )
    if json_out:
        print_json(_locate_json(report))
    else:
        _print_locate(report, verbose)
    if not report.complete:
        raise SystemExit(EXIT_PROBLEMS)


def _locate_json(report: LocateReport) -> dict[str, Any]:
    return {
        "node": report.node,
        "objects": [
            {
                "uid": o.uid,
                "found": o.found,
                "study": o.key.study if o.key else None,
                "series": o.key.series if o.key else None,
                "sop_class": o.sop_class,
                "reason": o.reason,
            }
            for o in report.objects
        ],
        "requests": report.requests.by_command(),
        f"{report.connection}s": report.associations,
        "steps": list(report.steps),
        "seconds": round(report.seconds, 3),
    }


def _print_locate(report: LocateReport, verbose: int) -> None:
    from rich.markup import escape

    for item in report.objects:
        if item.key is not None:
            out.print(f"{item.uid}: study {item.key.study}, series {item.key.series}", markup=False)
        else:
            out.print(f"{item.uid}: not located: {item.reason}", markup=False)
    found = sum(1 for o in report.objects if o.found)
    out.print(
        f"{found} of {len(report.objects)} located on {escape(report.node)} in "
        f"{report.seconds:.1f} s: {report.requests.describe()} over "
        f"{_count(report.associations, report.connection)}."
    )
    if verbose:
        _print_steps(report.steps)


# -- fetch -----------------------------------------------------------------------------------------


@maps_errors
def fetch(
    node: NodeArg,
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="The folder to fetch into (a managed store).", file_okay=False),
    ],
    starts: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="UID|FILE...",
            help="SOP Instance UIDs to fetch, or DICOM files whose references to fetch.",
            callback=uid_or_file_arguments,
            show_default=False,
        ),
    ] = None,
    from_file: FromFileOption = None,
    query: QueryOption = None,
    associations: AssociationsOption = DEFAULT_ASSOCIATIONS,
    no_follow: Annotated[
        bool,
        typer.Option(
            "--no-follow", help="Fetch only what the starts reference, not what that references."
        ),
    ] = False,
    with_dependents: Annotated[
        bool,
        typer.Option(
            "--with-dependents",
            help="Also fetch what depends on the starts: doses of a plan, plans on a "
            "structure set, structure sets on an image series.",
        ),
    ] = False,
    retrieve: RetrieveOption = None,
    study: StudyOption = None,
    ae: OurAeOption = None,
    store_port: StorePortOption = None,
    config: ConfigOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    tls_ca: TlsCaOption = None,
    db: DbOption = None,
    probe: ProbeOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Fetch exactly these objects and what they reference, never whole studies.

    Many starts at once (a cohort): arguments, --from-file and --query together, in one
    plan (an object several need moves once), over --associations.  Objects already in
    the catalog or in --out are not fetched again, so an interrupted fetch resumes.
    Every object fetched is indexed in the catalog.  Exit code 1 when some objects are
    missing (each is listed with its reason), or when --query selects nothing.
    """
    from dicomref._dicomweb._node import WebNode
    from dicomref._pydicom_import import import_pydicom_lean

    import_pydicom_lean()  # before anything imports pydicom: without numpy and requests
    from dicomref.catalog._deferred import open_for_fetch
    from dicomref.remote import CohortQuery, Wanted
    from dicomref.remote import fetch as fetch_objects
    from dicomref.store import ManagedStore

    starts = list(starts or [])
    if from_file is not None:
        starts += starts_from_file(from_file)
    selection = CohortQuery.parse(query) if query else None
    if not starts and selection is None:
        raise typer.BadParameter(
            "give the starts: UIDs or files, --from-file LIST or --query KEY=VALUE",
            param_hint="UID|FILE",
        )
    if len(starts) < 2 and selection is None:
        associations = 1  # one start: a handful of requests, not worth a second association
    setup_logging(verbose)
    target = node_from_cli(
        node,
        ae=ae,
        store_port=store_port,
        retrieve=retrieve,
        config=config,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
    )
    store = ManagedStore(out_dir)
    with open_for_fetch(db) as catalog:  # SQLite: SQLAlchemy loaded in the background
        capabilities = _capabilities(catalog, target, probe)
        hints = [Wanted(s, study=study) for s in starts if not Path(s).exists()] if study else []
        with ProgressLine() as progress:
            report = fetch_objects(
                target,
                starts,
                out=store,
                catalog=catalog,
                capabilities=capabilities,
                follow=not no_follow,
                with_dependents=with_dependents,
                retrieve=None if isinstance(target, WebNode) else target.retrieve,
                hints=hints,
                progress=progress.show,
                query=selection,
                associations=associations,
            )
    if json_out:
        print_json(_fetch_json(report, out_dir))
    else:
        _print_fetch(report, out_dir, verbose)
    if not report.complete or (selection is not None and not report.starts):
        raise SystemExit(EXIT_PROBLEMS)


def _fetch_json(report: FetchReport, out_dir: Path) -> dict[str, Any]:
    whole = report.whole_study
    return {
        "node": report.node,
        "out": str(out_dir),
        "objects": report.objects,
        "bytes": report.bytes,
        "held": report.held,
        "dependents": report.dependents,
        "missing": [
            {"uid": m.uid, "what": m.what, "named_by": m.named_by, "reason": m.reason}
            for m in report.missing
        ],
        "discarded": {"objects": report.discarded, "bytes": report.discarded_bytes},
        "refused": report.refused,
        "requests": report.requests.by_command(),
        f"{report.connection}s": report.associations,
        "steps": list(report.steps),
        "seconds": round(report.seconds, 3),
        "whole_study": None
        if whole is None
        else {
            "studies": list(whole.studies),
            "objects": whole.objects,
            "bytes": whole.bytes,
            "bytes_estimated": whole.estimated,
            "requests": whole.requests,
            "note": whole.note,
        },
        "saved": None if report.saved is None else round(report.saved, 4),
        "starts": starts_json(report),
        "files": [
            {
                "uid": f.key.sop,
                "study": f.key.study,
                "series": f.key.series,
                "sop_class": f.sop_class,
                "modality": f.modality,
                "path": f.path,
                "size": f.size,
                "dependent": f.dependent,
            }
            for f in report.fetched
        ],
    }


def _print_fetch(report: FetchReport, out_dir: Path, verbose: int) -> None:
    line = (
        f"Fetched {_count(report.objects, 'object')} ({_size(report.bytes)}) from "
        f"{report.node} into {out_dir} in {report.seconds:.1f} s"
    )
    if report.dependents:
        line += f", {report.dependents} of them dependents"
    if report.held:
        line += f"; {report.held} already held"
    out.print(line + ".", markup=False)
    if len(report.starts) > 1 or not report.starts:
        complete = sum(1 for s in report.starts if s.complete)
        out.print(f"Starts: {complete} of {len(report.starts)} complete.", markup=False)
    if report.missing:
        out.print(f"Missing {len(report.missing)}:")
        for missing in report.missing:
            out.print(f"  {missing.describe()}", markup=False)
    over = _count(report.associations, report.connection)
    cost = f"Requests: {report.requests.describe()} over {over}"
    if report.discarded:
        cost += (
            f"; {_count(report.discarded, 'object')} ({_size(report.discarded_bytes)}) "
            "moved but not kept"
        )
    if report.refused:
        cost += f"; {report.refused} sent unasked and refused"
    out.print(cost + ".", markup=False)
    whole = report.whole_study
    if whole is not None:
        studies = _count(len(whole.studies), "study", "studies")
        if whole.objects is None:
            out.print(f"A whole-study move: unknown ({whole.note}).", markup=False)
        else:
            moved = report.moved_objects
            out.print(
                f"A whole-study move of the {studies} would have moved "
                f"{_count(whole.objects, 'object')} / ~{_size(whole.bytes or 0)}; this fetch "
                f"moved {_count(moved, 'object')} / {_size(report.moved_bytes)}"
                + (f" ({report.saved:.0%} fewer objects)." if report.saved is not None else "."),
                markup=False,
            )
    if verbose:
        _print_steps(report.steps)


# -- shared ----------------------------------------------------------------------------------------


def _capabilities(catalog: FetchCatalog, node: Node | WebNode, probe: bool) -> Capabilities | None:
    """The last probe's result for ``node`` (probing now with ``probe``), or None: the
    library then assumes a strict server and learns on the way."""
    if probe:
        from dicomref.remote import probe as run_probe

        report = run_probe(node)
        catalog.save_capabilities(report.node, report.capabilities)
        return report.capabilities
    return catalog.load_capabilities(str(node))


def _print_steps(steps: tuple[str, ...]) -> None:
    out.print("Steps:")
    for number, step in enumerate(steps, start=1):
        out.print(f"  {number}. {step}", markup=False)


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover - the loop returns


def register(app: typer.Typer) -> None:
    app.command()(locate)
    app.command()(fetch)
