"""Helpers shared by the benchmarks: timing, memory of a process tree, corpora."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pydicom


def best_alternating(
    first: Callable[[], object], second: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """The fastest of ``repeat`` runs of each, the two run in turn: a noisy spell then
    slows both alike rather than one of them."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, spent in zip((first, second), times, strict=True):
            started = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - started)
    return min(times[0]), min(times[1])


def median_us(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """Median and 99th percentile of ``n`` calls, in microseconds."""
    times = []
    for _ in range(n):
        started = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - started) / 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc)."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        proc = Path("/proc") / str(p)
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in (proc / "task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def clone_ct_files(template: Path, out: Path, n: int, per_folder: int = 1000) -> list[Path]:
    """``n`` copies of a CT file, each with its own SOP Instance UID, written fast.

    The UIDs keep the template's length, so the copy is the template's bytes with one
    value replaced: valid files at disk speed, for benchmarks that need very many.
    """
    data = template.read_bytes()
    sop = pydicom.dcmread(template, stop_before_pixels=True).SOPInstanceUID.encode()
    root = b"1.2.826.0.1.3680043.10.543."
    paths = []
    for i in range(n):
        uid = root + str(i).encode()
        uid = uid + b"." + b"9" * (len(sop) - len(uid) - 1) if len(uid) < len(sop) - 1 else uid
        if len(uid) != len(sop):
            raise ValueError(f"template UID {sop!r} too short to clone {n} files")
        folder = out / f"{i // per_folder:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:07d}.dcm"
        path.write_bytes(data.replace(sop, uid))
        paths.append(path)
    return paths
