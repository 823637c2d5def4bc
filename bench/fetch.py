"""dicomref's exact fetch against the naive way (C-MOVE of the whole study), same run.

The patient (:mod:`_fetch_data`): a planning CT of ``--slices`` 512 x 512 slices, two
structure sets, two plans, a dose, SEG, KOS, and a second, unreferenced CT series of
``--extra`` slices in the planning study.  Plan 0 references structure set 0, whose
contours lie on every planning CT slice: the exact set is plan 0 + structure set 0 + the
planning CT; the whole study is several times that.

Each server (Orthanc, dcmqrscp with default options; TCP_NODELAY=1 as the test fixtures
set it) is started once and loaded, probed once (``dicomref probe``: untimed), then, on
plain loopback and on loopback shaped to ``--rate`` with ``tc … tbf``, both contenders
run ``--repeat`` times, alternating:

- naive (:mod:`_fetch_naive`): pynetdicom alone, one STUDY-level C-MOVE of the planning
  study (its UID given for free) to a storage SCP of its own, every object written
  atomically, as dicomref writes;
- dicomref: ``fetch(node, [plan 0 UID])`` with the probed capabilities, a fresh store and
  a fresh catalog each run; the store must then hold exactly the exact set.

and dicomref once more with unknown capabilities (learnt on the way).  Printed per server
and link: objects, MB, requests, associations, best and median seconds, the ratio of the
naive way's best time to dicomref's, and the targets (≥1.0x on loopback, ≥1.6x shaped).

The subset case (:mod:`_fetch_cold`; ``--cases subset``): a structure set whose contours
lie on 60 of its CT series' 120 slices (RTReferencedSeriesSequence listing all 120), its
plan (the start, as a file) and dose, in a study of 127 objects; ``dicomref fetch NODE
plan.dcm --with-dependents`` timed as a whole process, cold (a new catalog, no probe) and
warm (the catalog the cold run left), against the naive whole-study C-MOVE.  Targets: cold
≥1.0x and warm ≥1.5x the naive way on loopback; on the shaped link, within 1.2x of the
time the needed bytes take at the link's rate; at most 6 retrieve requests cold.
dicomref's modules are compiled to bytecode first, as an installed package has them.
``--quick``: one run of each contender (default 3).

Run inside the private network namespace (the servers listen on every interface, and the
shaping must touch nothing but this namespace's ``lo``):

    scripts/in-netns.sh .venv/bin/python bench/fetch.py
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import pydicom  # noqa: E402

from _fetch_cold import (  # noqa: E402
    Subset,
    compile_dicomref,
    fetch_process,
    make_subset,
    remove,
)
from _fetch_data import Patient, make_patient  # noqa: E402
from _fetch_link import qdisc, qdisc_drops, shaped, tcp_counters, throughput  # noqa: E402
from _fetch_naive import NAIVE_AE, NaiveReceiver, naive_move  # noqa: E402
from dicomref._dimse._node import DEFAULT_OUR_AE, Node  # noqa: E402
from dicomref.catalog import Catalog  # noqa: E402
from dicomref.remote import Capabilities, FetchReport, fetch, probe  # noqa: E402
from dicomref.store import ManagedStore  # noqa: E402
from servers import (  # noqa: E402
    LOOPBACK,
    DcmqrscpServer,
    DicomServer,
    OrthancServer,
    Peer,
    free_ports,
    in_private_netns,
    running,
)

TARGET_PLAIN = 1.0
TARGET_SHAPED = 1.6
TARGET_COLD = 1.0
TARGET_WARM = 1.5
TARGET_LINK = 1.2
MAX_COLD_RETRIEVES = 6

Factory = Callable[[Path, list[Peer]], DicomServer]
SERVERS: dict[str, Factory] = {
    "orthanc": lambda w, p: OrthancServer(w, peers=p),
    "dcmqrscp": lambda w, p: DcmqrscpServer(w, peers=p),
    "dcmqrscp-strict": lambda w, p: DcmqrscpServer(w, peers=p, strict=True),
}
CASES = ("full", "subset")
COLD = "dicomref fetch, cold"
WARM = "dicomref fetch, warm"

NAIVE = "naive (whole study)"
PROBED = "dicomref (probed)"
UNKNOWN = "dicomref (unknown caps)"


@dataclass(slots=True)
class Row:
    """One contender on one server and link: its figures (from its last run) and times."""

    objects: int = 0
    bytes: int = 0
    requests: str = ""
    associations: str = ""
    times: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


@dataclass(slots=True)
class Section:
    """The rows of one server on one link."""

    server: str
    link: str
    measured: float
    rows: dict[str, Row] = field(default_factory=dict)
    drops: int | None = None
    retransmitted: int = 0
    counting: int = 0

    def row(self, name: str) -> Row:
        return self.rows.setdefault(name, Row())

    def ratio(self, name: str = PROBED, *, median: bool = False) -> float:
        naive, ours = self.rows[NAIVE], self.rows[name]
        if median:
            return naive.median / ours.median
        return naive.best / ours.best


class Bench:
    """Runs the contenders against one server and records what they did."""

    def __init__(
        self,
        work: Path,
        patient: Patient | None,
        receiver: NaiveReceiver,
        node: Node,
        fsync: bool,
    ) -> None:
        self.work = work
        self._patient = patient
        self.receiver = receiver
        self.node = node
        self.fsync = fsync
        self._runs = 0

    @property
    def patient(self) -> Patient:
        """The full case's patient (made only when that case runs)."""
        if self._patient is None:
            raise RuntimeError("the full case was not prepared")
        return self._patient

    def _fresh(self, name: str) -> Path:
        self._runs += 1
        folder = self.work / f"{name}{self._runs:03d}"
        folder.mkdir(parents=True)
        return folder

    def naive(self, section: Section) -> None:
        folder = self._fresh("naive")
        before = tcp_counters()
        run = naive_move(
            self.receiver, self.node.ae_title, self.node.port, self.patient.study, folder
        )
        spent = tcp_counters() - before
        expected = self.patient.study_objects
        if run.objects != expected or run.completed != expected or run.failed:
            raise AssertionError(
                f"naive: {run.objects} objects arrived, status 0x{run.status:04X}, "
                f"{run.completed} completed, {run.failed} failed; the study holds {expected}"
            )
        row = section.row(NAIVE)
        row.objects, row.bytes = run.objects, run.bytes
        row.requests = f"{run.c_move} C-MOVE (+1 C-FIND*)"
        row.associations = _associations(run.associations, spent.active_opens)
        row.times.append(run.seconds)
        section.retransmitted += spent.retransmitted
        shutil.rmtree(folder)

    def dicomref(self, section: Section, name: str, caps: Capabilities | None) -> FetchReport:
        folder = self._fresh("dicomref")
        out = ManagedStore(folder / "out", fsync=self.fsync)
        with Catalog(f"sqlite:///{folder / 'catalog.sqlite'}") as catalog:
            before = tcp_counters()
            started = time.perf_counter()
            report = fetch(
                self.node, [self.patient.plan], out=out, catalog=catalog, capabilities=caps
            )
            seconds = time.perf_counter() - started
            spent = tcp_counters() - before
        held = _held(out.root)
        exact = self.patient.exact
        moved = report.objects + report.discarded + report.refused
        if set(held) != exact or report.missing or moved != len(exact):
            raise AssertionError(
                f"dicomref: {moved} objects moved ({report.discarded} discarded, "
                f"{report.refused} refused); the store holds {len(held)}, "
                f"{len(set(held) - exact)} not referenced, {len(exact - set(held))} "
                f"referenced ones missing; missing in the report: {report.missing}"
            )
        row = section.row(name)
        row.objects, row.bytes = len(held), sum(held.values())
        row.requests = _requests(report)
        row.associations = _associations(report.associations, spent.active_opens)
        row.times.append(seconds)
        if report.whole_study is not None:
            section.counting = max(section.counting, report.whole_study.requests)
        section.retransmitted += spent.retransmitted
        shutil.rmtree(folder)
        return report


