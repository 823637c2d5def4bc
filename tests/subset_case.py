"""The subset case of a fetch: a structure set whose contours lie on some of a series' slices.

Real treatment planning systems list every slice of the CT series under
``RTReferencedSeriesSequence`` while the contours lie on a subset (DESIGN §8).  The
sample's structure sets contour every slice, so a series-level retrieve of the CT moves
exactly what is needed and hides the cost of fetching part of a series.
:func:`trim_structure_set` rewrites one structure set so that its contours lie only on
a run of the slices (the middle ones), leaving ``RTReferencedSeriesSequence`` as it was
(every slice), and returns the SOP Instance UIDs of the slices still named by a contour.

Shared by tests/test_fetch_cold.py and bench/fetch.py (which puts tests/ on its path).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pydicom

from dicomref.sample import SampleObject


def middle(slices: Sequence[SampleObject], count: int) -> list[SampleObject]:
    """``count`` consecutive slices from the middle of ``slices``."""
    if not 0 < count <= len(slices):
        raise ValueError(f"cannot keep {count} of {len(slices)} slices")
    first = (len(slices) - count) // 2
    return list(slices[first : first + count])


def trim_structure_set(path: Path, keep: Sequence[SampleObject]) -> frozenset[str]:
    """Drop the contours of the structure set at ``path`` that lie on slices outside
    ``keep`` (rewritten in place); the SOP Instance UIDs its contours still name."""
    wanted = {s.sop_instance for s in keep}
    dataset = pydicom.dcmread(path)
    named: set[str] = set()
    for roi in dataset.ROIContourSequence:
        contours = roi.get("ContourSequence")
        if contours is None:
            continue
        kept = []
        for contour in contours:
            images = {str(i.ReferencedSOPInstanceUID) for i in contour.ContourImageSequence}
            if images <= wanted:
                kept.append(contour)
                named |= images
        roi.ContourSequence = kept
    dataset.save_as(path, enforce_file_format=True)
    return frozenset(named)
