"""Scan speed: `dicomref scan` into a fresh catalog against a plain pydicom loop.

Two cases, each timed in the same run, on the same (page-cached) files, each ``--repeat``
times in turn (best of each), with the ratio printed (target: dicomref at least 5x faster):

* library: a generated patient with 3,000 CT slices plus its RT objects, SEG and KOS;
  ``for path in files: pydicom.dcmread(path, stop_before_pixels=True)`` against
  ``Catalog(fresh).scan([folder])`` (read, extract references, index) in this process.
* process: 10,000 CT files with a real scanner's header (pydicom's ``CT_small.dcm``, a GE
  HiSpeed CT/i slice, cloned into 4 studies of 5 series with new UIDs, instance numbers and
  slice positions); a ``python`` process walking the folder and running the same dcmread
  loop against a ``dicomref scan DIR --db NEW`` process, each timed as a whole, start-up
  included: what a user waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from _bench import best_alternating
from dicomref.catalog import Catalog
from dicomref.sample import generate_sample

#: The baseline process: walk the folder, read every file's header with pydicom.
PYDICOM_LOOP = """\
import os, sys
import pydicom
count = 0
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        pydicom.dcmread(os.path.join(folder, name), stop_before_pixels=True)
        count += 1
print(count)
"""
STUDIES = 4
SERIES_PER_STUDY = 5


def real_ct_files(out: Path, count: int) -> list[Path]:
    """``count`` clones of pydicom's CT_small.dcm (a real scanner's header, 32 KiB of
    pixels): ``STUDIES`` studies of ``SERIES_PER_STUDY`` series, each slice with its own SOP
    Instance UID, instance number and position along the slice normal."""
    source = get_testdata_file("CT_small.dcm")
    assert isinstance(source, str), "pydicom ships CT_small.dcm"
    template = pydicom.dcmread(source)
    x, y, z0 = (float(v) for v in template.ImagePositionPatient)
    series_count = STUDIES * SERIES_PER_STUDY
    per_series = -(-count // series_count)
    paths = []
    for number in range(count):
        series_index, slice_index = divmod(number, per_series)
        if slice_index == 0:
            if series_index % SERIES_PER_STUDY == 0:
                template.StudyInstanceUID = generate_uid()
                template.FrameOfReferenceUID = generate_uid()
            template.SeriesInstanceUID = generate_uid()
            template.SeriesNumber = series_index % SERIES_PER_STUDY + 1
            folder = out / f"study{series_index // SERIES_PER_STUDY}/series{series_index}"
            folder.mkdir(parents=True, exist_ok=True)
        sop = generate_uid()
        template.SOPInstanceUID = sop
        template.file_meta.MediaStorageSOPInstanceUID = sop
        template.InstanceNumber = slice_index + 1
        z = round(z0 + 1.25 * slice_index, 6)
        template.ImagePositionPatient = [x, y, z]
        template.SliceLocation = z
        path = folder / f"IM{slice_index:05d}"
        template.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _timed_process(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def process_case(root: Path, count: int, repeat: int) -> None:
    started = time.perf_counter()
    folder = root / "ct"
    files = real_ct_files(folder, count)
    spent = time.perf_counter() - started
    print(f"\nprocess case: wrote {len(files)} CT_small clones in {spent:.1f} s")
    for path in files:
        path.read_bytes()
    dicomref = str(Path(sys.executable).parent / "dicomref")
    runs = iter(range(1000))

    def baseline() -> None:
        read = int(_timed_process([sys.executable, "-c", PYDICOM_LOOP, str(folder)]))
        assert read == count, read

    def dicomref_scan() -> None:
        db = f"sqlite:///{root / f'process{next(runs)}.sqlite'}"
        report = json.loads(_timed_process([dicomref, "scan", str(folder), "--db", db, "--json"]))
        assert report["indexed"] == count, report

    t_base, t_scan = best_alternating(baseline, dicomref_scan, repeat)
    print(
        f"python pydicom.dcmread loop process: {t_base:.2f} s ({t_base / count * 1e6:.0f} us/file)"
    )
    print(
        f"dicomref scan process:               {t_scan:.2f} s ({t_scan / count * 1e6:.0f} us/file)"
    )
    print(
        f"ratio (baseline / dicomref), whole processes: {t_base / t_scan:.1f}x  "
        f"(target >= 5x, aim 10x; {os.cpu_count()} cores)"
    )


def library_case(root: Path, slices: int, repeat: int) -> None:
    started = time.perf_counter()
    sample = generate_sample(root / "patient", slices=slices)
    files = [o.path for o in sample.objects]
    print(f"library case: generated {len(files)} files in {time.perf_counter() - started:.1f} s")
    for path in files:  # warm the page cache for both contenders
        path.read_bytes()

    def baseline() -> None:
        for path in files:
            pydicom.dcmread(path, stop_before_pixels=True)

    runs = iter(range(1000))

    def dicomref_scan() -> None:
        with Catalog(f"sqlite:///{root / f'catalog{next(runs)}.sqlite'}") as catalog:
            report = catalog.scan([root / "patient"])
        assert report.indexed == len(files), report

    t_base, t_scan = best_alternating(baseline, dicomref_scan, repeat)
    n = len(files)
    print(f"pydicom.dcmread loop: {t_base:.2f} s ({t_base / n * 1e6:.0f} us/file)")
    print(f"dicomref scan:        {t_scan:.2f} s ({t_scan / n * 1e6:.0f} us/file)")
    print(f"ratio (baseline / dicomref): {t_base / t_scan:.1f}x  (target >= 5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=3000, help="CT slices (library case)")
    parser.add_argument("--files", type=int, default=10_000, help="CT files (process case)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=("library", "process"), help="run one case only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-") as tmp:
        if args.only != "process":
            library_case(Path(tmp), args.slices, args.repeat)
        if args.only != "library":
            process_case(Path(tmp), args.files, args.repeat)


if __name__ == "__main__":
    main()
