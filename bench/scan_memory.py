"""Scan memory: peak resident memory of `dicomref scan` (the whole process tree, workers
included) over 100,000 files, against the same scan of 10,000 files in the same run.

The files are clones of one generated CT slice, each with its own SOP Instance UID (see
``_bench.clone_ct_files``).  Each scan runs in a fresh ``dicomref`` process whose tree is
sampled from /proc every 20 ms.  Target: under 300 MB at 100,000 files; the ratio shows
how memory grows with the number of files (ideal: about 1x).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import clone_ct_files, tree_rss_mb
from dicomref.sample import generate_sample


def peak_scan_mb(folder: Path, db: Path) -> tuple[float, float]:
    """(peak MB of the scan's process tree, seconds) for one `dicomref scan` run."""
    command = [sys.executable, "-m", "dicomref.cli", "scan", str(folder), "--db", f"sqlite:///{db}"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"scan of {folder} failed with exit code {proc.returncode}")
    return peak, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-") as tmp:
        root = Path(tmp)
        template = generate_sample(root / "template", slices=1).ct[0].path
        started = time.perf_counter()
        clone_ct_files(template, root / "small", args.baseline)
        clone_ct_files(template, root / "large", args.files)
        print(
            f"wrote {args.baseline + args.files:,} files in {time.perf_counter() - started:.0f} s"
        )
        small, t_small = peak_scan_mb(root / "small", root / "small.sqlite")
        large, t_large = peak_scan_mb(root / "large", root / "large.sqlite")
    print(f"{args.baseline:>7,} files: peak {small:6.1f} MB, {t_small:5.1f} s")
    print(f"{args.files:>7,} files: peak {large:6.1f} MB, {t_large:5.1f} s (target < 300 MB)")
    print(f"ratio (peak at {args.files:,} / peak at {args.baseline:,}): {large / small:.2f}x")


if __name__ == "__main__":
    main()
