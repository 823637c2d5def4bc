"""``dicomref probe NODE``: what a server really supports, measured, and cached in the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from dicomref.cli._common import (
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
    StorePortOption,
    TlsCaOption,
    TlsCertOption,
    TlsKeyOption,
    node_from_cli,
)

if TYPE_CHECKING:
    from dicomref.remote import ProbeReport


@maps_errors
def probe(
    node: NodeArg,
    ae: OurAeOption = None,
    store_port: StorePortOption = None,
    config: ConfigOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    tls_ca: TlsCaOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Measure what a query/retrieve server really does, with real requests.

    Finds an object on the server by itself and asks for it in every way dicomref may
    use; the result is kept in the catalog for locate and fetch.  C-MOVE is measured
    only when the server knows our AE title at --store-port.  Exit code 0 whenever the
    probe ran, whatever the server supports.
    """
    from dicomref.catalog import Catalog
    from dicomref.remote import probe as run_probe

    setup_logging(verbose)
    target = node_from_cli(
        node,
        ae=ae,
        store_port=store_port,
        config=config,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
    )
    with Catalog(db) as catalog:  # opened first: a catalog that cannot be used fails fast
        report = run_probe(target)
        catalog.save_capabilities(report.node, report.capabilities)
    if json_out:
        print_json(report)
    else:
        _print(report)


def _print(report: ProbeReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from dicomref.remote.probing._report import Outcome

    styles = {Outcome.YES: "green", Outcome.NO: "red", Outcome.UNKNOWN: "yellow"}
    out.print(f"{escape(report.node)}: probed at {report.measured_at} in {report.seconds:.1f} s")
    if report.instance is None:
        out.print(
            "The server returned no instance to probe with: only what needs none was measured."
        )
    else:
        instance = report.instance
        out.print(
            f"Probed with SOP Instance {instance.sop} "
            f"({instance.modality or 'no modality'}, series {instance.series})",
            markup=False,
        )
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("")
    table.add_column("test")
    table.add_column("request")
    table.add_column("result")
    for result in report.results:
        style = styles[result.outcome]
        table.add_row(
            f"[{style}]{result.outcome.mark}[/]",
            escape(result.name),
            escape(result.request),
            escape(result.detail),
        )
    out.print(table)
    out.print("✓ yes   ✗ no (refused, or success without the result)   ? not measured")


def register(app: typer.Typer) -> None:
    app.command()(probe)
