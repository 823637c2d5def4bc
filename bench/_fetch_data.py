"""The patient of bench/fetch.py: a planning study that holds more than plan 0 references.

:func:`make_patient` writes :func:`~dicomref.sample.generate_sample`'s patient with CT
slices of realistic size (512 x 512, 16 bit: ~0.5 MB each) and adds a second CT series to
the planning study (a second scan, as real planning studies have), cloned from the first
with new Series and SOP Instance UIDs.  Nothing references that series: a whole-study
download moves it, an exact fetch of plan 0 does not.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from dicomref.sample import generate_sample

MATRIX = 512
"""Rows and columns of every CT slice (a clinical CT's matrix)."""

SECOND_SERIES_NUMBER = 8


@dataclass(frozen=True, slots=True)
class Patient:
    """The files to load, and what an exact fetch of ``plan`` must bring.

    ``exact``: plan 0, structure set 0 and the CT slices its contours lie on (SOP Instance
    UIDs), ``exact_bytes`` their size as files.  ``study``: the planning study;
    ``study_objects``/``study_bytes`` what it holds on the server (files as loaded).
    """

    paths: tuple[Path, ...]
    plan: str
    study: str
    patient_id: str
    exact: frozenset[str]
    exact_bytes: int
    study_objects: int
    study_bytes: int

    @property
    def exact_count(self) -> int:
        return len(self.exact)


def make_patient(folder: Path, *, slices: int, extra: int) -> Patient:
    """Write the patient under ``folder``: ``slices`` planning CT slices, ``extra`` more in a
    second, unreferenced CT series of the planning study."""
    sample = generate_sample(folder / "patient", slices=slices, rows=MATRIX, columns=MATRIX)
    plan = sample.plans[0]
    structure_set = sample.structure_sets[0]
    extra_paths = _second_series(folder / "second_series", [o.path for o in sample.ct], extra)
    study_paths = [o.path for o in sample.objects if o.study == plan.study] + extra_paths
    exact = {plan.sop_instance, structure_set.sop_instance}
    exact |= _contour_images(structure_set.path)
    exact_paths = [o.path for o in sample.objects if o.sop_instance in exact]
    return Patient(
        paths=tuple(o.path for o in sample.objects) + tuple(extra_paths),
        plan=plan.sop_instance,
        study=plan.study,
        patient_id=sample.patient_id,
        exact=frozenset(exact),
        exact_bytes=sum(p.stat().st_size for p in exact_paths),
        study_objects=len(study_paths),
        study_bytes=sum(p.stat().st_size for p in study_paths),
    )


def _contour_images(path: Path) -> set[str]:
    """The SOP Instance UIDs a structure set's contours name (ContourImageSequence)."""
    dataset = pydicom.dcmread(path)
    return {
        str(image.ReferencedSOPInstanceUID)
        for roi in dataset.ROIContourSequence
        for contour in roi.get("ContourSequence", [])
        for image in contour.get("ContourImageSequence", [])
    }


def _second_series(folder: Path, templates: list[Path], count: int) -> list[Path]:
    """``count`` CT slices in one new series of the templates' study, cloned from them in
    turn, each with a new SOP Instance UID."""
    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    paths = []
    for number, template in zip(range(1, count + 1), itertools.cycle(templates), strict=False):
        dataset = pydicom.dcmread(template)
        sop = generate_uid()
        dataset.SeriesInstanceUID = series
        dataset.SeriesNumber = SECOND_SERIES_NUMBER
        dataset.SeriesDescription = "second scan (not referenced)"
        dataset.SOPInstanceUID = sop
        dataset.file_meta.MediaStorageSOPInstanceUID = sop
        dataset.InstanceNumber = number
        path = folder / f"ct{number:04d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
