"""Two versions of dicomref on the subset case of bench/fetch.py, interleaved in one run.

On a shared machine the whole-process times of ``dicomref fetch`` move by ±0.2 s from one
minute to the next; comparing two runs of bench/fetch.py made minutes apart says little
about a change.  This runs the same command from two source trees (each a ``PYTHONPATH``,
empty for the installed one), alternating, against one server with one naive whole-study
C-MOVE per round as the baseline, and prints each version's best and median and its ratio
to the naive way (loopback) or to the time the needed bytes take (``--shaped``).

    git archive HEAD~3 src | tar -x -C /tmp/before      # the version to compare with
    scripts/in-netns.sh .venv/bin/python bench/fetch_ab.py before=/tmp/before/src after=

``--cold``: every run on a new catalog (default: warm, on the catalog its first run left).
Run inside the private network namespace, as bench/fetch.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _fetch_cold import compile_dicomref, make_subset, remove  # noqa: E402
from _fetch_link import shaped  # noqa: E402
from _fetch_naive import NAIVE_AE, NaiveReceiver, naive_move  # noqa: E402
from dicomref._dimse._node import DEFAULT_OUR_AE  # noqa: E402
from servers import (  # noqa: E402
    LOOPBACK,
    DcmqrscpServer,
    OrthancServer,
    Peer,
    free_ports,
    in_private_netns,
    running,
)

RATE = 100e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", choices=("orthanc", "dcmqrscp"), default="dcmqrscp")
    parser.add_argument("--rounds", type=int, default=8, help="runs of each version")
    parser.add_argument("--shaped", action="store_true", help="lo shaped to 100 Mbit/s")
    parser.add_argument("--cold", action="store_true", help="a new catalog for every run")
    parser.add_argument("versions", nargs=2, metavar="NAME=PYTHONPATH")
    args = parser.parse_args()
    if not in_private_netns():
        raise SystemExit("run it in the private network namespace (scripts/in-netns.sh)")
    versions = [tuple(v.split("=", 1)) for v in args.versions]
    compile_dicomref()
    work = Path(tempfile.mkdtemp())
    subset = make_subset(work / "subset")
    store_port, naive_port = free_ports(2)
    peers = [Peer(DEFAULT_OUR_AE, LOOPBACK, store_port), Peer(NAIVE_AE, LOOPBACK, naive_port)]
    receiver = NaiveReceiver(naive_port, fsync=True)
    receiver.start()
    factory = OrthancServer if args.server == "orthanc" else DcmqrscpServer
    try:
        with running(factory(work / args.server, peers=peers)) as server:
            server.load(subset.paths)
            node = f"{server.ae}@{LOOPBACK}:{server.port}"

            def fetch(path: str, catalog: Path) -> float:
                out = work / "out"
                env = {**os.environ, "PYTHONPATH": path} if path else dict(os.environ)
                command = [sys.executable, "-m", "dicomref", "fetch", node, str(subset.plan)]
                command += ["--with-dependents", "--out", str(out), "--json"]
                command += ["--db", f"sqlite:///{catalog}", "--store-port", str(store_port)]
                began = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                seconds = time.perf_counter() - began
                remove(out)
                if done.returncode != 0:
                    raise SystemExit(
                        f"{path or 'installed'}: exit {done.returncode}: {done.stderr}"
                    )
                json.loads(done.stdout)
                return seconds

            times: dict[str, list[float]] = {name: [] for name, _ in versions}
            naive: list[float] = []
            with shaped("100mbit") if args.shaped else contextlib.nullcontext(""):
                catalogs = {name: work / f"{name}.sqlite" for name, _ in versions}
                for name, path in versions:
                    fetch(path, catalogs[name])  # the warm runs' catalog (and a warm disk)
                for number in range(args.rounds):
                    folder = work / "naive"
                    folder.mkdir()
                    naive.append(
                        naive_move(receiver, server.ae, server.port, subset.study, folder).seconds
                    )
                    shutil.rmtree(folder)
                    for name, path in versions if number % 2 == 0 else versions[::-1]:
                        if args.cold:
                            catalogs[name].unlink(missing_ok=True)
                        times[name].append(fetch(path, catalogs[name]))
    finally:
        receiver.stop()
        shutil.rmtree(work, ignore_errors=True)
    limit = subset.exact_bytes * 8 / RATE
    link = (
        f"lo shaped to 100 Mbit/s (the needed bytes take {limit:.2f} s)"
        if args.shaped
        else "loopback"
    )
    print(f"{args.server}, subset case, {'cold' if args.cold else 'warm'}, {link}")
    print(
        f"  naive (whole study)  best {min(naive):.3f} s  median {statistics.median(naive):.3f} s"
    )
    for name, spent in times.items():
        ratio = min(spent) / limit if args.shaped else min(naive) / min(spent)
        what = "x the link time" if args.shaped else "x the naive way"
        print(
            f"  {name:20} best {min(spent):.3f} s  median {statistics.median(spent):.3f} s  "
            f"{ratio:.2f}{what} (best)"
        )


if __name__ == "__main__":
    main()