@dataclass(slots=True)
class SubsetSection:
    """The subset case on one server and link: the naive way, cold and warm processes."""

    server: str
    link: str
    measured: float
    limit: float
    """Seconds the needed bytes take at the link's rate (0 on plain loopback)."""
    rows: dict[str, Row] = field(default_factory=dict)
    cold_retrieves: list[int] = field(default_factory=list)

    def row(self, name: str) -> Row:
        return self.rows.setdefault(name, Row())

    def ratio(self, name: str) -> float:
        return self.rows[NAIVE].best / self.rows[name].best


def measure_subset(
    bench: Bench,
    section: SubsetSection,
    subset: Subset,
    node: str,
    repeat: int,
    *,
    steps: bool,
) -> None:
    """``repeat`` rounds of naive, cold and warm in turn (the order rotating)."""
    contenders = [NAIVE, COLD, WARM]
    for number in range(repeat):
        for name in contenders[number % 3 :] + contenders[: number % 3]:
            if name == NAIVE:
                _naive_subset(bench, section, subset)
            elif name == COLD:
                _cold_and_warm(bench, section, subset, node, steps=steps and number == 0)
        print(
            f"    run {number + 1}: naive {section.rows[NAIVE].times[-1]:.2f} s, "
            f"cold {section.rows[COLD].times[-1]:.2f} s, warm {section.rows[WARM].times[-1]:.2f} s",
            flush=True,
        )


