"""Start-up: how long short commands take, as whole processes, against ``python -c pass``.

Generates a small sample patient, then runs each command ``--repeat`` times, the commands
in turn within each round (a noisy spell slows them all alike):

* baseline: ``python -c pass`` (the interpreter alone, same venv)
* ``python -c "import dicomref"`` (the lazy package face)
* ``dicomref --help``
* ``dicomref refs PLAN`` (an RT Plan of the sample; a table on stdout)
* ``dicomref refs --json PLAN``
* ``dicomref scan FOLDER --db NEW`` (a folder of 5 files, each run into a fresh catalog)

Prints best and median wall time of each, its overhead over the baseline's median, the
ratio to it and the median CPU time (user + system: what a loaded machine inflates least),
and PASS/FAIL against the targets (median wall): ``--help`` under 150 ms, ``refs`` under
300 ms.  The commands run with bytecode cached (``PYTHONPYCACHEPREFIX`` in a temporary
folder), as an installed package runs, even where ``PYTHONDONTWRITEBYTECODE`` is set.
Where the time goes: ``python -X importtime -c "import dicomref.cli"``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dicomref.sample import generate_sample

TARGETS_MS = {"dicomref --help": 150.0, "dicomref refs PLAN": 300.0}
SCAN_FILES = 5


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``argv``; it must succeed."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit code {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def bytecode_env(cache: Path) -> dict[str, str]:
    """The environment with bytecode cached (in ``cache``, not in the source tree), as an
    installed package runs: with PYTHONDONTWRITEBYTECODE set, a source checkout compiles
    every dicomref module it imports on every start."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    python = sys.executable
    dicomref = str(Path(python).with_name("dicomref"))
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-") as tmp:
        root = Path(tmp)
        sample = generate_sample(root / "patient", slices=4)
        plan = str(sample.plans[0].path)
        folder = root / "tiny"
        folder.mkdir()
        for obj in sample.objects[:SCAN_FILES]:
            shutil.copy(obj.path, folder / obj.path.name.replace(".dcm", f"_{obj.role}.dcm"))
        runs = iter(range(1_000_000))

        def scan() -> list[str]:
            return [dicomref, "scan", str(folder), "--db", f"sqlite:///{root}/c{next(runs)}.db"]

        commands: dict[str, Callable[[], list[str]]] = {
            "python -c pass": lambda: [python, "-c", "pass"],
            "python -c 'import dicomref'": lambda: [python, "-c", "import dicomref"],
            "dicomref --help": lambda: [dicomref, "--help"],
            "dicomref refs PLAN": lambda: [dicomref, "refs", plan],
            "dicomref refs --json PLAN": lambda: [dicomref, "refs", "--json", plan],
            f"dicomref scan ({SCAN_FILES} files)": scan,
        }
        env = bytecode_env(root / "pycache")
        for argv in commands.values():  # warm the page cache and the bytecode
            timed(argv(), env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                times[name].append(timed(argv(), env))
    report(times, args.repeat)


def report(times: dict[str, list[tuple[float, float]]], repeat: int) -> None:
    def ms(values: list[float]) -> tuple[float, float]:
        return min(values) * 1000, statistics.median(values) * 1000

    base = ms([wall for wall, _ in times["python -c pass"]])[1]
    print(f"whole processes, {repeat} runs each, interleaved; wall ms (best / median), CPU ms")
    print(
        f"{'command':34} {'best':>7} {'median':>7} {'over base':>10} {'ratio':>6} "
        f"{'cpu':>6}  target (median wall)"
    )
    failed = False
    for name, spent in times.items():
        best, median = ms([wall for wall, _ in spent])
        cpu = ms([cpu for _, cpu in spent])[1]
        target = TARGETS_MS.get(name)
        verdict = ""
        if target is not None:
            ok = median < target
            failed |= not ok
            verdict = f"< {target:.0f} ms {'PASS' if ok else 'FAIL'}"
        print(
            f"{name:34} {best:7.1f} {median:7.1f} {median - base:+10.1f} "
            f"{median / base:6.1f}x {cpu:6.0f}  {verdict}"
        )
    print("FAIL: a start-up target is missed" if failed else "all start-up targets met")


if __name__ == "__main__":
    main()
