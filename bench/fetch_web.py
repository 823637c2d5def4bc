"""dicomref's exact fetch over DICOMweb against a whole-study WADO-RS retrieve, same run.

The patient is the subset case of bench/fetch.py (:func:`_fetch_cold.make_subset`): a
planning CT of 120 slices of 512 x 512, structure set 0 with its contours on the middle 60
(its RTReferencedSeriesSequence listing all 120), plans, a dose, and the rest of the
sample's study.  Orthanc 1.10 with its DICOMweb plugin 1.7 is started once and loaded.

Contenders, on plain loopback and on loopback shaped to ``--rate`` with ``tc … tbf``, each
``--repeat`` times, the order rotating:

- whole study: one ``GET /studies/{study}`` (``transfer-syntax=*``, uncompressed), its
  multipart answer streamed raw through the same reader and every object written
  atomically (temporary file, fsync, rename), as dicomref writes; the study UID given for
  free;
- dicomref, cold: ``fetch(node, [plan.dcm], with_dependents=True)`` with a new catalog and
  nothing known of the server (:meth:`Capabilities.web`), learnt on the way;
- dicomref, probed: the same with what ``probe`` measured (untimed, once).

Each dicomref run must leave exactly the structure set, the 60 slices its contours lie on
and the dose in its store.  Printed per link: objects, MB, requests, best and median
seconds, the ratio of the whole study's best time to dicomref's, and the targets (at least
as fast on loopback, >= 1.6x at 100 Mbit/s).  ``--quick``: one run of each.

Also printed (``--transport``): the transport alone retrieving the 60 slices as single
GETs at 1, 4 and 8 in flight, against the series in one GET, on each link.

Run inside the private network namespace (Orthanc listens on every interface, and the
shaping must touch nothing but this namespace's ``lo``):

    scripts/in-netns.sh .venv/bin/python bench/fetch_web.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
import pydicom  # noqa: E402

from _fetch_cold import Subset, held_uids, make_subset  # noqa: E402
from _fetch_link import shaped, throughput  # noqa: E402
from dicomref._dicomweb._media import multipart_accept, parse_content_type  # noqa: E402
from dicomref._dicomweb._multipart import boundary_of, iter_parts  # noqa: E402
from dicomref._dicomweb._node import WebNode  # noqa: E402
from dicomref.catalog import Catalog  # noqa: E402
from dicomref.remote import Capabilities, FetchReport, fetch, probe  # noqa: E402
from dicomref.remote.planner._enums import Level, Method  # noqa: E402
from dicomref.remote.planner._steps import Retrieve  # noqa: E402
from dicomref.remote.transport._dicomweb import DicomwebTransport  # noqa: E402
from dicomref.store import ManagedStore  # noqa: E402
from servers import OrthancServer, in_private_netns, running  # noqa: E402

TARGET_PLAIN = 1.0
TARGET_SHAPED = 1.6
WHOLE = "whole study (WADO-RS)"
COLD = "dicomref, cold"
PROBED = "dicomref, probed"


@dataclass(slots=True)
class Row:
    objects: int = 0
    bytes: int = 0
    requests: str = ""
    times: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


@dataclass(slots=True)
class Section:
    link: str
    measured: float
    rows: dict[str, Row] = field(default_factory=dict)

    def row(self, name: str) -> Row:
        return self.rows.setdefault(name, Row())

    def ratio(self, name: str) -> float:
        return self.rows[WHOLE].best / self.rows[name].best


def whole_study(url: str, study: str, folder: Path) -> tuple[int, int]:
    """One WADO-RS GET of the study, each object written atomically; (objects, bytes)."""
    folder.mkdir(parents=True)
    objects = size = 0
    accept = multipart_accept(transfer_syntax="*")
    headers = {"Accept": accept, "Accept-Encoding": "identity"}
    with (
        httpx.Client(timeout=300) as client,
        client.stream("GET", f"{url}/studies/{study}", headers=headers) as answer,
    ):
        answer.raise_for_status()
        _, params = parse_content_type(answer.headers["content-type"])
        for part in iter_parts(answer.iter_raw(), boundary_of(params)):
            objects += 1
            size += len(part.body)
            temporary = folder / f".{objects}.tmp"
            with temporary.open("wb") as out:
                out.write(part.body)
                out.flush()
                os.fsync(out.fileno())
            temporary.rename(folder / f"{objects}.dcm")
    return objects, size


def ours(node: WebNode, subset: Subset, folder: Path, caps: Capabilities | None) -> FetchReport:
    out = ManagedStore(folder / "out")
    with Catalog(f"sqlite:///{folder / 'catalog.sqlite'}") as catalog:
        return fetch(
            node, [subset.plan], out=out, catalog=catalog, capabilities=caps, with_dependents=True
        )


def measure(
    section: Section,
    node: WebNode,
    subset: Subset,
    caps: Capabilities,
    work: Path,
    repeat: int,
    *,
    steps: bool,
) -> None:
    contenders = [WHOLE, COLD, PROBED]
    for number in range(repeat):
        for name in contenders[number % 3 :] + contenders[: number % 3]:
            folder = Path(tempfile.mkdtemp(dir=work))
            began = time.perf_counter()
            if name == WHOLE:
                objects, size = whole_study(node.url, subset.study, folder / "study")
                seconds = time.perf_counter() - began
                if objects != subset.study_objects:
                    raise AssertionError(f"the study gave {objects}, not {subset.study_objects}")
                row = section.row(name)
                row.objects, row.bytes, row.requests = objects, size, "1 WADO-RS"
            else:
                report = ours(node, subset, folder, None if name == COLD else caps)
                seconds = time.perf_counter() - began
                held = held_uids(folder / "out")
                if held != subset.exact or report.missing:
                    raise AssertionError(
                        f"{name}: the store holds {len(held)} objects, "
                        f"{len(held - subset.exact)} not referenced, "
                        f"{len(subset.exact - held)} referenced ones missing; "
                        f"missing: {report.missing}"
                    )
                row = section.row(name)
                row.objects, row.bytes = report.objects, report.bytes
                extra = f", {report.discarded} discarded" if report.discarded else ""
                row.requests = report.requests.describe() + extra
                if steps and number == 0:
                    print(f"      {name} sent:", flush=True)
                    for line in report.steps:
                        print(f"        {line}", flush=True)
            row.times.append(seconds)
            shutil.rmtree(folder)
        print(
            "    run "
            + f"{number + 1}: "
            + ", ".join(f"{n} {section.rows[n].times[-1]:.2f} s" for n in contenders),
            flush=True,
        )


def transport_alone(
    node: WebNode, subset: Subset, slices: list[str], series: tuple[str, str]
) -> str:
    """The 60 slices as single GETs at 1/4/8 in flight, and the whole series in one GET."""

    class Count:
        def __init__(self) -> None:
            self.n = 0

        def store_file(self, dataset: pydicom.Dataset, data: bytes) -> None:
            self.n += 1

    figures = []
    study, uid = series
    for concurrency in (1, 4, 8, 0):
        best = float("inf")
        for _ in range(3):
            with DicomwebTransport(WebNode(node.url, concurrency=concurrency or 1)) as web:
                count = Count()
                if concurrency:
                    step = Retrieve(
                        Method.GET, Level.IMAGE, study, uid, tuple(slices), len(slices), "bench"
                    )
                    expected: set[str] | None = set(slices)
                else:
                    step = Retrieve(Method.GET, Level.SERIES, study, uid, (), None, "bench")
                    expected = None
                began = time.perf_counter()
                web.retrieve(step, count, expected)
                best = min(best, time.perf_counter() - began)
        label = f"{concurrency} in flight" if concurrency else "whole series"
        figures.append(f"{label}: {best:.2f} s ({count.n} objects)")
    return "; ".join(figures)


def table(section: Section) -> Iterator[str]:
    yield f"DICOMweb subset case — {section.link}; one TCP stream: {section.measured:,.0f} Mbit/s"
    yield f"  {'':24} {'objects':>7} {'MB':>7}  {'requests':28} {'best s':>7} {'median s':>8}"
    for name, row in section.rows.items():
        yield (
            f"  {name:24} {row.objects:7d} {row.bytes / 1e6:7.1f}  {row.requests:28} "
            f"{row.best:7.2f} {row.median:8.2f}"
        )
    target = TARGET_SHAPED if "shaped" in section.link else TARGET_PLAIN
    for name in (COLD, PROBED):
        ratio = section.ratio(name)
        mark = "PASS" if ratio >= target else "FAIL"
        yield (
            f"target: {name} >= {target:.1f}x the whole study on {section.link}: "
            f"{ratio:.2f}x (medians {section.rows[WHOLE].median / section.rows[name].median:.2f}x) "
            f"{mark}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run of each contender")
    parser.add_argument("--rate", default="100mbit", help="the shaped link's rate (tc units)")
    parser.add_argument("--no-shaped", action="store_true", help="loopback only")
    parser.add_argument("--transport", action="store_true", help="also time the transport alone")
    parser.add_argument("--steps", action="store_true", help="print dicomref's requests")
    args = parser.parse_args()
    if not in_private_netns():
        raise SystemExit("run inside the private network namespace: scripts/in-netns.sh …")
    repeat = 1 if args.quick else args.repeat
    with tempfile.TemporaryDirectory(prefix="fetch-web-") as temporary:
        work = Path(temporary)
        print("making the subset patient …", flush=True)
        subset = make_subset(work / "patient")
        sample = [pydicom.dcmread(p, stop_before_pixels=True) for p in subset.paths]
        slices = sorted(
            str(d.SOPInstanceUID)
            for d in sample
            if str(d.SOPInstanceUID) in subset.exact and d.Modality == "CT"
        )
        ct = next(d for d in sample if str(d.SOPInstanceUID) in slices)
        print(
            f"  study: {subset.study_objects} objects, {subset.study_bytes / 1e6:.1f} MB; "
            f"needed: {len(subset.exact)} objects, {subset.exact_bytes / 1e6:.1f} MB",
            flush=True,
        )
        with running(OrthancServer(work / "orthanc", dicomweb=True)) as orthanc:
            orthanc.upload(subset.paths)
            node = WebNode(orthanc.dicomweb_url)
            caps = probe(node).capabilities
            print(
                f"  probed: url_budget {caps.url_budget}, concurrency {caps.concurrency}, "
                f"metadata_cost {caps.metadata_cost}, a single GET {caps.request_seconds} s, "
                f"in one GET {caps.object_seconds} s an object "
                f"({(caps.bytes_per_second or 0) / 1e6:.0f} MB/s)",
                flush=True,
            )
            links: list[tuple[str, contextlib.AbstractContextManager[object]]] = [
                ("loopback", contextlib.nullcontext())
            ]
            if not args.no_shaped:
                links.append((f"shaped to {args.rate}", shaped(args.rate)))
            sections = []
            for link, context in links:
                with context:
                    section = Section(link, throughput())
                    print(f"  {link}:", flush=True)
                    measure(section, node, subset, caps, work, repeat, steps=args.steps)
                    if args.transport:
                        series = (str(ct.StudyInstanceUID), str(ct.SeriesInstanceUID))
                        print(
                            f"    transport alone: {transport_alone(node, subset, slices, series)}"
                        )
                    sections.append(section)
    for section in sections:
        print()
        for line in table(section):
            print(line)


if __name__ == "__main__":
    main()
