"""``dicomref serve`` under load, against Orthanc and DCMTK's dcmqrscp in the same run.

1. C-FIND at IMAGE level by SOP Instance UID (Study and Series Instance UID zero-length)
   against a catalog of ``--instances`` (1,000,000) synthetic instances written through
   ``Catalog.add``: median and 99th percentile of the round trip.  Targets: median under
   5 ms, p99 under 20 ms.  Client: DCMTK findscu, every query on one association, each
   round trip read from its log stamped to the microsecond (C: the client is not what is
   measured).  Then the same queries from a stock pynetdicom SCU (bench/_serve_stock.py:
   Nagle's algorithm on, as pynetdicom leaves it; the server acknowledges at once, so no
   request waits for a delayed ACK): median under 5 ms, with its ratio to findscu's.
   Also shown: dicomref's own client (pynetdicom, one reused association).
2. The same query against ``--compare`` (50,000) real CT files (16 x 16 pixels) loaded
   into dicomref (its catalog), Orthanc (REST, 8 uploads at a time) and dcmqrscp
   (dcmqridx): medians and p99s as ratios (theirs / ours).  dcmqrscp 3.6.7 cannot hold
   that many: its index file stops at 32 MiB, 8,032 bytes an instance, so it gets the
   first ``--dcmqrscp`` (4,000) of them; the queries name only those, on every server.
3. C-STORE ingest of ``--ingest`` (2,000) new CT files from DCMTK storescu, on one
   association and on ``--parallel`` (4) at once: objects per second into Orthanc (its
   defaults: every file fdatasync'ed), and into dicomref on a SQLite catalog and on a
   PostgreSQL one (a throwaway server, tests/servers/_postgres.py, durable: fsync and
   synchronous_commit on), each with ``--fsync`` (the default) and with ``--no-fsync``,
   every server holding the 50,000 already.  ``rounds`` (3) rounds, each with new
   objects sent to every server in turn (the order rotating): medians, and dicomref's CPU
   milliseconds per object.  Target: faster than Orthanc.
4. Load: ``--finders`` findscu and ``--storers`` storescu processes at once (16
   associations) against the 1,000,000-instance server with a store: ``--load-finds``
   (10,000) C-FINDs and ``--load-stores`` (2,000) C-STOREs.  Asserted: no error, every
   query finds its one object, every stored object is in the store (no ``.part`` left)
   and found by C-FIND afterwards, nothing logged at WARNING or above.

Run inside the private network namespace (Orthanc and dcmqrscp listen on every interface):

    scripts/in-netns.sh .venv/bin/python bench/serve.py [--quick] [--only find|ingest]

``--only ingest`` still loads part 2's files into dicomref's catalog and Orthanc first:
both servers hold them while they ingest, as in a whole run.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pydicom.dataset import Dataset  # noqa: E402

import _serve_dcmtk as dcmtk  # noqa: E402
import _serve_load  # noqa: E402
from _serve_data import CtSet, build_catalog, small_ct  # noqa: E402
from _serve_proc import AE_TITLE, ServeProcess  # noqa: E402
from catalog_lookup import uid  # noqa: E402
from dicomref._dimse._node import Node, Timeouts  # noqa: E402
from dicomref.catalog import Catalog  # noqa: E402
from dicomref.remote.transport._dimse_client import DimseClient  # noqa: E402
from servers import (  # noqa: E402
    DcmqrscpServer,
    OrthancServer,
    PostgresServer,
    ServerUnavailableError,
    dcmtk_program,
    require_private_netns,
)

TIMEOUTS = Timeouts(connect=10, acse=30, dimse=120, network=120)
MEDIAN_TARGET_MS = 5.0
P99_TARGET_MS = 20.0
UPLOADS = 8
DCMQRIDX_CHUNK = 1000


@dataclass(frozen=True)
class Sizes:
    instances: int = 1_000_000
    queries: int = 1000
    compare: int = 50_000
    dcmqrscp: int = 4000
    compare_queries: int = 500
    ingest: int = 2000
    rounds: int = 3
    parallel: int = 4
    load_finds: int = 10_000
    load_stores: int = 2000
    finders: int = 12
    storers: int = 4


QUICK = Sizes(
    instances=100_000,
    queries=300,
    compare=5000,
    dcmqrscp=2000,
    compare_queries=200,
    ingest=400,
    load_finds=1600,
    load_stores=400,
)


# -- printing ------------------------------------------------------------------------------------

RESULTS: list[tuple[str, bool]] = []


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def note(text: str) -> None:
    print(f"   {text}", flush=True)


def verdict(what: str, figure: str, target: str, passed: bool) -> None:
    RESULTS.append((what, passed))
    print(f"   {what:<44} {figure:>16}   {target:<24} {'PASS' if passed else 'MISS'}", flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def timed(label: str, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    note(f"{label}: {seconds:.0f} s")
    return seconds


# -- C-FIND --------------------------------------------------------------------------------------


def findscu_latency(port: int, ae: str, queries: Sequence[Path], log: Path) -> list[float]:
    """Round trips (ms) of findscu's queries; every one must find exactly one object."""
    run = dcmtk.find(ae, port, queries, log)
    wrong = [n for n in run.matches if n != 1]
    if not run.ok or len(run.times_ms) != len(queries) or wrong:
        raise SystemExit(
            f"findscu against {ae}: exit {run.returncode}, {len(run.times_ms)} of "
            f"{len(queries)} answered, {len(wrong)} without exactly one match (see {log})"
        )
    return run.times_ms


