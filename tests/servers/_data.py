"""Test objects for the servers: pydicom's CT_small.dcm and clones of it."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

CT_SMALL = "CT_small.dcm"


def ct_small() -> Path:
    """pydicom's CT_small.dcm (shipped with pydicom, no download)."""
    path = get_testdata_file(CT_SMALL)
    if path is None:  # pragma: no cover - pydicom always ships it
        raise FileNotFoundError(CT_SMALL)
    return Path(path)


def clone_ct(
    folder: Path,
    count: int,
    *,
    study: str | None = None,
    series: str | None = None,
    patient_id: str = "DICOMREF-TEST",
) -> list[Path]:
    """Write ``count`` copies of CT_small.dcm into ``folder``, each with a new SOP Instance
    UID, all in one new series of one new study (or the given ones).  Returns the paths in
    instance-number order."""
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(ct_small())
    study = study or generate_uid()
    series = series or generate_uid()
    template.StudyInstanceUID = study
    template.SeriesInstanceUID = series
    template.PatientID = patient_id
    paths = []
    for number in range(1, count + 1):
        sop = generate_uid()
        template.SOPInstanceUID = sop
        template.file_meta.MediaStorageSOPInstanceUID = sop
        template.InstanceNumber = number
        path = folder / f"ct{number:04d}.dcm"
        template.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def sop_instance_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
