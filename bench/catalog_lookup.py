"""Catalog lookups at scale: locate by SOP Instance UID and "what references X".

Builds a catalog of 1,000,000 instances and 2,000,000 references (synthetic objects written
through ``Catalog.add``, the path ``scan`` and ``fetch`` use), then times random lookups.
The baseline, measured in the same run, is the same lookups in a catalog of 10,000
instances: the ratio shows how much a 100x larger catalog costs (ideal: about 1x).
Target: median under 1 ms for both lookups at 1,000,000 instances.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _bench import median_us
from dicomref.catalog import Catalog
from dicomref.model import Kind, ObjectSummary, Reference

CT = "1.2.840.10008.5.1.4.1.1.2"
ROOT = "1.2.826.0.1.3680043.10.543"


def uid(kind: str, i: int) -> str:
    return f"{ROOT}.{kind}.{i}"


def objects(n: int) -> Iterator[ObjectSummary]:
    """``n`` CT instances, 100 per series, each naming two others (2n references)."""
    for i in range(n):
        series, study = i // 100, i // 1000
        refs = tuple(
            Reference(
                source=uid("1", i),
                target=uid("1", (i * 7 + k * 13 + 1) % n),
                target_class=CT,
                kind=Kind.REFERENCED_IMAGE,
                path=f"ReferencedImageSequence[{k}]",
                series=uid("3", series),
            )
            for k in range(2)
        )
        yield ObjectSummary(
            path=f"/data/{study}/{series}/{i}.dcm",
            size=525_000,
            mtime_ns=1_700_000_000_000_000_000 + i,
            sop_class=CT,
            sop_instance=uid("1", i),
            study=uid("2", study),
            series=uid("3", series),
            patient_id=f"P{study % 97}",
            modality="CT",
            references=refs,
        )


def build(url: str, n: int) -> float:
    started = time.perf_counter()
    with Catalog(url) as catalog:
        catalog.add(objects(n))
        counts = catalog.counts()
    assert counts["references"] >= 2 * n - 2, counts
    return time.perf_counter() - started


def lookups(url: str, n: int, samples: int) -> tuple[float, float, float, float]:
    rng = random.Random(1)
    with Catalog(url) as catalog:
        targets = [uid("1", rng.randrange(n)) for _ in range(samples)]
        it = iter(targets * 2)
        loc = median_us(lambda: catalog.locate(next(it)), samples)
        it2 = iter(targets * 2)
        rev = median_us(lambda: catalog.referrers(next(it2)), samples)
        assert catalog.locate(targets[0]) and catalog.referrers(targets[0]) is not None
    return loc[0], loc[1], rev[0], rev[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-") as tmp:
        small = f"sqlite:///{Path(tmp) / 'small.sqlite'}"
        large = f"sqlite:///{Path(tmp) / 'large.sqlite'}"
        build(small, args.baseline)
        seconds = build(large, args.instances)
        print(
            f"built {args.instances:,} instances / {2 * args.instances:,} refs in {seconds:.0f} s"
        )
        base = lookups(small, args.baseline, args.samples)
        big = lookups(large, args.instances, args.samples)
    for name, b, g in (("locate", base[0], big[0]), ("referrers", base[2], big[2])):
        print(
            f"{name:9} median: {g:7.1f} us at {args.instances:,} (target < 1000 us); "
            f"{b:7.1f} us at {args.baseline:,}; ratio {g / b:.2f}x"
        )
    print(f"p99: locate {big[1]:.1f} us, referrers {big[3]:.1f} us")


if __name__ == "__main__":
    main()