def client_latency(port: int, sop_uids: Sequence[str]) -> list[float]:
    """Round trips (ms) of dicomref's own client on one reused association."""
    node = Node(AE_TITLE, "127.0.0.1", port, our_ae="BENCH", timeouts=TIMEOUTS)
    times = []
    with DimseClient(node) as client:
        client.echo()
        for sop in sop_uids:
            ds = Dataset()
            ds.StudyInstanceUID = ""
            ds.SeriesInstanceUID = ""
            ds.SOPInstanceUID = sop
            started = time.perf_counter()
            rows = client.find("IMAGE", ds)
            times.append((time.perf_counter() - started) * 1000)
            assert len(rows) == 1, (sop, rows)
    return times


def stock_latency(
    port: int, sop_uids: Sequence[str], work: Path, *, nodelay: bool = False
) -> list[float]:
    """Round trips (ms) of a stock pynetdicom SCU (Nagle on, unless ``nodelay``), in its
    own process."""
    uid_file = work / "stock-uids.txt"
    uid_file.write_text("\n".join(sop_uids))
    script = Path(__file__).resolve().parent / "_serve_stock.py"
    done = subprocess.run(
        [sys.executable, str(script), str(port), AE_TITLE, str(uid_file)]
        + (["--nodelay"] if nodelay else []),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"stock pynetdicom SCU failed: {done.stderr[-2000:]}")
    lost = re.search(r"lost (\d+)", done.stderr)
    if lost and int(lost[1]):
        note(f"(pynetdicom's own race, its issue #875, dropped {lost[1]} of its matches)")
    return [float(line) for line in done.stdout.split()]


def million(sizes: Sizes, work: Path) -> None:
    heading(f"C-FIND IMAGE by SOP Instance UID, catalog of {sizes.instances:,} instances")
    url = f"sqlite:///{work / 'million.sqlite'}"
    timed(
        f"catalog of {sizes.instances:,} synthetic instances built",
        lambda: build_catalog(url, sizes.instances),
    )
    rng = random.Random(5)
    sop_uids = [uid("1", rng.randrange(sizes.instances)) for _ in range(sizes.queries)]
    queries = dcmtk.write_queries(work / "q-million", sop_uids)
    with ServeProcess(url, work / "serve-million.log", store=work / "store-million") as serve:
        times = findscu_latency(serve.port, AE_TITLE, queries, work / "findscu-million.log")
        note(f"DCMTK findscu, {len(times):,} queries on one association:")
        verdict(
            "median",
            f"{median(times):.2f} ms",
            f"target < {MEDIAN_TARGET_MS:g} ms",
            median(times) < MEDIAN_TARGET_MS,
        )
        verdict(
            "99th percentile",
            f"{p99(times):.2f} ms",
            f"target < {P99_TARGET_MS:g} ms",
            p99(times) < P99_TARGET_MS,
        )
        stock = stock_latency(serve.port, sop_uids, work)
        note(
            f"a stock pynetdicom SCU (Nagle's algorithm on, pynetdicom's defaults), "
            f"{len(stock):,} queries on one association:"
        )
        verdict(
            "median (stock pynetdicom, Nagle on)",
            f"{median(stock):.2f} ms",
            f"target < {MEDIAN_TARGET_MS:g} ms",
            median(stock) < MEDIAN_TARGET_MS,
        )
        reference = stock_latency(serve.port, sop_uids, work, nodelay=True)
        note(
            f"stock pynetdicom p99 {p99(stock):.2f} ms; its median is "
            f"{median(stock) / median(times):.2f}x DCMTK findscu's and "
            f"{median(stock) / median(reference):.2f}x the same client's with TCP_NODELAY "
            f"({median(reference):.2f} ms: what the client costs itself)"
        )
        own = client_latency(serve.port, sop_uids)
        note(
            f"dicomref's own client (pynetdicom, one reused association): median "
            f"{median(own):.2f} ms, p99 {p99(own):.2f} ms (its Python costs ~2.5 ms a query)"
        )
        load(sizes, work, serve)


