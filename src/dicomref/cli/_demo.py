"""``dicomref demo``: the main job, end to end, with nothing but the installed package.

A generated patient is put on the built-in Q/R server in strict mode (it behaves like a
strictly hierarchical PACS: no relational queries, no SOP-UID-only lookups) on a free
loopback port.  dicomref probes it, fetches one RT Plan with everything it references
and the dose computed for it, and says what moved, how many requests it took and what a
whole-study download would have moved.  Then the local catalog shows the plan and checks
the fetched set.  Everything lives in a temporary folder (``--keep DIR`` keeps it), the
server is stopped at the end, and the user's own catalog is never touched.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dicomref.cli._catalog_cmds import _print_findings, _tree
from dicomref.cli._common import VerboseOption, maps_errors, out, setup_logging
from dicomref.cli._fetch_cmds import _print_fetch
from dicomref.cli._probe_cmd import _print as _print_probe
from dicomref.errors import UsageError

if TYPE_CHECKING:
    from dicomref.sample import Sample

PACS_AE = "DEMO_PACS"


@maps_errors
def demo(
    keep: Annotated[
        Path | None,
        typer.Option(help="Write the sample, the fetched files and both catalogs here."),
    ] = None,
    slices: Annotated[int, typer.Option(help="CT slices in the sample.")] = 40,
    verbose: VerboseOption = 0,
) -> None:
    """Fetch a plan with what it references from a strict PACS, and say what it saved."""
    setup_logging(verbose)
    if keep is not None:
        if keep.exists() and any(keep.iterdir()):
            raise UsageError(f"{keep} is not empty: give an empty or new folder to --keep")
        keep.mkdir(parents=True, exist_ok=True)
        _run(keep, slices, verbose)
        out.print(f"\nFiles and catalogs kept in {keep}")
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dicomref-demo-") as tmp:
        _run(Path(tmp), slices, verbose)


def _add_unreferenced_series(sample: Sample, folder: Path) -> int:
    """A second reconstruction of the planning CT in the same study (as real planning
    studies hold: other kernels, 4D phases, CBCTs) that nothing references: what a
    whole-study download moves for nothing."""
    import pydicom
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True)
    series = generate_uid(entropy_srcs=[sample.patient_id, "demo-reconstruction"])
    for n, ct in enumerate(sample.ct, start=1):
        ds = pydicom.dcmread(ct.path)
        ds.SeriesInstanceUID = series
        ds.SeriesNumber = 99
        ds.SeriesDescription = "CT soft-tissue kernel (not referenced)"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
            entropy_srcs=[series, str(n)]
        )
        ds.save_as(folder / f"{n:04d}.dcm")
    return len(sample.ct)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(root: Path, slices: int, verbose: int) -> None:
    from dicomref._dimse._node import DEFAULT_OUR_AE, Node
    from dicomref.catalog import Catalog
    from dicomref.check import Severity, run_checks
    from dicomref.remote import fetch, probe
    from dicomref.sample import generate_sample
    from dicomref.server import Destination, Server, ServerConfig
    from dicomref.show import view_object
    from dicomref.store import ManagedStore

    started = time.perf_counter()
    out.rule("1. A patient on a strict PACS")
    sample = generate_sample(root / "pacs-data", seed=0, slices=slices)
    extra = _add_unreferenced_series(sample, root / "pacs-data" / "study1" / "CT_99")
    pacs_url = f"sqlite:///{root / 'pacs.sqlite'}"
    with Catalog(pacs_url) as pacs_catalog:
        pacs_catalog.scan([sample.root], workers=1)
    store_port = _free_port()
    config = ServerConfig(
        ae_title=PACS_AE,
        port=0,
        strict=True,
        destinations=(Destination(DEFAULT_OUR_AE, "127.0.0.1", store_port),),
        reindex_store=False,
    )
    with Server(config, pacs_url) as server:
        node = Node(PACS_AE, "127.0.0.1", server.port, store_port=store_port)
        out.print(
            f"{len(sample.objects) + extra} objects of patient {sample.patient_id} on {node}: "
            f"a planning CT of {len(sample.ct)} slices and a second reconstruction of it, "
            "2 structure sets in one series, 2 plans, a dose, a SEG, a KOS, and a second "
            "study.  The server is dicomref's own in strict mode (dicomref serve --strict): "
            "it answers only hierarchical queries, like many PACS."
        )
        with Catalog(f"sqlite:///{root / 'local.sqlite'}") as local:
            out.rule(f"2. dicomref probe {node}")
            measured = probe(node)
            local.save_capabilities(measured.node, measured.capabilities)
            _print_probe(measured)

            plan = sample.plans[0]
            out.rule(f"3. dicomref fetch {node} PLAN --with-dependents --out fetched")
            report = fetch(
                node,
                [plan.sop_instance],
                out=ManagedStore(root / "fetched"),
                catalog=local,
                capabilities=measured.capabilities,
                with_dependents=True,
            )
            _print_fetch(report, root / "fetched", verbose)

            out.rule("4. dicomref show PLAN (the local catalog)")
            out.print(_tree(view_object(local, plan.sop_instance)))

            out.rule("5. dicomref check (the fetched set)")
            findings = run_checks(local)
            _print_findings(findings)
    errors = sum(f.severity is Severity.ERROR for f in findings)
    out.rule()
    out.print(
        f"The server is stopped; {errors or 'no'} errors in what was fetched. "
        f"Demo took {time.perf_counter() - started:.1f} s."
    )


def register(app: typer.Typer) -> None:
    app.command()(demo)
