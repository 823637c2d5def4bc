"""CONTOUR_OFF_SLICE: a contour that does not lie on the slice it names.

Structure set files are read with pydicom here (``check`` is not the hot path); only
ContourData's raw text is split into numbers, nothing else is converted.  A contour that
names slices in ContourImageSequence must lie, within the tolerance, on the plane of each
slice it names; a contour naming no slice must lie on the plane of some slice of the
series the structure set refers to.  Distances are measured along the slice normal, so
oblique series work too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from dicomref._filenames import printable_path
from dicomref.catalog import Catalog
from dicomref.check._findings import CheckOptions, Finding, Severity
from dicomref.model import ObjectSummary

log = logging.getLogger(__name__)

PLANAR_TYPES = frozenset({"CLOSED_PLANAR", "OPEN_PLANAR", "CLOSEDPLANAR_XOR"})

Vec = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Plane:
    """A slice plane: a point on it and its unit normal."""

    uid: str
    origin: Vec
    normal: Vec

    @classmethod
    def of(cls, image: ObjectSummary) -> Plane | None:
        if image.image_position is None or image.image_orientation is None:
            return None
        o = image.image_orientation
        row, col = (o[0], o[1], o[2]), (o[3], o[4], o[5])
        n = (
            row[1] * col[2] - row[2] * col[1],
            row[2] * col[0] - row[0] * col[2],
            row[0] * col[1] - row[1] * col[0],
        )
        length = (n[0] ** 2 + n[1] ** 2 + n[2] ** 2) ** 0.5
        if length == 0:
            return None
        return cls(
            image.sop_instance, image.image_position, (n[0] / length, n[1] / length, n[2] / length)
        )

    def distance(self, points: Sequence[Vec]) -> float:
        """The largest distance of the points from the plane, in mm."""
        ox, oy, oz = self.origin
        nx, ny, nz = self.normal
        return max(abs((x - ox) * nx + (y - oy) * ny + (z - oz) * nz) for x, y, z in points)


def contour_points(item: Dataset) -> list[Vec] | None:
    """ContourData as (x, y, z) points, read from the raw value; None if absent or garbled."""
    raw = item.get_item(0x30060050)
    if raw is None or raw.value is None:
        return None
    value = raw.value
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    try:
        numbers = [float(v) for v in text.replace("\\", " ").split()]
    except ValueError:
        return None
    if not numbers or len(numbers) % 3:
        return None
    return [(numbers[i], numbers[i + 1], numbers[i + 2]) for i in range(0, len(numbers), 3)]


def _series_planes(catalog: Catalog, series_uids: Sequence[str]) -> list[Plane]:
    planes = []
    for series in series_uids:
        for image in catalog.series_instances(series):
            plane = Plane.of(image)
            if plane is not None:
                planes.append(plane)
    return planes


def _referenced_series(ds: Dataset) -> list[str]:
    found = []
    for frame in ds.get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            for series in study.get("RTReferencedSeriesSequence", []):
                uid = series.get("SeriesInstanceUID")
                if uid:
                    found.append(str(uid))
    return found


def check_contours(catalog: Catalog, options: CheckOptions) -> Iterator[Finding]:
    tol = options.contour_tolerance_mm
    planes: dict[str, Plane | None] = {}

    def plane_of(uid: str) -> Plane | None:
        if uid not in planes:
            found = catalog.locate(uid)
            planes[uid] = Plane.of(found[0]) if found else None
        return planes[uid]

    for summary in catalog.instances(modality="RTSTRUCT"):
        try:
            ds = pydicom.dcmread(summary.path, stop_before_pixels=True)
        except (OSError, InvalidDicomError) as exc:
            yield Finding(
                code="UNREADABLE_FILE",
                severity=Severity.WARNING,
                source=summary.sop_instance,
                target=None,
                path=summary.path,
                message=(
                    f"{printable_path(summary.path)}: cannot be read to check contours ({exc}); "
                    "scan again"
                ),
            )
            continue
        series_planes: list[Plane] | None = None
        for i, roi in enumerate(ds.get("ROIContourSequence", [])):
            for j, contour in enumerate(roi.get("ContourSequence", [])):
                if str(contour.get("ContourGeometricType", "")) not in PLANAR_TYPES:
                    continue
                points = contour_points(contour)
                if not points:
                    continue
                where = f"ROIContourSequence[{i}].ContourSequence[{j}]"
                roi_no = roi.get("ReferencedROINumber", "?")
                images = contour.get("ContourImageSequence", [])
                if images:
                    for k, image in enumerate(images):
                        uid = str(image.get("ReferencedSOPInstanceUID", ""))
                        plane = plane_of(uid) if uid else None
                        if plane is None:
                            continue  # dangling or without geometry: reported elsewhere
                        d = plane.distance(points)
                        if d > tol:
                            yield Finding(
                                code="CONTOUR_OFF_SLICE",
                                severity=Severity.ERROR,
                                source=summary.sop_instance,
                                target=uid,
                                path=f"{where}.ContourImageSequence[{k}]",
                                message=(
                                    f"contour {j} of ROI {roi_no} lies up to {d:.3f} mm off "
                                    f"the slice {uid} it names (tolerance {tol} mm)"
                                ),
                            )
                    continue
                if series_planes is None:
                    series_planes = _series_planes(catalog, _referenced_series(ds))
                if not series_planes:
                    continue  # no slices to compare with: the dangling check says why
                nearest = min(series_planes, key=lambda p: p.distance(points))
                d = nearest.distance(points)
                if d > tol:
                    yield Finding(
                        code="CONTOUR_OFF_SLICE",
                        severity=Severity.ERROR,
                        source=summary.sop_instance,
                        target=None,
                        path=where,
                        message=(
                            f"contour {j} of ROI {roi_no} names no slice and lies on none of "
                            f"the referenced series' {len(series_planes)} slices: the nearest, "
                            f"{nearest.uid}, is {d:.3f} mm away (tolerance {tol} mm)"
                        ),
                    )
