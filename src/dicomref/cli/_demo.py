"""``dicomref demo``: the main job, end to end, on a generated patient.

Everything happens in a temporary folder with its own catalog, which is removed at the
end (``--keep DIR`` keeps the files there instead), so the demo never touches the user's
own catalog and leaves nothing running.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from dicomref.catalog import Catalog
from dicomref.check import Severity, run_checks
from dicomref.cli._catalog_cmds import _print_findings, _print_scan, _tree
from dicomref.cli._common import VerboseOption, maps_errors, out, setup_logging
from dicomref.errors import UsageError
from dicomref.sample import generate_sample
from dicomref.show import view_object


@maps_errors
def demo(
    keep: Annotated[
        Path | None,
        typer.Option(help="Write the sample and its catalog here and keep them (must be empty)."),
    ] = None,
    slices: Annotated[int, typer.Option(help="CT slices in the sample.")] = 40,
    verbose: VerboseOption = 0,
) -> None:
    """Generate a sample patient, index it, show a plan's references and check the set."""
    setup_logging(verbose)
    if keep is not None:
        if keep.exists() and any(keep.iterdir()):
            raise UsageError(f"{keep} is not empty: give an empty or new folder to --keep")
        keep.mkdir(parents=True, exist_ok=True)
        _run(keep, slices)
        out.print(f"\nFiles and catalog kept in {keep}")
        return
    with tempfile.TemporaryDirectory(prefix="dicomref-demo-") as tmp:
        _run(Path(tmp), slices)


def _run(root: Path, slices: int) -> None:
    started = time.perf_counter()
    data = root / "patient"
    out.rule("1. A sample patient")
    sample = generate_sample(data, seed=0, slices=slices)
    out.print(
        f"Generated {len(sample.objects)} files in {data}: {len(sample.ct)} CT slices, "
        f"{len(sample.structure_sets)} structure sets in one series, "
        f"{len(sample.plans)} plans, 1 dose, a SEG, a KOS and a second study."
    )
    plan = sample.plans[0]
    dropped = sample.ct[len(sample.ct) // 2]
    dropped.path.unlink()
    out.print(f"Deleted one CT slice ({dropped.path.name}), as incomplete exports do.")

    with Catalog(f"sqlite:///{root / 'catalog.sqlite'}") as catalog:
        out.rule("2. dicomref scan")
        _print_scan(catalog.scan([data]))

        out.rule("3. dicomref show PLAN")
        out.print(_tree(view_object(catalog, plan.sop_instance)))

        out.rule("4. dicomref check")
        findings = run_checks(catalog)
        _print_findings(findings)
    errors = sum(f.severity is Severity.ERROR for f in findings)
    out.rule()
    out.print(
        f"One slice gone: the catalog names every object that needs it ({errors} errors), "
        f"where each names it, and where it should be. "
        f"Demo took {time.perf_counter() - started:.1f} s."
    )


def register(app: typer.Typer) -> None:
    app.command()(demo)
