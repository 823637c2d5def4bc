"""Micro-benchmark of the header reader: µs per file, pydicom.dcmread against read_object.

Run: ``.venv/bin/python bench/_reader_micro.py [--files 300] [--repeat 5]``.  One process,
warm page cache, best of ``--repeat`` passes over the same copies.  Columns: pydicom's
``dcmread(stop_before_pixels=True)`` (the baseline), the same followed by
``references(dataset)`` (what reading the references through pydicom costs: pydicom parses
sequences lazily, so dcmread alone has not read them), and ``read_object``.  Corpora:

* CT_small: copies of pydicom's CT_small.dcm (255 top-level elements);
* plain CT: a generated 512x512 CT slice with about 60 elements;
* RTSTRUCT: a generated structure set with 40 ROIs x 100 contours (a large header).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from dicomref.extraction import read_object, references

CT = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"


def _base(sop_class: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = "1.2.3.4.5"
    ds.Modality = modality
    ds.PatientName = "Bench^Patient"
    ds.PatientID = "BENCH"
    return ds


def plain_ct() -> Dataset:
    """A CT slice with about 60 elements and 512x512 16-bit pixels."""
    ds = _base(CT, "CT")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    for keyword, value in {
        "StudyDate": "20240101",
        "SeriesDate": "20240101",
        "AcquisitionDate": "20240101",
        "ContentDate": "20240101",
        "StudyTime": "120000",
        "SeriesTime": "120000",
        "AcquisitionTime": "120000",
        "ContentTime": "120000",
        "AccessionNumber": "A1",
        "Manufacturer": "dicomref",
        "InstitutionName": "Bench",
        "ReferringPhysicianName": "",
        "StationName": "ST1",
        "StudyDescription": "bench",
        "SeriesDescription": "axial",
        "ManufacturerModelName": "M",
        "PatientBirthDate": "19700101",
        "PatientSex": "O",
        "PatientAge": "054Y",
        "BodyPartExamined": "CHEST",
        "SliceThickness": "1.0",
        "KVP": "120",
        "DataCollectionDiameter": "500",
        "SoftwareVersions": "1",
        "ReconstructionDiameter": "500",
        "DistanceSourceToDetector": "1000",
        "DistanceSourceToPatient": "500",
        "GantryDetectorTilt": "0",
        "TableHeight": "100",
        "RotationDirection": "CW",
        "ExposureTime": "500",
        "XRayTubeCurrent": "200",
        "Exposure": "100",
        "ConvolutionKernel": "B30f",
        "PatientPosition": "HFS",
        "StudyID": "1",
        "SeriesNumber": "2",
        "AcquisitionNumber": "1",
        "InstanceNumber": "17",
        "ImagePositionPatient": ["-250.0", "-250.0", "17.0"],
        "ImageOrientationPatient": ["1", "0", "0", "0", "1", "0"],
        "FrameOfReferenceUID": "1.2.3.4.6",
        "PositionReferenceIndicator": "",
        "SliceLocation": "17.0",
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": 512,
        "Columns": 512,
        "PixelSpacing": ["0.9765625", "0.9765625"],
        "BitsAllocated": 16,
        "BitsStored": 12,
        "HighBit": 11,
        "PixelRepresentation": 0,
        "WindowCenter": "40",
        "WindowWidth": "400",
        "RescaleIntercept": "-1024",
        "RescaleSlope": "1",
    }.items():
        setattr(ds, keyword, value)
    ds.PixelData = bytes(512 * 512 * 2)
    return ds


def large_rtstruct(rois: int = 40, contours: int = 100) -> Dataset:
    """A structure set with ``rois`` x ``contours`` contours of 64 points, each on a slice."""
    ds = _base(RTSTRUCT, "RTSTRUCT")
    roi_contours = []
    for roi in range(rois):
        contour_items = []
        for index in range(contours):
            image = Dataset()
            image.ReferencedSOPClassUID = CT
            image.ReferencedSOPInstanceUID = f"1.2.3.4.5.{index + 1}"
            contour = Dataset()
            contour.ContourImageSequence = Sequence([image])
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = 64
            contour.ContourData = [f"{i * 0.5:.1f}" for i in range(192)]
            contour_items.append(contour)
        item = Dataset()
        item.ReferencedROINumber = roi + 1
        item.ContourSequence = Sequence(contour_items)
        roi_contours.append(item)
    ds.ROIContourSequence = Sequence(roi_contours)
    return ds


def per_file_us(fn: Callable[[Path], object], files: list[Path], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for path in files:
            fn(path)
        best = min(best, time.perf_counter() - started)
    return best / len(files) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomref-micro-") as tmp:
        root = Path(tmp)
        corpora: dict[str, list[Path]] = {}
        source = Path(str(get_testdata_file("CT_small.dcm")))
        corpora["CT_small.dcm"] = [
            Path(shutil.copy(source, root / f"small{i}.dcm")) for i in range(args.files)
        ]
        ct = plain_ct()
        ct_files = []
        for i in range(args.files):
            path = root / f"ct{i}.dcm"
            ct.save_as(path, enforce_file_format=True)
            ct_files.append(path)
        corpora["plain CT (~60 elements)"] = ct_files
        rt = root / "rtstruct.dcm"
        large_rtstruct().save_as(rt, enforce_file_format=True)
        corpora[f"RTSTRUCT 4000 contours ({rt.stat().st_size // 1024} KiB)"] = [rt] * 5
        for files in corpora.values():
            for path in files:
                path.read_bytes()

        def dcmread(path: Path) -> object:
            return pydicom.dcmread(path, stop_before_pixels=True)

        def dcmread_references(path: Path) -> object:
            return references(pydicom.dcmread(path, stop_before_pixels=True))

        print(
            f"{'corpus':40} {'dcmread':>9} {'+references':>12} {'read_object':>12}"
            f" {'vs dcmread':>11} {'vs +refs':>9}"
        )
        for name, files in corpora.items():
            base = per_file_us(dcmread, files, args.repeat)
            full = per_file_us(dcmread_references, files, args.repeat)
            ours = per_file_us(read_object, files, args.repeat)
            print(
                f"{name:40} {base:7.0f}µs {full:10.0f}µs {ours:10.0f}µs"
                f" {base / ours:10.1f}x {full / ours:8.1f}x"
            )


if __name__ == "__main__":
    main()
