"""generate_sample: one seeded patient, every object written and wired together."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from dicomref.errors import UsageError
from dicomref.sample._anatomy import Grid, centred_grid, phantom
from dicomref.sample._common import Patient, make_patient, make_series, make_study, uid_for
from dicomref.sample._ct import write_ct_series
from dicomref.sample._kos import write_kos
from dicomref.sample._model import (
    ROLE_CT,
    ROLE_DOSE,
    ROLE_KOS,
    ROLE_PLAN,
    ROLE_SECOND_STUDY_CT,
    ROLE_SECOND_STUDY_STRUCTURE_SET,
    ROLE_SEG,
    ROLE_STRUCTURE_SET,
    Sample,
    SampleObject,
)
from dicomref.sample._rtdose import write_dose
from dicomref.sample._rtplan import Prescription, write_plan
from dicomref.sample._rtstruct import write_structure_set
from dicomref.sample._seg import segment_for, write_seg

MAX_SEED = 999_999_999
"""Seeds run from 0 to this, so names and IDs stay within their VR's length."""
MIN_MATRIX = 16
MAX_MATRIX = 4096
STRUCTURE_SET_ROIS = (("BODY", "PTV", "SPINALCORD"), ("BODY", "PTV_BOOST", "HEART"))
"""The ROIs of structure set 0 and structure set 1 of study 1."""
SECOND_STUDY_ROIS = ("BODY", "PTV")


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """What plan ``i`` treats (a ROI of structure set ``i``), how and from where."""

    label: str
    target: str
    fractions: int
    dose_per_fraction: float
    gantry_angles: tuple[float, ...]


PLANS = (
    PlanSpec("MAIN", "PTV", fractions=25, dose_per_fraction=2.0, gantry_angles=(0.0, 120.0, 240.0)),
    PlanSpec("BOOST", "PTV_BOOST", fractions=5, dose_per_fraction=2.0, gantry_angles=(45.0, 315.0)),
)
SEG_SEGMENTS = ("PTV", "SPINALCORD")
SEG_SLICES = 3
"""The segmentation covers up to this many slices around the target's centre."""


