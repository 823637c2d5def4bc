"""Scan speed: `dicomref scan` into a fresh catalog against a plain pydicom loop.

Generates a patient with 3,000 CT slices plus its RT objects, SEG and KOS, then times, in
the same run, on the same (page-cached) files, each ``--repeat`` times in turn (best of each):

* baseline: ``for path in files: pydicom.dcmread(path, stop_before_pixels=True)``
* dicomref: ``Catalog(fresh).scan([folder])`` — read, extract references, index.

Prints both and their ratio (target: dicomref at least 5x faster).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pydicom

from _bench import best_alternating
from dicomref.catalog import Catalog
from dicomref.sample import generate_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        sample = generate_sample(root / "patient", slices=args.slices)
        files = [o.path for o in sample.objects]
        print(f"generated {len(files)} files in {time.perf_counter() - started:.1f} s")
        for path in files:  # warm the page cache for both contenders
            path.read_bytes()

        def baseline() -> None:
            for path in files:
                pydicom.dcmread(path, stop_before_pixels=True)

        runs = iter(range(1000))

        def dicomref_scan() -> None:
            with Catalog(f"sqlite:///{root / f'catalog{next(runs)}.sqlite'}") as catalog:
                report = catalog.scan([root / "patient"])
            assert report.indexed == len(files), report

        t_base, t_scan = best_alternating(baseline, dicomref_scan, args.repeat)
        n = len(files)
        print(f"pydicom.dcmread loop: {t_base:.2f} s ({t_base / n * 1e6:.0f} us/file)")
        print(f"dicomref scan:        {t_scan:.2f} s ({t_scan / n * 1e6:.0f} us/file)")
        print(f"ratio (baseline / dicomref): {t_base / t_scan:.1f}x  (target >= 5x)")


if __name__ == "__main__":
    main()
