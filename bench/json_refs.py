"""References from a large structure set's DICOMweb metadata: the raw JSON walk against pydicom.

Builds an RT Structure Set of at least ``--mib`` MB (default 20; real ones from Eclipse and
Monaco reach tens of MB) on a CT series of ``--slices`` slices: ``--rois`` ROIs, each with
one contour on every slice, each contour's ContourData sized to reach the target size.  It
is written as a file, and as DICOM JSON the way a DICOMweb server gives its metadata
(pydicom's ``to_json_dict``, compact).  Then, ``--repeat`` times in turn (a noisy spell
slows both alike):

* dicomref: ``read_json(bytes)``: ``json.loads`` (stdlib), then the raw walk
  (:mod:`dicomref.extraction._json`) and the summary with its references;
* baseline: ``json.loads``, ``pydicom.Dataset.from_json``, then the pydicom adapter
  (``dicomref.extraction.references(dataset)``), the path a pydicom Dataset takes (C-FIND
  return keys do).

Prints the best time of each, split into the shared ``json.loads`` and the rest, and the
ratios; checks both give the file reader's references.  Figures of a run: README,
"Benchmarks".

    .venv/bin/python bench/json_refs.py            # >= 20 MB, 3 rounds
    .venv/bin/python bench/json_refs.py --mib 5 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from dicomref.extraction import read_json, read_object, references

CT = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
STUDY_CLASS = "1.2.840.10008.3.1.2.3.1"
ROOT = "1.2.826.0.1.3680043.10.543.77."


def _item(**values: object) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def structure_set(slices: int, rois: int, points: int) -> Dataset:
    """A structure set: ``rois`` ROIs with a contour of ``points`` points on each slice."""
    study, series, frame = ROOT + "1", ROOT + "2", ROOT + "3"
    images = [f"{series}.{i + 1}" for i in range(slices)]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(RTSTRUCT)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(ROOT + "9.1")
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT, ROOT + "9.1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, ROOT + "9"
    ds.Modality, ds.PatientID, ds.PatientName = "RTSTRUCT", "BENCH", "BENCH^JSON"
    listed = _item(
        SeriesInstanceUID=series,
        ContourImageSequence=Sequence(
            [_item(ReferencedSOPClassUID=CT, ReferencedSOPInstanceUID=uid) for uid in images]
        ),
    )
    ds.ReferencedFrameOfReferenceSequence = Sequence(
        [
            _item(
                FrameOfReferenceUID=frame,
                RTReferencedStudySequence=Sequence(
                    [
                        _item(
                            ReferencedSOPClassUID=STUDY_CLASS,
                            ReferencedSOPInstanceUID=study,
                            RTReferencedSeriesSequence=Sequence([listed]),
                        )
                    ]
                ),
            )
        ]
    )
    ds.StructureSetROISequence = Sequence(
        [
            _item(ROINumber=r + 1, ReferencedFrameOfReferenceUID=frame, ROIName=f"ROI{r + 1}")
            for r in range(rois)
        ]
    )
    # One ring of points per slice, as text: pydicom keeps a DS string as it is given.
    rings = [
        "\\".join(
            f"{100 * ((p * 7919) % 1000) / 1000 - 50:.3f}\\{(p * 104729) % 1000 / 10 - 50:.3f}"
            f"\\{2.5 * s:.2f}"
            for p in range(points)
        )
        for s in range(slices)
    ]
    ds.ROIContourSequence = Sequence(
        [
            _item(
                ReferencedROINumber=r + 1,
                ContourSequence=Sequence(
                    [
                        _item(
                            ContourImageSequence=Sequence(
                                [_item(ReferencedSOPClassUID=CT, ReferencedSOPInstanceUID=uid)]
                            ),
                            ContourGeometricType="CLOSED_PLANAR",
                            NumberOfContourPoints=points,
                            ContourData=rings[s],
                        )
                        for s, uid in enumerate(images)
                    ]
                ),
            )
            for r in range(rois)
        ]
    )
    return ds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=20.0, help="least file size, MB")
    parser.add_argument("--slices", type=int, default=150)
    parser.add_argument("--rois", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    contours = args.slices * args.rois
    points = max(4, int(args.mib * 1e6 / contours / 21) + 1)  # ~22.6 bytes a point
    started = time.perf_counter()
    ds = structure_set(args.slices, args.rois, points)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rtstruct.dcm"
        ds.save_as(path, enforce_file_format=True)
        expected = read_object(path).references
        size = path.stat().st_size
    text = json.dumps(ds.to_json_dict(), separators=(",", ":")).encode()
    del ds
    print(
        f"structure set: {size / 1e6:.1f} MB file, {contours:,} contours of {points} points, "
        f"{len(expected):,} references; metadata JSON {len(text) / 1e6:.1f} MB "
        f"(built in {time.perf_counter() - started:.0f} s)"
    )
    if size < args.mib * 1e6:
        sys.exit(f"the structure set is {size / 1e6:.1f} MB, less than --mib {args.mib}")

    best = {"json.loads": float("inf"), "walk": float("inf"), "from_json+adapter": float("inf")}
    for round_ in range(args.repeat):
        started = time.perf_counter()
        parsed = json.loads(text)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        summary = read_json(parsed, source="bench")
        walked = time.perf_counter() - started
        started = time.perf_counter()
        dataset = Dataset.from_json(parsed)
        slow = references(dataset)
        adapted = time.perf_counter() - started
        if summary.references != expected or slow != list(expected):
            sys.exit("the references differ from the file reader's")
        del parsed, dataset, slow
        best["json.loads"] = min(best["json.loads"], loaded)
        best["walk"] = min(best["walk"], walked)
        best["from_json+adapter"] = min(best["from_json+adapter"], adapted)
        print(
            f"round {round_ + 1}: json.loads {loaded:.2f} s, walk {walked * 1000:.0f} ms, "
            f"from_json + adapter {adapted:.1f} s",
            flush=True,
        )
    loads, walk, baseline = best["json.loads"], best["walk"], best["from_json+adapter"]
    print(f"json.loads (both):               {loads:8.2f} s")
    print(f"dicomref raw walk:               {walk * 1000:8.0f} ms")
    print(f"Dataset.from_json + adapter:     {baseline:8.2f} s")
    print(f"ratio, after json.loads:         {baseline / walk:8.0f}x")
    print(f"ratio, with json.loads:          {(loads + baseline) / (loads + walk):8.1f}x")


if __name__ == "__main__":
    main()
