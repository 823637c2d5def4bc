"""The web page's routes on a large catalog: do pages stay fast when the catalog grows?

Builds a catalog holding a generated patient (scanned: 40-slice CT, structure sets, plans,
dose, SEG, KOS) and ``--instances`` synthetic CT instances besides (200,000 by default, in
1,000-instance studies of 100-instance series, each naming two others: bench/catalog_lookup.py's
objects), then times each page in-process (Starlette's TestClient: the server's work, no
browser): find by Patient ID, the home page with its recent scans, the planning study, the
plan's object page, the structure set's graph JSON (depth 2), a synthetic CT's object page.
The baseline, measured in the same run, is the same pages on a catalog of the generated
patient alone: the ratio shows what the other instances cost (ideal: about 1x).

    .venv/bin/python bench/web_page.py [--instances 200000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from catalog_lookup import objects, uid
from dicomref.catalog import Catalog
from dicomref.sample import Sample, generate_sample
from dicomref.server.page import page_routes

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's note about httpx, at import
    from starlette.applications import Starlette
    from starlette.testclient import TestClient


def pages(sample: Sample) -> dict[str, str]:
    plan, ss = sample.plans[0].sop_instance, sample.structure_sets[0].sop_instance
    return {
        "find by Patient ID": f"/?q={sample.patient_id}",
        "home (recent scans)": "/",
        "study (RT chain, findings)": f"/studies/{quote(sample.study_uids[0])}",
        "object (plan)": f"/objects/{quote(plan)}",
        "graph JSON (structure set)": f"/api/graph/{quote(ss)}?depth=2&direction=both",
        "object (synthetic CT)": f"/objects/{quote(uid('1', 5))}",
    }


def timed(get: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls, after one warm-up."""
    get()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        get()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(url: str, sample: Sample, repeat: int) -> dict[str, float]:
    results = {}
    with Catalog(url) as catalog, TestClient(Starlette(routes=page_routes(catalog))) as client:
        for name, path in pages(sample).items():

            def get(path: str = path) -> None:
                answer = client.get(path)
                assert answer.status_code in (200, 404), (path, answer.status_code)

            results[name] = timed(get, repeat)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-") as tmp:
        sample = generate_sample(Path(tmp) / "patient", slices=40)
        small = f"sqlite:///{Path(tmp) / 'small.sqlite'}"
        large = f"sqlite:///{Path(tmp) / 'large.sqlite'}"
        started = time.perf_counter()
        for url in (small, large):
            with Catalog(url) as catalog:
                catalog.scan([sample.root])
        with Catalog(large) as catalog:
            catalog.add(objects(args.instances))
        print(f"built the catalogs in {time.perf_counter() - started:.0f} s")
        base = measure(small, sample, args.repeat)
        big = measure(large, sample, args.repeat)
    for name in base:
        print(
            f"{name:28} {big[name]:7.1f} ms at {args.instances:,} more instances; "
            f"{base[name]:7.1f} ms alone; ratio {big[name] / base[name]:.2f}x"
        )


if __name__ == "__main__":
    main()
