"""Scale-out of ``scan --cluster``: files/s with 1, 2 and 4 Dask worker processes, with a
simulated per-file read latency of network storage and without.

Each configuration starts a real cluster on loopback (``dask scheduler`` and N nanny-less
``dask worker`` processes of one thread each; start-up and a warm-up scan not timed), then
scans the same files into a new SQLite catalog, best of ``--repeat`` runs.  The latency is
a sleep in a bench-only reader (bench/_cluster_reader.py) before the scan's own reader: the
knob ``--latency-ms`` (default 2).  Scaling efficiency at N workers = files/s at N / (N x
files/s at 1); the goal is >= 0.8 at 4 workers with latency.  Without latency the work is
CPU-bound and this machine's cores bound it: that row is reported, not judged.

    .venv/bin/python bench/scan_cluster.py [--copies 24] [--latency-ms 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _cluster_reader import LatencyReader  # noqa: E402
from dicomref.catalog import Catalog  # noqa: E402
from dicomref.catalog._cluster import ClusterScan  # noqa: E402
from dicomref.catalog._engine import open_engine  # noqa: E402
from dicomref.extraction import dicomdir_files  # noqa: E402
from dicomref.sample import generate_sample  # noqa: E402
from servers._dask import DaskCluster  # noqa: E402

WORKERS = (1, 2, 4)
GOAL = 0.8
#: Files per task: the cost of a task (a round trip to the scheduler, a transaction, the
#: ledger) is a few milliseconds, ~2 % of a batch of 100 files at 2 ms each.
BATCH = 100


def _corpus(root: Path, copies: int) -> int:
    """``copies`` copies of a generated patient (small files, as a CT series has)."""
    first = root / "copy00"
    generate_sample(first, slices=100)
    for n in range(1, copies):
        shutil.copytree(first, root / f"copy{n:02d}")
    return sum(1 for _ in root.rglob("*.dcm"))


def _scan(folder: Path, data: Path, address: str, latency: float, run: int) -> float:
    """Seconds to scan ``data`` into a new catalog on the cluster at ``address``."""
    url = f"sqlite:///{folder / f'catalog-{run}.sqlite'}"
    Catalog(url).close()  # created and migrated before the clock starts
    engine = open_engine(url)
    try:
        scan = ClusterScan(
            engine,
            url,
            address,
            reader=LatencyReader(latency),
            lister=dicomdir_files,
            progress=None,
            batch_files=BATCH,
        )
        started = time.perf_counter()
        report = scan.run([data])
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    if report.failed or report.indexed != report.files:
        raise SystemExit(f"the scan did not index every file: {report}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=24, help="copies of the sample patient")
    parser.add_argument("--latency-ms", type=float, default=2.0, help="per-file read latency")
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration (best)")
    args = parser.parse_args()
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-cluster-") as tmp:
        work = Path(tmp)
        files = _corpus(work / "data", args.copies)
        print(f"{files} files; batches of {BATCH}; {os.cpu_count()} CPUs", flush=True)
        rates: dict[tuple[float, int], float] = {}
        run = 0
        for workers in WORKERS:
            with DaskCluster(work / f"dask-{workers}", workers=workers, env=env) as cluster:
                # Warm-up, not timed: each worker imports dicomref and pydicom once (~0.5 s).
                run += 1
                _scan(work, work / "data" / "copy00", cluster.address, 0.0, run)
                for latency in (args.latency_ms / 1000, 0.0):
                    best = float("inf")
                    for _ in range(args.repeat):
                        run += 1
                        best = min(best, _scan(work, work / "data", cluster.address, latency, run))
                    rates[latency, workers] = files / best
                    print(
                        f"  {workers} worker(s), latency {latency * 1000:.0f} ms: "
                        f"{files / best:,.0f} files/s ({best:.2f} s)",
                        flush=True,
                    )
    verdict = True
    for latency in (args.latency_ms / 1000, 0.0):
        one = rates[latency, 1]
        ratios = "  ".join(
            f"{n}w {rates[latency, n] / one:.2f}x (eff {rates[latency, n] / (n * one):.2f})"
            for n in WORKERS
        )
        efficiency = rates[latency, 4] / (4 * one)
        if latency:
            ok = efficiency >= GOAL
            verdict &= ok
            judged = f"{'PASS' if ok else 'FAIL'} (efficiency at 4 >= {GOAL})"
        else:
            judged = "not judged: CPU-bound on this machine's cores"
        print(f"latency {latency * 1000:.0f} ms: {ratios}  {judged}")
    return 0 if verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())
