"""bench/serve.py's C-STORE ingest (part 3) for dicomref alone, for quick A/B runs: no
Orthanc, so a round takes seconds, and ``--baseline SRC`` alternates rounds between this
checkout and another copy of the package (``SRC`` is its ``src`` folder, for example
``git archive HEAD src | tar -x -C /tmp/base``) on a noisy machine.

Each round copies a catalog of ``--compare`` CT files, starts ``dicomref serve`` with a
fresh store (with ``fsync``, and with ``--no-fsync`` unless ``--fsync-only``), and sends
``--ingest`` new CT files from DCMTK storescu on one association, then on ``--parallel``
at once.  Printed: objects per second and the server's CPU milliseconds per object.
``--profile DIR`` records the first round's parallel ingest with py-spy (``--gil``: only
the samples of the thread holding the GIL, i.e. where the serialised time goes; set
``SPY=--idle`` for where every thread waits instead).

    scripts/in-netns.sh .venv/bin/python bench/_serve_ingest.py [--rounds 3] [--baseline SRC]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _serve_data import CtSet, small_ct  # noqa: E402
from _serve_proc import AE_TITLE, ServeProcess  # noqa: E402
from dicomref.catalog import Catalog  # noqa: E402
from serve import copy_catalog, ingest_rate  # noqa: E402


@contextmanager
def package(src: Path | None) -> Iterator[None]:
    """``dicomref serve`` started meanwhile imports the package from ``src`` (if given)."""
    before = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = str(src)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


@contextmanager
def profiled(pid: int, output: Path | None) -> Iterator[None]:
    if output is None:
        yield
        return
    argv = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        *os.environ.get("SPY", "--gil").split(),
        "--threads",
    ]
    argv += ["--rate", "250", "--format", "raw", "-o", str(output), "-p", str(pid)]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def machine_busy() -> tuple[float, float]:
    """Busy and total CPU seconds of the machine so far (every CPU, /proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def split_cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / hz, int(fields[12]) / hz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare", type=int, default=50_000)
    parser.add_argument("--ingest", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--baseline", type=Path, help="src folder of the other package copy")
    parser.add_argument("--fsync-only", action="store_true")
    parser.add_argument("--profile", type=Path, help="folder for py-spy's raw profiles")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-ingest-") as scratch:
        work = Path(scratch)
        template = small_ct(work / "ct16.dcm")
        held = CtSet(template, work / "held", 1, args.compare).write()
        catalog = work / "held.sqlite"
        with Catalog(f"sqlite:///{catalog}") as opened:
            opened.add(held.summaries())
        logs = work / "logs"
        logs.mkdir()
        variants: list[tuple[str, Path | None]] = [("this", None)]
        if args.baseline is not None:
            variants.append(("base", args.baseline.resolve()))
        modes = (
            [("fsync", ())] if args.fsync_only else [("fsync", ()), ("nofsync", ("--no-fsync",))]
        )
        print(
            f"{'round':<6}{'code':<6}{'mode':<9}{'1 assoc':>9}{'cpu ms':>8}"
            f"{f'{args.parallel} assoc':>9}{'cpu ms':>8}",
            flush=True,
        )
        tag = 2
        for round_ in range(args.rounds):
            for name, src in variants if round_ % 2 == 0 else variants[::-1]:
                for mode, options in modes:
                    tag += 2
                    single = CtSet(template, work / f"one-{tag}", tag, args.ingest).write()
                    spread = CtSet(template, work / f"many-{tag}", tag + 1, args.ingest).write()
                    url = copy_catalog(catalog, work / f"run-{tag}.sqlite")
                    store = work / f"store-{tag}"
                    log = work / f"serve-{tag}.log"
                    output = None
                    if args.profile is not None and round_ == 0:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        output = args.profile / f"{name}-{mode}.txt"
                    with (
                        package(src),
                        ServeProcess(url, log, store=store, options=options) as serve,
                    ):
                        cpu0 = serve.cpu_seconds()
                        one = ingest_rate(serve.port, AE_TITLE, [single.paths], logs, f"{tag}-1")
                        cpu1 = serve.cpu_seconds()
                        user1, sys1 = split_cpu(serve.pid)
                        busy1, total1 = machine_busy()
                        with profiled(serve.pid, output):
                            many = ingest_rate(
                                serve.port, AE_TITLE, spread.split(args.parallel), logs, f"{tag}-n"
                            )
                        cpu2 = serve.cpu_seconds()
                        user2, sys2 = split_cpu(serve.pid)
                        busy2, total2 = machine_busy()
                        problems = serve.problems()
                    if problems:
                        raise SystemExit(f"{name} {mode}: {problems[:3]}")
                    per = 1000 / args.ingest
                    print(
                        f"{round_:<6}{name:<6}{mode:<9}{one:9.0f}{(cpu1 - cpu0) * per:8.2f}"
                        f"{many:9.0f}{(cpu2 - cpu1) * per:8.2f}   (user {(user2 - user1) * per:.2f}"
                        f" sys {(sys2 - sys1) * per:.2f}; machine busy "
                        f"{(busy2 - busy1) / (total2 - total1):.0%})",
                        flush=True,
                    )
                    shutil.rmtree(store)
                    shutil.rmtree(single.folder)
                    shutil.rmtree(spread.folder)


if __name__ == "__main__":
    main()