def _naive_subset(bench: Bench, section: SubsetSection, subset: Subset) -> None:
    folder = bench._fresh("naive")
    run = naive_move(bench.receiver, bench.node.ae_title, bench.node.port, subset.study, folder)
    if run.objects != subset.study_objects or run.failed:
        raise AssertionError(
            f"naive: {run.objects} objects arrived, {run.failed} failed; the study holds "
            f"{subset.study_objects}"
        )
    row = section.row(NAIVE)
    row.objects, row.bytes = run.objects, run.bytes
    row.requests = "1 C-MOVE"
    row.times.append(run.seconds)
    shutil.rmtree(folder)


def _cold_and_warm(
    bench: Bench, section: SubsetSection, subset: Subset, node: str, *, steps: bool
) -> None:
    """A cold process on a new catalog, then a warm one on the catalog it left."""
    folder = bench._fresh("process")
    catalog = folder / "catalog.sqlite"
    store_port = bench.node.store_port or 0
    for name in (COLD, WARM):
        out = folder / name.rsplit(" ", 1)[-1]
        run = fetch_process(node, store_port, subset.plan, out, catalog, subset.exact)
        remove(out)
        row = section.row(name)
        row.objects, row.bytes = run.objects, run.bytes
        extra = f", {run.discarded} discarded" if run.discarded else ""
        row.requests = f"{run.finds} C-FIND, {run.retrieves} retrieve{extra}"
        row.times.append(run.seconds)
        if name == COLD:
            section.cold_retrieves.append(run.retrieves)
        if steps:
            print(f"      {name} sent:", flush=True)
            for step in run.steps:
                print(f"        {step}", flush=True)
    shutil.rmtree(folder)


def subset_table(section: SubsetSection) -> Iterator[str]:
    yield (
        f"{section.server}, subset case — {section.link}; one TCP stream: "
        f"{section.measured:,.0f} Mbit/s"
    )
    yield (
        f"  {'':24} {'objects':>7} {'MB':>7}  {'requests':34} {'best s':>7} {'median s':>8} "
        f"{'runs':>4}"
    )
    for name, row in section.rows.items():
        yield (
            f"  {name:24} {row.objects:7d} {row.bytes / 1e6:7.1f}  {row.requests:34} "
            f"{row.best:7.2f} {row.median:8.2f} {len(row.times):4d}"
        )


def subset_verdicts(section: SubsetSection) -> Iterator[str]:
    where = f"{section.server}, subset, {section.link}"
    if not section.limit:
        for name, target in ((COLD, TARGET_COLD), (WARM, TARGET_WARM)):
            ratio = section.ratio(name)
            mark = "PASS" if ratio >= target else "FAIL"
            yield f"target: {name} ≥{target:.1f}x the naive way on {where}: {ratio:.2f}x {mark}"
        most = max(section.cold_retrieves)
        mark = "PASS" if most <= MAX_COLD_RETRIEVES else "FAIL"
        yield f"target: ≤{MAX_COLD_RETRIEVES} retrieve requests cold on {where}: {most} {mark}"
        return
    for name in (COLD, WARM):
        share = section.rows[name].best / section.limit
        mark = "PASS" if share <= TARGET_LINK else "FAIL"
        yield (
            f"target: {name} within {TARGET_LINK:.1f}x of the {section.limit:.2f} s the needed "
            f"bytes take on {where}: {share:.2f}x {mark}"
        )


def bits_per_second(rate: str) -> float:
    """``100mbit`` -> 1e8 (tc's units: kbit, mbit, gbit)."""
    units = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
    for unit, factor in units.items():
        if rate.endswith(unit):
            return float(rate.removesuffix(unit)) * factor
    raise SystemExit(f"--rate {rate!r}: give it as tc does, e.g. 100mbit")


def _requests(report: FetchReport) -> str:
    """What was sent: the fetch's requests, and the C-FINDs counting the whole study for
    the report's comparison (sent in the same call, kept apart in the report)."""
    counting = report.whole_study.requests if report.whole_study is not None else 0
    sent = dataclasses.replace(report.requests, c_find=report.requests.c_find + counting)
    return sent.describe() + "**"


def _associations(ours: int, connections: int) -> str:
    """ "1 + 2 in": associations the contender opened, and those the server opened to it
    (TCP connections opened in the namespace during the run, minus the contender's)."""
    return f"{ours} + {connections - ours} in"


