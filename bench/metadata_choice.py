"""Metadata or the object: what reading a candidate's references costs each way, and whether
the planner's choice (``planner/_metadata.metadata_first`` with what the probe measured) is
the cheaper one.  Orthanc 1.10 with its DICOMweb plugin 1.7, started once and loaded.

Candidates, each alone in its series as the fetch reads them (a series of candidates at a
time):

- a plan (RTPLAN, a few KB: all header);
- a small dose (RTDOSE, the sample's 21 x 21 x 17 grid, 18 KB) and a dose of a clinical
  size (``--dose-mib``, default 8: the same dose with a larger grid): pixel data, which
  their metadata gives as a BulkDataURI;
- a structure set of at least ``--mib`` MB (default 20; built as bench/json_refs.py builds
  one: ``--rois`` ROIs with a contour on each of ``--slices`` slices).

Each way, ``--repeat`` times in turn, through dicomref's own DICOMweb transport:

- metadata: ``DicomwebTransport.series_metadata`` (one GET of the series' metadata, read
  as it streams with the raw JSON walk), the references of each instance;
- object: a WADO-RS retrieve of the series (``transfer-syntax=*``), each object written to
  a file and read with ``read_object``, as the fetch keeps and reads what arrives.

Printed per candidate: bytes, the best seconds of each way, which is cheaper, what the
planner picks (``metadata_first(modality, probed capabilities)``, as the fetch asks it:
the candidates' sizes are not known before they move) and whether that is the cheaper (or
within ``--tie`` of it, 10 %, or ``--tie-ms``, 1 ms: loopback noise); both ways must give
the same references, and the pick must not change had the probe timed the metadata faster
(``metadata_cost`` 0.5: Orthanc's varies 0.9-3 from run to run on its small RT object).
Exit 1 if a pick is not the cheaper.

    scripts/in-netns.sh .venv/bin/python bench/metadata_choice.py
    scripts/in-netns.sh .venv/bin/python bench/metadata_choice.py --mib 5 --repeat 2
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from pydicom.dataset import Dataset  # noqa: E402

from dicomref._dicomweb._node import WebNode  # noqa: E402
from dicomref.extraction import read_object  # noqa: E402
from dicomref.remote import Capabilities, probe  # noqa: E402
from dicomref.remote.planner._enums import Level, Method  # noqa: E402
from dicomref.remote.planner._metadata import metadata_first  # noqa: E402
from dicomref.remote.planner._steps import Retrieve  # noqa: E402
from dicomref.remote.transport._dicomweb import DicomwebTransport  # noqa: E402
from dicomref.sample import generate_sample  # noqa: E402
from json_refs import structure_set  # noqa: E402
from servers import OrthancServer, in_private_netns, running  # noqa: E402


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    modality: str
    study: str
    series: str
    size: int


class _Reader:
    """The fetch's way with an arriving object: written to a file, read from it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.targets: set[str] = set()
        self.count = 0

    def store_file(self, dataset: Dataset, data: bytes) -> None:
        self.count += 1
        path = self.folder / f"{self.count}.dcm"
        path.write_bytes(data)
        self.targets |= {r.target for r in read_object(path).references}
        path.unlink()


def by_metadata(web: DicomwebTransport, candidate: Candidate, _: Path) -> set[str]:
    targets: set[str] = set()
    for instance in web.series_metadata(candidate.study, candidate.series):
        if instance.summary is None:
            raise SystemExit(f"{candidate.name}: metadata unreadable: {instance.error}")
        targets |= {r.target for r in instance.summary.references}
    return targets


def by_object(web: DicomwebTransport, candidate: Candidate, folder: Path) -> set[str]:
    reader = _Reader(folder)
    step = Retrieve(Method.GET, Level.SERIES, candidate.study, candidate.series, (), None, "bench")
    answer = web.retrieve(step, reader, None)
    if answer.reason or not reader.count:
        raise SystemExit(f"{candidate.name}: the retrieve failed: {answer.reason}")
    return reader.targets


WAYS: dict[str, Callable[[DicomwebTransport, Candidate, Path], set[str]]] = {
    "metadata": by_metadata,
    "object": by_object,
}


def big_structure_set(folder: Path, mib: float, slices: int, rois: int) -> Path:
    points = max(4, int(mib * 1e6 / (slices * rois) / 21) + 1)  # ~22.6 bytes a point
    path = folder / "big_rtstruct.dcm"
    structure_set(slices, rois, points).save_as(path, enforce_file_format=True)
    if path.stat().st_size < mib * 1e6:
        raise SystemExit(f"the structure set is {path.stat().st_size / 1e6:.1f} MB, not {mib}")
    return path