def load(sizes: Sizes, work: Path, serve: ServeProcess) -> None:
    associations = sizes.finders + sizes.storers
    heading(
        f"Load: {associations} associations at once, {sizes.load_finds:,} C-FINDs "
        f"({sizes.finders} findscu) and {sizes.load_stores:,} C-STOREs ({sizes.storers} storescu)"
    )
    objects = CtSet(small_ct(work / "ct16.dcm"), work / "load-set", 9, sizes.load_stores).write()
    serve.wait_idle()
    result = _serve_load.run(
        serve,
        work / "load",
        catalog_size=sizes.instances,
        finds=sizes.load_finds,
        finders=sizes.finders,
        objects=objects,
        storers=sizes.storers,
    )
    note(
        f"{result.seconds:.1f} s: {result.finds / result.seconds:.0f} C-FIND/s and "
        f"{result.stores / result.seconds:.0f} C-STORE/s together; C-FIND under load median "
        f"{result.median_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; "
        f"server CPU {result.server_cpu_s:.0f} s"
    )
    for error in result.errors[:10]:
        note(f"ERROR {error}")
    verdict(
        "no error, no lost object, all findable",
        f"{result.finds:,} + {result.stores:,}",
        f"{len(result.errors)} problems",
        not result.errors,
    )


# -- the comparison ------------------------------------------------------------------------------


