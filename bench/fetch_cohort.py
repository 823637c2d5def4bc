"""A cohort fetch: 20 patients' plan closures from Orthanc over 1 and over 4 associations,
against whole-study C-MOVEs of the same patients, on loopback and on a shaped link.

The cohort: ``--patients`` generated patients (``generate_sample``, seeds 0…N-1), each a
planning CT of ``--slices`` slices of ``--matrix``² pixels, two structure sets, two plans,
a dose, a SEG and a KOS in the planning study, and a second study.  The starts are every
patient's plan 0 (``fetch(node, uids, associations=…)`` with the probed capabilities, a
fresh store and catalog each run; the store must then hold exactly the union of the
closures: the plans, their structure sets and the CT slices the contours lie on).

Contenders, alternating, ``--repeat`` times on each link:

- dicomref, 1 association;
- dicomref, ``--associations`` (4) associations;
- naive (``_fetch_naive``): pynetdicom alone, one STUDY-level C-MOVE of each patient's
  planning study after the other (the study UIDs given for free), written atomically.

Printed per link: objects, MB, requests, associations, best and median seconds, the
median CPU seconds of this process (every thread; the naive receiver runs in it too); the
ratios 1-association/N-associations (the parallel speed-up) and naive/dicomref.

Run inside the private network namespace (Orthanc listens on every interface, and the
shaping must touch nothing but this namespace's ``lo``):

    scripts/in-netns.sh .venv/bin/python bench/fetch_cohort.py
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import pydicom  # noqa: E402

from _fetch_link import qdisc, shaped, throughput  # noqa: E402
from _fetch_naive import NAIVE_AE, NaiveReceiver, naive_move  # noqa: E402
from dicomref._dimse._node import DEFAULT_OUR_AE, Node  # noqa: E402
from dicomref.remote import Capabilities, fetch, probe  # noqa: E402
from dicomref.remote.fetching._holdings import stored_files  # noqa: E402
from dicomref.sample import Sample, SampleObject, generate_sample  # noqa: E402
from dicomref.store import ManagedStore  # noqa: E402
from servers import LOOPBACK, OrthancServer, Peer, free_ports, in_private_netns, running  # noqa: E402

NAIVE = "naive (whole studies, one by one)"


@dataclass(slots=True)
class Row:
    objects: int = 0
    bytes: int = 0
    requests: str = ""
    associations: int = 0
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


@dataclass(slots=True)
class Cohort:
    samples: list[Sample]

    @property
    def starts(self) -> list[str]:
        return [s.plans[0].sop_instance for s in self.samples]

    @property
    def studies(self) -> list[str]:
        return [s.plans[0].study for s in self.samples]

    def union(self) -> set[str]:
        found: set[str] = set()
        for sample in self.samples:
            found |= closure(sample, sample.plans[0])
        return found

    def study_objects(self) -> int:
        return sum(1 for s in self.samples for o in s.objects if o.study == s.plans[0].study)


def closure(sample: Sample, start: SampleObject) -> set[str]:
    """``start``, its structure set and the slices its contours lie on (read with pydicom)."""
    by_uid = {o.sop_instance: o for o in sample.objects}
    found: set[str] = set()
    todo = [start.sop_instance]
    while todo:
        uid = todo.pop()
        if uid in found:
            continue
        found.add(uid)
        ds = pydicom.dcmread(by_uid[uid].path, stop_before_pixels=True)
        todo += [i.ReferencedSOPInstanceUID for i in ds.get("ReferencedStructureSetSequence", [])]
        for roi in ds.get("ROIContourSequence", []):
            for contour in roi.get("ContourSequence", []):
                todo += [
                    i.ReferencedSOPInstanceUID for i in contour.get("ContourImageSequence", [])
                ]
    return found


def run_dicomref(
    node: Node, caps: Capabilities, cohort: Cohort, folder: Path, associations: int, row: Row
) -> None:
    db = f"sqlite:///{folder / 'catalog.sqlite'}"
    from dicomref.catalog import Catalog

    began, cpu = time.perf_counter(), time.process_time()
    with Catalog(db) as catalog:
        report = fetch(
            node,
            cohort.starts,
            out=ManagedStore(folder / "out"),
            catalog=catalog,
            capabilities=caps,
            associations=associations,
        )
    seconds = time.perf_counter() - began
    row.cpu.append(time.process_time() - cpu)
    got = {p.name for p in stored_files(folder / "out")}
    expected = cohort.union()
    if not report.complete or len(got) != len(expected) or report.objects != len(expected):
        raise AssertionError(
            f"dicomref ({associations}): {report.objects} objects, {len(got)} files, "
            f"{len(report.missing)} missing; the union holds {len(expected)}"
        )
    row.objects, row.bytes = report.objects, report.bytes
    row.requests = report.requests.describe()
    row.associations = report.associations
    row.times.append(seconds)


def run_naive(receiver: NaiveReceiver, node: Node, cohort: Cohort, folder: Path, row: Row) -> None:
    objects = size = moves = associations = 0
    began, cpu = time.perf_counter(), time.process_time()
    for number, study in enumerate(cohort.studies):
        run = naive_move(receiver, node.ae_title, node.port, study, folder / f"s{number}")
        if run.failed or run.status != 0:
            raise AssertionError(f"naive: status 0x{run.status:04X}, {run.failed} failed")
        objects, size = objects + run.objects, size + run.bytes
        moves, associations = moves + run.c_move, associations + run.associations
    row.times.append(time.perf_counter() - began)
    row.cpu.append(time.process_time() - cpu)
    if objects != cohort.study_objects():
        raise AssertionError(f"naive: {objects} objects; the studies hold {cohort.study_objects()}")
    row.objects, row.bytes = objects, size
    row.requests = f"{moves} C-MOVE"
    row.associations = associations


def table(link: str, rows: dict[str, Row], parallel: int) -> list[str]:
    lines = [f"{link}:", f"  {'contender':<36} {'objects':>7} {'MB':>7} {'assocs':>6} "
             f"{'best s':>7} {'median s':>8} {'CPU s':>6}  requests"]  # fmt: skip
    for name, row in rows.items():
        lines.append(
            f"  {name:<36} {row.objects:>7} {row.bytes / 1e6:>7.1f} {row.associations:>6} "
            f"{min(row.times):>7.2f} {statistics.median(row.times):>8.2f} "
            f"{statistics.median(row.cpu):>6.2f}  {row.requests}"
        )
    one, many = rows["dicomref, 1 association"], rows[f"dicomref, {parallel} associations"]
    naive = rows[NAIVE]
    lines.append(
        f"  ratio 1 / {parallel} associations: {min(one.times) / min(many.times):.2f}x best, "
        f"{statistics.median(one.times) / statistics.median(many.times):.2f}x median"
    )
    for name, ours in ((f"{parallel} associations", many), ("1 association", one)):
        lines.append(
            f"  ratio naive / dicomref {name}: {min(naive.times) / min(ours.times):.2f}x best, "
            f"{statistics.median(naive.times) / statistics.median(ours.times):.2f}x median"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--slices", type=int, default=40, help="planning CT slices a patient")
    parser.add_argument("--matrix", type=int, default=256, help="CT rows and columns")
    parser.add_argument("--associations", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", default="100mbit", help="rate of the shaped link (tc)")
    args = parser.parse_args()
    if not in_private_netns():
        raise SystemExit(
            "run it in a private network namespace: "
            "scripts/in-netns.sh .venv/bin/python bench/fetch_cohort.py"
        )
    if qdisc().startswith("qdisc tbf"):
        raise SystemExit(f"lo is already shaped ({qdisc()}): remove it first")
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        cohort = Cohort(
            [
                generate_sample(
                    work / "data" / f"p{seed}",
                    seed=seed,
                    slices=args.slices,
                    rows=args.matrix,
                    columns=args.matrix,
                )
                for seed in range(args.patients)
            ]
        )
        union = cohort.union()
        print(
            f"{args.patients} patients; starts: each one's plan 0; the union of the closures: "
            f"{len(union)} objects; the planning studies: {cohort.study_objects()} objects",
            flush=True,
        )
        store_port, naive_port = free_ports(2)
        peers = [Peer(DEFAULT_OUR_AE, LOOPBACK, store_port), Peer(NAIVE_AE, LOOPBACK, naive_port)]
        receiver = NaiveReceiver(naive_port, fsync=True)
        receiver.start()
        output: list[str] = []
        try:
            with running(OrthancServer(work / "orthanc", peers=peers)) as server:
                began = time.perf_counter()
                server.load([o.path for s in cohort.samples for o in s.objects])
                node = Node(server.ae, LOOPBACK, server.port, store_port=store_port)
                caps = probe(node).capabilities
                print(f"Orthanc loaded and probed in {time.perf_counter() - began:.1f} s")
                runs = 0
                for shaping in (False, True):
                    with shaped(args.rate) if shaping else contextlib.nullcontext(""):
                        link = f"lo shaped to {args.rate}" if shaping else "plain loopback"
                        link += f" (one TCP stream: {throughput():.0f} Mbit/s)"
                        print(f"  {link}", flush=True)
                        rows = {
                            "dicomref, 1 association": Row(),
                            f"dicomref, {args.associations} associations": Row(),
                            NAIVE: Row(),
                        }
                        for _ in range(args.repeat):
                            for count in (1, args.associations):
                                runs += 1
                                folder = work / f"run{runs}"
                                folder.mkdir()
                                name = f"dicomref, {count} association" + ("s" if count > 1 else "")
                                run_dicomref(node, caps, cohort, folder, count, rows[name])
                                shutil.rmtree(folder)
                            runs += 1
                            folder = work / f"run{runs}"
                            run_naive(receiver, node, cohort, folder, rows[NAIVE])
                            shutil.rmtree(folder)
                        output += [*table(link, rows, args.associations), ""]
        finally:
            receiver.stop()
    print()
    print("\n".join(output))


if __name__ == "__main__":
    main()