def generate_sample(
    out: str | os.PathLike[str],
    *,
    seed: int = 0,
    slices: int = 40,
    rows: int = 64,
    columns: int = 64,
    pixel_spacing: float = 1.0,
    slice_thickness: float = 2.5,
) -> Sample:
    """Write a realistic, fully cross-referenced patient under ``out`` and describe it.

    The same arguments give byte-identical files; another ``seed`` gives another
    patient (name ``DICOMREF^SAMPLE<seed>``, ID ``DREF-<seed>``) with other UIDs and
    dates.  Files are laid out as ``out/study<n>/<MODALITY>_<series number>/<nnnn>.dcm``:

    - ``study1/CT_1``: ``slices`` axial CT slices of ``rows`` x ``columns`` pixels;
    - ``study1/RTSTRUCT_2``: structure sets 0 and 1 (``0001.dcm``, ``0002.dcm``);
    - ``study1/RTPLAN_3`` and ``study1/RTPLAN_4``: plan 0 (→ structure set 0) and
      plan 1 (→ structure set 1);
    - ``study1/RTDOSE_5``: the dose of plan 0 (→ plan 0 and structure set 0);
    - ``study1/SEG_6``: PTV and spinal cord on up to three CT slices;
    - ``study1/KO_7``: two CT slices and plan 0 flagged "Of Interest";
    - ``study2/CT_1`` and ``study2/RTSTRUCT_2``: a later CT of ``max(4, slices // 4)``
      slices with its own frame of reference, and a structure set on it.

    Args:
        out: the folder to write to; it must not exist or be empty.
        seed: 0 to :data:`MAX_SEED`.
        slices: slices of study 1's CT, at least 1.
        rows: pixel rows of every CT slice, :data:`MIN_MATRIX` to :data:`MAX_MATRIX`.
        columns: pixel columns of every CT slice, same bounds.
        pixel_spacing: mm between pixel centres, positive.
        slice_thickness: mm, also the distance between slices, positive.

    Raises:
        UsageError: an argument is out of range, ``out`` is a non-empty folder or a
            file, or the files cannot be written.
    """
    _check_arguments(seed, slices, rows, columns, pixel_spacing, slice_thickness)
    root = Path(out)
    _check_root(root)
    patient = make_patient(seed)
    planning = centred_grid(rows, columns, pixel_spacing, slice_thickness, slices)
    follow_up = centred_grid(rows, columns, pixel_spacing, slice_thickness, max(4, slices // 4))
    try:
        objects = _write_study_1(root, seed, patient, planning)
        objects += _write_study_2(root, seed, patient, follow_up)
    except OSError as exc:
        raise UsageError(f"cannot write the sample to {root}: {exc}") from exc
    return Sample(
        patient_id=patient.patient_id,
        patient_name=patient.name,
        root=root,
        objects=tuple(objects),
    )


def _check_arguments(
    seed: int, slices: int, rows: int, columns: int, pixel_spacing: float, slice_thickness: float
) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"seed must be between 0 and {MAX_SEED}, not {seed}")
    if slices < 1:
        raise UsageError(f"slices must be at least 1, not {slices}")
    for name, value in (("rows", rows), ("columns", columns)):
        if not MIN_MATRIX <= value <= MAX_MATRIX:
            raise UsageError(f"{name} must be between {MIN_MATRIX} and {MAX_MATRIX}, not {value}")
    for name, length in (("pixel_spacing", pixel_spacing), ("slice_thickness", slice_thickness)):
        if not (math.isfinite(length) and length > 0):
            raise UsageError(f"{name} must be a positive number of mm, not {length}")


def _check_root(root: Path) -> None:
    if root.is_dir():
        if any(root.iterdir()):
            raise UsageError(f"{root} is not empty: generate the sample into a new folder")
    elif root.exists():
        raise UsageError(f"{root} exists and is not a folder")


def _write_study_1(root: Path, seed: int, patient: Patient, grid: Grid) -> list[SampleObject]:
    """The planning study: CT, structure sets, plans, dose, SEG and KOS, wired together."""
    study = make_study(seed, 1, "PLANNING CT")
    structures = phantom(grid, seed)
    frame_of_reference = uid_for(seed, "frame_of_reference", 1)

    ct = write_ct_series(
        root,
        seed=seed,
        role=ROLE_CT,
        patient=patient,
        series=make_series(seed, study, 1, "CT", "PLANNING CT"),
        grid=grid,
        frame_of_reference=frame_of_reference,
        structures=structures,
    )
    rtstruct_series = make_series(seed, study, 2, "RTSTRUCT", "STRUCTURE SETS")
    structure_sets = [
        write_structure_set(
            root,
            seed=seed,
            role=ROLE_STRUCTURE_SET,
            index=index,
            patient=patient,
            series=rtstruct_series,
            label=f"SET{index}",
            grid=grid,
            frame_of_reference=frame_of_reference,
            ct=ct,
            structures=[structures[name] for name in names],
        )
        for index, names in enumerate(STRUCTURE_SET_ROIS)
    ]
    prescriptions = [
        Prescription(
            structures[plan.target],
            STRUCTURE_SET_ROIS[index].index(plan.target) + 1,
            fractions=plan.fractions,
            dose_per_fraction=plan.dose_per_fraction,
            gantry_angles=plan.gantry_angles,
        )
        for index, plan in enumerate(PLANS)
    ]
    plans = [
        write_plan(
            root,
            seed=seed,
            role=ROLE_PLAN,
            index=index,
            patient=patient,
            series=make_series(seed, study, 3 + index, "RTPLAN", f"PLAN {plan.label}"),
            label=plan.label,
            frame_of_reference=frame_of_reference,
            structure_set=structure_sets[index],
            prescription=prescription,
            body=structures["BODY"],
        )
        for index, (plan, prescription) in enumerate(zip(PLANS, prescriptions, strict=True))
    ]
    dose = write_dose(
        root,
        seed=seed,
        role=ROLE_DOSE,
        patient=patient,
        series=make_series(seed, study, 5, "RTDOSE", "DOSE PLAN MAIN"),
        frame_of_reference=frame_of_reference,
        plan=plans[0],
        structure_set=structure_sets[0],
        prescription=prescriptions[0],
        body=structures["BODY"],
        pixel_spacing=grid.pixel_spacing,
        slice_thickness=grid.slice_thickness,
    )
    centre = grid.slices // 2
    seg_slices = [
        i
        for i in range(centre - SEG_SLICES // 2, centre + SEG_SLICES // 2 + 1)
        if 0 <= i < grid.slices
    ]
    seg = write_seg(
        root,
        seed=seed,
        role=ROLE_SEG,
        patient=patient,
        series=make_series(seed, study, 6, "SEG", "SEGMENTATION"),
        grid=grid,
        frame_of_reference=frame_of_reference,
        ct=ct,
        segments=[segment_for(structures[name]) for name in SEG_SEGMENTS],
        slice_indices=seg_slices,
    )
    kos = write_kos(
        root,
        seed=seed,
        role=ROLE_KOS,
        patient=patient,
        series=make_series(seed, study, 7, "KO", "KEY OBJECTS"),
        selected=[*_key_slices(ct, centre, grid.index_of(structures["HEART"].z_centre)), plans[0]],
        description="Target centre, heart and the main plan",
    )
    return [*ct, *structure_sets, *plans, dose, seg, kos]


def _key_slices(ct: list[SampleObject], target: int, heart: int) -> list[SampleObject]:
    """The two slices the key object selection flags: through the target and the heart.

    If both are the same slice, its neighbour stands in for the heart's; a
    one-slice CT gives one slice.
    """
    other = heart if heart != target else (target - 1 if target > 0 else target + 1)
    return [ct[index] for index in (target, other) if 0 <= index < len(ct)]


def _write_study_2(root: Path, seed: int, patient: Patient, grid: Grid) -> list[SampleObject]:
    """A later, shorter CT with its own frame of reference and one structure set on it."""
    study = make_study(seed, 2, "FOLLOW-UP CT")
    structures = phantom(grid, seed)
    frame_of_reference = uid_for(seed, "frame_of_reference", 2)
    ct = write_ct_series(
        root,
        seed=seed,
        role=ROLE_SECOND_STUDY_CT,
        patient=patient,
        series=make_series(seed, study, 1, "CT", "FOLLOW-UP CT"),
        grid=grid,
        frame_of_reference=frame_of_reference,
        structures=structures,
    )
    structure_set = write_structure_set(
        root,
        seed=seed,
        role=ROLE_SECOND_STUDY_STRUCTURE_SET,
        index=0,
        patient=patient,
        series=make_series(seed, study, 2, "RTSTRUCT", "FOLLOW-UP STRUCTURES"),
        label="FOLLOWUP",
        grid=grid,
        frame_of_reference=frame_of_reference,
        ct=ct,
        structures=[structures[name] for name in SECOND_STUDY_ROIS],
    )
    return [*ct, structure_set]