def big_dose(folder: Path, small: Path, mib: float) -> Path:
    """``small`` with a grid of at least ``mib`` MB, in a series of its own."""
    from pydicom import dcmread
    from pydicom.uid import generate_uid

    ds = dcmread(small)
    side = 256
    frames = max(1, int(mib * 1e6 / (side * side * 2)) + 1)
    ds.Rows = ds.Columns = side
    ds.NumberOfFrames = frames
    ds.GridFrameOffsetVector = [2.5 * f for f in range(frames)]
    ds.PixelData = bytes(range(256)) * (side * side * 2 * frames // 256)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    path = folder / "big_rtdose.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def candidate(name: str, path: Path) -> Candidate:
    summary = read_object(path)
    key = summary.key
    return Candidate(name, summary.modality or "", key.study, key.series, path.stat().st_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=float, default=20.0, help="the big structure set's MB")
    parser.add_argument("--slices", type=int, default=150)
    parser.add_argument("--rois", type=int, default=30)
    parser.add_argument("--dose-mib", type=float, default=8.0, help="the large dose's MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tie", type=float, default=0.10, help="a pick within this is fine")
    parser.add_argument("--tie-ms", type=float, default=1.0, help="… or within these ms")
    args = parser.parse_args()
    if not in_private_netns():
        raise SystemExit("run inside the private network namespace: scripts/in-netns.sh …")
    failed = False
    with tempfile.TemporaryDirectory(prefix="metadata-choice-") as temporary:
        work = Path(temporary)
        sample = generate_sample(work / "patient", slices=8, seed=0)
        print(f"building a structure set of >= {args.mib:g} MB …", flush=True)
        big = big_structure_set(work, args.mib, args.slices, args.rois)
        dose = big_dose(work, sample.dose.path, args.dose_mib)
        candidates = [
            candidate("plan (RTPLAN)", sample.plans[0].path),
            candidate("small dose (RTDOSE)", sample.dose.path),
            candidate(f"dose (RTDOSE, {args.dose_mib:g}+ MB)", dose),
            candidate(f"structure set (RTSTRUCT, {args.mib:g}+ MB)", big),
        ]
        with running(OrthancServer(work / "orthanc", dicomweb=True)) as orthanc:
            orthanc.upload([*sample.paths, big, dose])
            node = WebNode(orthanc.dicomweb_url)
            caps = probe(node).capabilities
            print(
                f"probed: metadata_cost {caps.metadata_cost}, bulk_data_uris "
                f"{caps.bulk_data_uris}, metadata_complete {caps.metadata_complete}",
                flush=True,
            )
            rows = [measure(node, c, caps, work, args.repeat) for c in candidates]
    print()
    print(
        f"{'candidate':34} {'bytes':>12} {'metadata s':>11} {'object s':>9} "
        f"{'cheaper':>9} {'picked':>9}"
    )
    for row in rows:
        c, best, picked = row.candidate, row.best, row.picked
        cheaper = min(best, key=lambda way: best[way])
        slack = max(best[cheaper] * args.tie, args.tie_ms / 1000)
        fine = best[picked] <= best[cheaper] + slack
        failed |= not fine
        mark = "PASS" if fine else "FAIL"
        print(
            f"{c.name:34} {c.size:12,d} {best['metadata']:11.3f} {best['object']:9.3f} "
            f"{cheaper:>9} {picked:>9}  {mark} (picked {best[picked] / best[cheaper]:.2f}x "
            "the cheaper)"
        )
    sys.exit(1 if failed else 0)


@dataclass(frozen=True, slots=True)
class Row:
    candidate: Candidate
    best: dict[str, float]
    picked: str


def measure(node: WebNode, c: Candidate, caps: Capabilities, work: Path, repeat: int) -> Row:
    best = dict.fromkeys(WAYS, float("inf"))
    found: dict[str, set[str]] = {}
    with DicomwebTransport(node) as web:
        for number in range(repeat):
            order = list(WAYS) if number % 2 == 0 else list(reversed(WAYS))
            for way in order:
                began = time.perf_counter()
                found[way] = WAYS[way](web, c, work)
                best[way] = min(best[way], time.perf_counter() - began)
    if found["metadata"] != found["object"]:
        raise SystemExit(f"{c.name}: the references differ between metadata and the object")
    why = metadata_first(c.modality, caps)
    picked = "metadata" if why else "object"
    # What a probe that timed the metadata faster on its small object would make of it
    # (Orthanc's metadata_cost varies 0.9-3 run to run): the pick must not flip.
    faster = dataclasses.replace(caps, metadata_cost=0.5)
    if ("metadata" if metadata_first(c.modality, faster) else "object") != picked:
        raise SystemExit(f"{c.name}: the pick flips with metadata_cost 0.5")
    print(
        f"  {c.name}: metadata {best['metadata']:.3f} s, object {best['object']:.3f} s; "
        f"picked {picked}" + (f" ({why})" if why else ""),
        flush=True,
    )
    return Row(c, best, picked)


if __name__ == "__main__":
    main()
