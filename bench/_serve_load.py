"""The load benchmark of bench/serve.py: many associations at once, C-FIND and C-STORE.

``finders`` findscu processes query random SOP Instance UIDs of the catalog (each UID is
there: every query must find exactly one match) while ``storers`` storescu processes
send new CT files; every association is open at the same time.  Afterwards every stored
object must be in the store folder (no ``.part`` left), and be found by C-FIND (UID lists
of 100, dicomref's own client), and the server must have logged no warning or error.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

import _serve_dcmtk as dcmtk
from _serve_data import CtSet
from _serve_proc import AE_TITLE, ServeProcess
from catalog_lookup import uid
from dicomref._dimse._node import Node, Timeouts
from dicomref.remote.transport._dimse_client import DimseClient

LIST_SIZE = 100
TIMEOUTS = Timeouts(connect=10, acse=30, dimse=120, network=120)


@dataclass
class LoadResult:
    seconds: float
    finds: int
    stores: int
    find_times_ms: list[float]
    server_cpu_s: float
    errors: list[str] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.find_times_ms) if self.find_times_ms else float("nan")

    @property
    def p99_ms(self) -> float:
        times = sorted(self.find_times_ms)
        return times[max(0, int(len(times) * 0.99) - 1)] if times else float("nan")


def findable(port: int, sop_uids: Sequence[str]) -> set[str]:
    """The SOP Instance UIDs a C-FIND by UID list finds (dicomref's client, lists of 100)."""
    node = Node(AE_TITLE, "127.0.0.1", port, our_ae="BENCH", timeouts=TIMEOUTS)
    found: set[str] = set()
    with DimseClient(node) as client:
        for start in range(0, len(sop_uids), LIST_SIZE):
            ds = Dataset()
            ds.SOPInstanceUID = list(sop_uids[start : start + LIST_SIZE])
            found.update(str(row.SOPInstanceUID) for row in client.find("IMAGE", ds))
    return found


def run(
    serve: ServeProcess,
    work: Path,
    *,
    catalog_size: int,
    finds: int,
    finders: int,
    objects: CtSet,
    storers: int,
) -> LoadResult:
    rng = random.Random(16)
    groups = [
        dcmtk.write_queries(
            work / f"finder{i}",
            [
                uid("1", rng.randrange(catalog_size))
                for _ in range(finds // finders + (i < finds % finders))
            ],
        )
        for i in range(finders)
    ]
    parts = objects.split(storers)
    cpu_before = serve.cpu_seconds()
    started = time.perf_counter()
    find_processes = [
        (
            dcmtk.start_find(AE_TITLE, serve.port, group, work / f"finder{i}.log"),
            work / f"finder{i}.log",
        )
        for i, group in enumerate(groups)
    ]
    store_processes = [
        (
            dcmtk.start_store(AE_TITLE, serve.port, part, work / f"storer{i}.log"),
            work / f"storer{i}.log",
        )
        for i, part in enumerate(parts)
    ]
    find_runs = [dcmtk.finish_find(process, log) for process, log in find_processes]
    store_runs = [dcmtk.finish_store(process, log) for process, log in store_processes]
    seconds = time.perf_counter() - started
    result = LoadResult(
        seconds,
        sum(len(r.times_ms) for r in find_runs),
        sum(r.succeeded for r in store_runs),
        [t for r in find_runs for t in r.times_ms],
        serve.cpu_seconds() - cpu_before,
    )
    for group, found in zip(groups, find_runs, strict=True):
        if not found.ok or len(found.matches) != len(group):
            result.errors.append(
                f"{found.log.name}: exit {found.returncode}, "
                f"{len(found.matches)} of {len(group)} queries answered"
            )
        wrong = [n for n in found.matches if n != 1]
        if wrong:
            result.errors.append(f"{found.log.name}: {len(wrong)} queries without exactly 1 match")
    for part, stored in zip(parts, store_runs, strict=True):
        if stored.returncode != 0 or stored.succeeded != len(part):
            result.errors.append(
                f"{stored.log.name}: exit {stored.returncode}, "
                f"{stored.succeeded} of {len(part)} stored"
            )
    sent = {c.sop for c in objects.copies}
    missing = sent - findable(serve.port, sorted(sent))
    if missing:
        result.errors.append(f"{len(missing)} stored objects not found by C-FIND")
    assert serve.store is not None
    files = list(serve.store.rglob("*.dcm"))
    leftovers = list(serve.store.rglob(".*.part"))
    if len(files) != len(sent) or leftovers:
        result.errors.append(
            f"store holds {len(files)} files for {len(sent)} objects, {len(leftovers)} .part files"
        )
    result.errors += serve.problems()
    return result