def _held(root: Path) -> dict[str, int]:
    """SOP Instance UID → file size of every object in a store (hidden folders skipped)."""
    held: dict[str, int] = {}
    for path in root.rglob("*.dcm"):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        held[uid] = path.stat().st_size
    return held


def measure(
    bench: Bench, section: Section, caps: Capabilities, repeat: int, *, steps: bool
) -> None:
    """``repeat`` runs of each contender, alternating (who goes first alternates too), then
    dicomref once with unknown capabilities.  ``steps``: print dicomref's requests."""
    for number in range(repeat):
        order = [NAIVE, PROBED] if number % 2 == 0 else [PROBED, NAIVE]
        for name in order:
            if name == NAIVE:
                bench.naive(section)
            else:
                report = bench.dicomref(section, PROBED, caps)
                if steps and number == 0:
                    _steps(PROBED, report)
        print(
            f"    run {number + 1}: naive {section.rows[NAIVE].times[-1]:.2f} s, "
            f"dicomref {section.rows[PROBED].times[-1]:.2f} s",
            flush=True,
        )
    report = bench.dicomref(section, UNKNOWN, None)
    print(f"    {UNKNOWN}: {section.rows[UNKNOWN].times[-1]:.2f} s", flush=True)
    if steps:
        _steps(UNKNOWN, report)


def _steps(name: str, report: FetchReport) -> None:
    print(f"      {name} sent:", flush=True)
    for step in report.steps:
        print(f"        {step}", flush=True)


def table(section: Section) -> Iterator[str]:
    link = f"{section.link}; one TCP stream: {section.measured:,.0f} Mbit/s"
    if section.drops is not None:
        link += f"; qdisc drops {section.drops}"
    link += f"; TCP retransmits {section.retransmitted}"
    yield f"{section.server} — {link}"
    yield (
        f"  {'':24} {'objects':>7} {'MB':>7}  {'requests':24} {'associations':12} "
        f"{'best s':>7} {'median s':>8} {'runs':>4}"
    )
    for name, row in section.rows.items():
        yield (
            f"  {name:24} {row.objects:7d} {row.bytes / 1e6:7.1f}  {row.requests:24} "
            f"{row.associations:12} {row.best:7.2f} {row.median:8.2f} {len(row.times):4d}"
        )
    yield (
        f"  naive/dicomref: {section.ratio():.2f}x best, {section.ratio(median=True):.2f}x "
        f"median; with unknown capabilities {section.ratio(UNKNOWN):.2f}x"
    )


def verdict(section: Section, target: float) -> str:
    ratio = section.ratio()
    mark = "PASS" if ratio >= target else "MISS"
    return f"target: ≥{target:.1f}x on {section.server}, {section.link}: {ratio:.2f}x {mark}"


def run_server(
    name: str,
    work: Path,
    patient: Patient | None,
    subset: Subset | None,
    receiver: NaiveReceiver,
    peers: list[Peer],
    args: Args,
) -> tuple[list[Section], list[SubsetSection]]:
    """Start server ``name``, load it, measure each case on both links; its sections."""
    sections: list[Section] = []
    subsets: list[SubsetSection] = []
    server = SERVERS[name](work / name, peers)
    full = patient is not None
    with running(server):
        if patient is not None:
            server.load(patient.paths)
        if subset is not None:
            server.load(subset.paths)
        node = Node(server.ae, LOOPBACK, server.port, store_port=peers[0].port)
        text = f"{server.ae}@{LOOPBACK}:{server.port}"
        bench = Bench(work / "runs", patient, receiver, node, not args.no_fsync)
        caps = Capabilities()
        if full:
            began = time.perf_counter()
            caps = probe(node).capabilities
            print(f"{name}: loaded, probed in {time.perf_counter() - began:.1f} s", flush=True)
        for shaping in (False, True):
            with shaped(args.rate) if shaping else contextlib.nullcontext("") as line:
                link = f"lo shaped to {args.rate}" if shaping else "plain loopback"
                measured = throughput()
                print(f"  {link}{f' ({line})' if line else ''}:", flush=True)
                if full:
                    section = Section(name, link, measured)
                    measure(bench, section, caps, args.repeat, steps=not shaping)
                    section.drops = qdisc_drops() if shaping else None
                    sections.append(section)
                if subset is not None:
                    limit = subset.exact_bytes * 8 / bits_per_second(args.rate) if shaping else 0
                    part = SubsetSection(name, link, measured, limit)
                    print("    subset case:", flush=True)
                    measure_subset(bench, part, subset, text, args.repeat, steps=not shaping)
                    subsets.append(part)
    return sections, subsets