def upload(orthanc: OrthancServer, paths: Sequence[Path]) -> None:
    def one(path: Path) -> None:
        request = urllib.request.Request(
            orthanc.base_url + "/instances",
            data=path.read_bytes(),
            headers={"Content-Type": "application/dicom"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()

    with ThreadPoolExecutor(UPLOADS) as pool:
        list(pool.map(one, paths))


def copy_catalog(source: Path, target: Path) -> str:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


def ingest_rate(
    port: int, ae: str, parts: Sequence[Sequence[Path]], logs: Path, name: str
) -> float:
    """Objects per second that storescu processes (one per part, all at once) store."""
    started = time.perf_counter()
    processes = [
        dcmtk.start_store(ae, port, part, logs / f"storescu-{name}-{i}.log")
        for i, part in enumerate(parts)
    ]
    runs = [
        dcmtk.finish_store(p, logs / f"storescu-{name}-{i}.log") for i, p in enumerate(processes)
    ]
    seconds = time.perf_counter() - started
    for part, run in zip(parts, runs, strict=True):
        if run.succeeded != len(part):
            raise SystemExit(
                f"storescu into {name}: {run.succeeded} of {len(part)} stored (see {run.log})"
            )
    return sum(len(p) for p in parts) / seconds


def compare(sizes: Sizes, work: Path, *, find: bool = True) -> None:
    """Part 2 (without ``find``: only what it loads into dicomref and Orthanc), then 3."""
    heading(
        f"The same C-FIND on {sizes.compare:,} CT files in dicomref, Orthanc and dcmqrscp "
        f"(dcmqrscp: {sizes.dcmqrscp:,}, its index's limit)"
        if find
        else f"{sizes.compare:,} CT files loaded into dicomref and Orthanc"
    )
    template = small_ct(work / "ct16.dcm")
    files = CtSet(template, work / "compare-set", 1, sizes.compare)
    timed(f"{sizes.compare:,} files written", files.write)
    catalog_path = work / "compare.sqlite"
    url = f"sqlite:///{catalog_path}"

    def index() -> None:
        with Catalog(url) as catalog:
            catalog.add(files.summaries())

    timed("dicomref: catalog written (Catalog.add of what read_object says of each)", index)
    orthanc = OrthancServer(work / "orthanc")
    with orthanc:
        seconds = timed(
            f"Orthanc: {sizes.compare:,} files uploaded ({UPLOADS} REST uploads at a time)",
            lambda: upload(orthanc, files.paths),
        )
        note(f"  ({sizes.compare / seconds:.0f} objects/s)")
        if find:
            compare_finds(sizes, work, files, url, orthanc)
        ingest(sizes, work, orthanc, catalog_path, files, template)


def compare_finds(sizes: Sizes, work: Path, files: CtSet, url: str, orthanc: OrthancServer) -> None:
    """Part 2's queries, against dicomref, Orthanc (loaded already) and dcmqrscp."""
    rng = random.Random(9)
    sop_uids = [c.sop for c in rng.sample(files.copies[: sizes.dcmqrscp], sizes.compare_queries)]
    queries = dcmtk.write_queries(work / "q-compare", sop_uids)
    with DcmqrscpServer(work / "dcmqrscp") as dcmqrscp:
        first = files.paths[: sizes.dcmqrscp]

        def index_dcmqrscp() -> None:
            for start in range(0, len(first), DCMQRIDX_CHUNK):
                dcmqrscp.load(first[start : start + DCMQRIDX_CHUNK])

        timed(f"dcmqrscp: {sizes.dcmqrscp:,} files indexed (dcmqridx)", index_dcmqrscp)
        with ServeProcess(url, work / "serve-compare.log") as serve:
            ours = findscu_latency(serve.port, AE_TITLE, queries, work / "findscu-ours.log")
        theirs = {
            "Orthanc": findscu_latency(
                orthanc.port, orthanc.ae, queries, work / "findscu-orthanc.log"
            ),
            "dcmqrscp": findscu_latency(
                dcmqrscp.port, dcmqrscp.ae, queries, work / "findscu-dcmqrscp.log"
            ),
        }
        note(f"DCMTK findscu, {len(queries)} queries each on one association:")
        note(f"  dicomref  median {median(ours):6.2f} ms   p99 {p99(ours):6.2f} ms")
        for name, times in theirs.items():
            note(f"  {name:<9} median {median(times):6.2f} ms   p99 {p99(times):6.2f} ms")
        for name, times in theirs.items():
            note(
                f"  {name} / dicomref: median {median(times) / median(ours):.2f}x, "
                f"p99 {p99(times) / p99(ours):.2f}x (no target; above 1x: dicomref answers faster)"
            )


@dataclass
class Ingested:
    """One server's ingest rates (objects/s), a figure per round: 1 and N associations,
    and for dicomref its CPU milliseconds per object with N."""

    one: list[float] = field(default_factory=list)
    many: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Variant:
    """``dicomref serve`` on one catalog back end, with or without ``--fsync``."""

    name: str
    url: str
    store: Path
    options: tuple[str, ...]


def ingest_variants(work: Path, catalog: Path, pg: PostgresServer | None) -> list[Variant]:
    """dicomref's ingest set-ups, each with its own copy of the catalog (part 2's files;
    on PostgreSQL a database of its own, loaded by :func:`load_pg`) and its own store."""
    variants = []
    backends = [("SQLite", "sqlite")] + ([("PostgreSQL", "pg")] if pg else [])
    for backend, tag in backends:
        for mode, options in (("--fsync", ()), ("--no-fsync", ("--no-fsync",))):
            name = f"{backend} {mode}"
            slug = f"{tag}-{mode.strip('-')}"
            if tag == "sqlite":
                url = copy_catalog(catalog, work / f"ingest-{slug}.sqlite")
            else:
                assert pg is not None
                url = pg.url(f"ingest_{slug.replace('-', '_')}")
            variants.append(Variant(name, url, work / f"store-{slug}", options))
    return variants


def load_pg(server: PostgresServer, variants: Sequence[Variant], files: CtSet) -> None:
    """Part 2's files into each PostgreSQL variant's catalog (its own database)."""
    for variant in variants:
        if variant.url.startswith("postgresql"):
            server.create_database(variant.url.rsplit("/", 1)[1])
            with Catalog(variant.url) as catalog:
                catalog.add(files.summaries())


def ingest(
    sizes: Sizes, work: Path, orthanc: OrthancServer, catalog: Path, files: CtSet, template: Path
) -> None:
    """Part 3: ``--rounds`` rounds; in each, a new set of objects goes to every server in
    turn (the order rotating from round to round), on 1 and on N associations; medians."""
    heading(
        f"C-STORE ingest of {sizes.ingest:,} CT files from DCMTK storescu, each server holding "
        f"{sizes.compare:,}: {sizes.rounds} rounds, medians"
    )
    pg: PostgresServer | None = PostgresServer(work / "postgres", durable=True)
    try:
        assert pg is not None
        pg.start()
    except ServerUnavailableError as exc:
        note(f"PostgreSQL not measured: {exc}")
        pg = None
    try:
        variants = ingest_variants(work, catalog, pg)
        if pg is not None:
            timed(
                "PostgreSQL (durable: fsync, synchronous_commit on): catalogs loaded",
                lambda: load_pg(pg, variants, files),
            )
        rates = ingest_rounds(sizes, work, orthanc, variants, template)
    finally:
        if pg is not None:
            pg.stop()
    report_ingest(sizes, rates)


def ingest_rounds(
    sizes: Sizes, work: Path, orthanc: OrthancServer, variants: Sequence[Variant], template: Path
) -> dict[str, Ingested]:
    logs = work / "ingest-logs"
    logs.mkdir()
    rates = {name: Ingested() for name in ["Orthanc", *(v.name for v in variants)]}
    before = int(orthanc.rest("/statistics")["CountInstances"])
    for round_ in range(sizes.rounds):
        tag = 20 + 2 * round_
        single = CtSet(template, work / f"ingest-one-{round_}", tag, sizes.ingest).write()
        spread = CtSet(template, work / f"ingest-many-{round_}", tag + 1, sizes.ingest).write()
        servers: list[Variant | None] = [None, *variants]
        shift = round_ % len(servers)
        for variant in servers[shift:] + servers[:shift]:
            name = "Orthanc" if variant is None else variant.name
            slug = f"{round_}-{name.replace(' ', '').replace('-', '')}"
            if variant is None:
                rates[name].one.append(
                    ingest_rate(orthanc.port, orthanc.ae, [single.paths], logs, f"{slug}-1")
                )
                rates[name].many.append(
                    ingest_rate(
                        orthanc.port, orthanc.ae, spread.split(sizes.parallel), logs, f"{slug}-n"
                    )
                )
                continue
            log = work / f"serve-ingest-{slug}.log"
            with ServeProcess(
                variant.url, log, store=variant.store, options=variant.options
            ) as serve:
                rates[name].one.append(
                    ingest_rate(serve.port, AE_TITLE, [single.paths], logs, f"{slug}-1")
                )
                cpu = serve.cpu_seconds()
                rates[name].many.append(
                    ingest_rate(
                        serve.port, AE_TITLE, spread.split(sizes.parallel), logs, f"{slug}-n"
                    )
                )
                rates[name].cpu_ms.append((serve.cpu_seconds() - cpu) * 1000 / sizes.ingest)
                problems = serve.problems()
            if problems:
                raise SystemExit(f"{name}: {problems[:3]} (see {log})")
        shutil.rmtree(single.folder)
        shutil.rmtree(spread.folder)
    sent = sizes.rounds * 2 * sizes.ingest
    assert int(orthanc.rest("/statistics")["CountInstances"]) == before + sent
    for variant in variants:
        with Catalog(variant.url) as opened:
            held = opened.counts()["instances"]
        stored = len(list(variant.store.rglob("*.dcm")))
        if held != sizes.compare + sent or stored != sent:
            raise SystemExit(f"{variant.name}: {held} instances indexed, {stored} files stored")
    return rates


def report_ingest(sizes: Sizes, rates: dict[str, Ingested]) -> None:
    note(
        f"objects/s (median of {sizes.rounds})   one association   "
        f"{sizes.parallel} associations   server CPU ms/object ({sizes.parallel})"
    )
    for name, got in rates.items():
        cpu = f"{median(got.cpu_ms):10.2f}" if got.cpu_ms else ""
        note(f"  {name:<22} {median(got.one):14.0f} {median(got.many):18.0f} {cpu:>22}")
    base = rates["Orthanc"]
    for name, got in rates.items():
        if name == "Orthanc":
            continue
        for label, ours, theirs in (
            ("one association", got.one, base.one),
            (f"{sizes.parallel} associations", got.many, base.many),
        ):
            ratio = median(ours) / median(theirs)
            verdict(f"{name} / Orthanc, {label}", f"{ratio:.2f}x", "target > 1x", ratio > 1)


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a try-out")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument(
        "--only",
        choices=("find", "ingest"),
        help="run parts 1 and 4 only (find), or part 3 only (ingest: the catalog and Orthanc "
        "are still loaded with the files of part 2 first, so that both servers hold them)",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    require_private_netns("bench/serve.py (Orthanc and dcmqrscp)")
    for program in ("findscu", "storescu", "dcmqridx", "dcmqrscp"):
        if dcmtk_program(program) is None:  # DCMTK's, not pynetdicom's scripts of those names
            raise SystemExit(f"DCMTK's {program} not found: apt-get install dcmtk")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-serve-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        if args.only != "ingest":
            million(sizes, work)
        if args.only != "find":
            compare(sizes, work, find=args.only is None)
    met = sum(passed for _, passed in RESULTS)
    heading(f"{met} of {len(RESULTS)} targets met in {time.perf_counter() - started:.0f} s")
    for what, passed in RESULTS:
        if not passed:
            note(f"MISS: {what}")


if __name__ == "__main__":
    main()