def results(sections: list[Section], subsets: list[SubsetSection]) -> Iterator[str]:
    for part in subsets:
        yield from subset_table(part)
        yield ""
    for part in subsets:
        yield from subset_verdicts(part)
    if subsets:
        yield ""
    if not sections:
        return
    for section in sections:
        yield from table(section)
        yield ""
    yield "*  the C-FIND a user needs first to find the study (STUDY level, by Patient ID): not"
    yield "   sent, not timed: the naive way is given the study UID for free"
    counting = ", ".join(sorted({f"{s.counting} on {s.server}" for s in sections}))
    yield f"** incl. the C-FINDs fetch() sends to count the whole study for its report: {counting}"
    yield "associations: opened by the contender + opened by the server to the contender's"
    yield "storage SCP (C-MOVE sub-operations), from the namespace's TCP ActiveOpens counter"
    for section in sections:
        target = TARGET_PLAIN if section.link == "plain loopback" else TARGET_SHAPED
        yield verdict(section, target)


class Args(argparse.Namespace):
    slices: int
    extra: int
    repeat: int
    rate: str
    servers: str
    cases: str
    quick: bool
    no_fsync: bool

    @property
    def case_list(self) -> list[str]:
        return [c.strip() for c in self.cases.split(",") if c.strip()]


def parse_args() -> Args:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slices", type=int, default=100, help="planning CT slices")
    parser.add_argument("--extra", type=int, default=240, help="slices of the unreferenced CT")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender")
    parser.add_argument("--rate", default="100mbit", help="rate of the shaped link (tc)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated")
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help="comma-separated: full (every slice named, in-process), subset (60 of 120, "
        "dicomref fetch as a process, cold and warm)",
    )
    parser.add_argument("--quick", action="store_true", help="one run of each contender")
    parser.add_argument(
        "--no-fsync", action="store_true", help="both contenders write without fsync"
    )
    args = parser.parse_args(namespace=Args())
    if args.quick:
        args.repeat = 1
    unknown = sorted(set(args.case_list) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown cases {unknown}: choose from {list(CASES)}")
    return args


def main() -> None:
    args = parse_args()
    if not in_private_netns():
        raise SystemExit(
            "bench/fetch.py shapes lo with tc and starts servers that listen on every "
            "interface: run it in a private network namespace, "
            "scripts/in-netns.sh .venv/bin/python bench/fetch.py"
        )
    if qdisc().startswith("qdisc tbf"):
        raise SystemExit(f"lo is already shaped ({qdisc()}): remove it first")
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown:
        raise SystemExit(f"unknown servers {unknown}: choose from {sorted(SERVERS)}")
    sections: list[Section] = []
    subsets: list[SubsetSection] = []
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        patient = None
        if "full" in args.case_list:
            patient = make_patient(work / "data", slices=args.slices, extra=args.extra)
            print(
                f"full case: plan 0 -> structure set 0 -> {patient.exact_count - 2} CT slices: "
                f"{patient.exact_count} objects, {patient.exact_bytes / 1e6:.1f} MB; the "
                f"planning study holds {patient.study_objects} objects, "
                f"{patient.study_bytes / 1e6:.1f} MB; fsync {'off' if args.no_fsync else 'on'} "
                "for both; TCP_NODELAY=1 for the servers",
                flush=True,
            )
        subset = None
        if "subset" in args.case_list:
            compiled = compile_dicomref()
            print(f"dicomref's bytecode compiled first, as installed ({compiled} files written)")
            subset = make_subset(work / "subset")
            print(
                f"subset case: plan 0 (file) -> structure set 0 -> 60 of 120 CT slices, + dose: "
                f"{len(subset.exact)} objects, {subset.exact_bytes / 1e6:.1f} MB needed; the "
                f"study holds {subset.study_objects} objects, {subset.study_bytes / 1e6:.1f} MB",
                flush=True,
            )
        store_port, naive_port = free_ports(2)
        peers = [Peer(DEFAULT_OUR_AE, LOOPBACK, store_port), Peer(NAIVE_AE, LOOPBACK, naive_port)]
        receiver = NaiveReceiver(naive_port, fsync=not args.no_fsync)
        receiver.start()
        try:
            for name in names:
                full, parts = run_server(name, work, patient, subset, receiver, peers, args)
                sections += full
                subsets += parts
        finally:
            receiver.stop()
    print()
    print("\n".join(results(sections, subsets)))


if __name__ == "__main__":
    main()
