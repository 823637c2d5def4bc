"""The phantom: the scan grid of a CT series and the structures inside it.

Coordinates are patient coordinates (LPS, millimetres): x grows to the patient's
left, y to the posterior, z to the head.  Each structure is a circular cylinder
along z or a sphere, so its cross-section on an axial slice is a disk that both the
CT pixels and the RT contours are drawn from.
"""

from __future__ import annotations

import math
import random
import sys
from array import array
from dataclasses import dataclass
from functools import lru_cache

from dicomref.sample._common import ds_str

AIR_HU = -1000
RESCALE_INTERCEPT = -1024
"""Stored value 0 is -1024 HU; stored values are HU - RESCALE_INTERCEPT."""


@dataclass(frozen=True, slots=True)
class Grid:
    """The geometry of an axial CT series: ``slices`` slices of ``rows`` x ``columns`` pixels.

    The image centre lies on the z axis; slice ``i`` lies at
    ``z_first + i * slice_thickness``.
    """

    rows: int
    columns: int
    pixel_spacing: float
    slice_thickness: float
    slices: int
    z_first: float

    @property
    def x_first(self) -> float:
        """x of the centre of the first column of pixels."""
        return -(self.columns - 1) / 2 * self.pixel_spacing

    @property
    def y_first(self) -> float:
        """y of the centre of the first row of pixels."""
        return -(self.rows - 1) / 2 * self.pixel_spacing

    @property
    def field_of_view(self) -> float:
        """The smaller of the image's width and height, in mm."""
        return min(self.rows, self.columns) * self.pixel_spacing

    def z_text(self, index: int) -> str:
        """The z of slice ``index`` as written in DS values (Image Position, contours)."""
        return ds_str(self.z_first + index * self.slice_thickness)

    def z(self, index: int) -> float:
        """The z of slice ``index``, exactly as a reader of the files will see it."""
        return float(self.z_text(index))

    def index_of(self, z: float) -> int:
        """The index of the slice nearest to ``z``."""
        index = round((z - self.z_first) / self.slice_thickness)
        return min(max(index, 0), self.slices - 1)

    def position(self, index: int) -> list[str]:
        """Image Position (Patient) of slice ``index``: the centre of its first pixel."""
        return [ds_str(self.x_first), ds_str(self.y_first), self.z_text(index)]


def centred_grid(
    rows: int, columns: int, pixel_spacing: float, slice_thickness: float, slices: int
) -> Grid:
    """Return a grid whose slices are centred on z = 0."""
    return Grid(
        rows=rows,
        columns=columns,
        pixel_spacing=pixel_spacing,
        slice_thickness=slice_thickness,
        slices=slices,
        z_first=-(slices - 1) / 2 * slice_thickness,
    )


@dataclass(frozen=True, slots=True)
class Disk:
    """The cross-section of a structure on one axial plane."""

    x: float
    y: float
    radius: float
    hu: int


@dataclass(frozen=True, slots=True)
class Structure:
    """A structure of the phantom, with what an RT Structure Set says about it.

    A cylinder of ``radius`` along z, reaching ``half_length`` either side of
    ``z_centre``, when ``sphere`` is false; otherwise a sphere of ``radius`` centred on
    (``x``, ``y``, ``z_centre``).  ``hu`` is its CT number.
    """

    name: str
    interpreted_type: str
    color: tuple[int, int, int]
    hu: int
    x: float
    y: float
    radius: float
    z_centre: float
    half_length: float
    sphere: bool

    @property
    def centre(self) -> tuple[float, float, float]:
        """The centre of the structure."""
        return (self.x, self.y, self.z_centre)

    def section(self, z: float, min_radius: float) -> Disk | None:
        """The structure's disk on the plane at ``z``, or None if smaller than ``min_radius``."""
        dz = abs(z - self.z_centre)
        if self.sphere:
            if dz >= self.radius:
                return None
            radius = math.sqrt(self.radius**2 - dz**2)
        else:
            if dz > self.half_length:
                return None
            radius = self.radius
        if radius < min_radius:
            return None
        return Disk(self.x, self.y, radius, self.hu)


def phantom(grid: Grid, seed: int) -> dict[str, Structure]:
    """Return the structures of the phantom scanned on ``grid``, keyed by ROI name.

    BODY covers every slice and SPINALCORD the central 80 % of them; PTV (with
    PTV_BOOST inside it) is a sphere around the central slice and HEART a sphere
    around the slice at three quarters of the scan, so those lie on a few slices.
    The seed moves the target a little, so different patients differ.
    """
    rng = random.Random(seed)
    fov = grid.field_of_view
    z_low, z_high = grid.z(0), grid.z(grid.slices - 1)
    margin = grid.slice_thickness / 2
    cord_trim = 0.1 * (z_high - z_low)
    target_x = fov * (-0.12 + 0.04 * (2 * rng.random() - 1))
    target_y = fov * (-0.04 + 0.03 * (2 * rng.random() - 1))
    target_z = grid.z(grid.slices // 2)
    target_radius = 0.15 * fov
    structures = [
        _cylinder(
            "BODY",
            "EXTERNAL",
            (0, 255, 0),
            0,
            x=0.0,
            y=0.0,
            radius=0.42 * fov,
            z_low=z_low - margin,
            z_high=z_high + margin,
        ),
        _cylinder(
            "SPINALCORD",
            "ORGAN",
            (255, 255, 0),
            40,
            x=0.0,
            y=0.28 * fov,
            radius=max(0.05 * fov, 1.5 * grid.pixel_spacing),
            z_low=z_low + cord_trim - margin,
            z_high=z_high - cord_trim + margin,
        ),
        _sphere(
            "HEART",
            "ORGAN",
            (255, 0, 128),
            45,
            x=0.13 * fov,
            y=-0.12 * fov,
            z=grid.z(round(0.75 * (grid.slices - 1))),
            radius=0.13 * fov,
        ),
        _sphere(
            "PTV",
            "PTV",
            (255, 0, 0),
            60,
            x=target_x,
            y=target_y,
            z=target_z,
            radius=target_radius,
        ),
        _sphere(
            "PTV_BOOST",
            "PTV",
            (255, 128, 0),
            80,
            x=target_x,
            y=target_y,
            z=target_z,
            radius=0.55 * target_radius,
        ),
    ]
    return {structure.name: structure for structure in structures}


def _cylinder(
    name: str,
    interpreted_type: str,
    color: tuple[int, int, int],
    hu: int,
    *,
    x: float,
    y: float,
    radius: float,
    z_low: float,
    z_high: float,
) -> Structure:
    half_length = (z_high - z_low) / 2
    return Structure(
        name, interpreted_type, color, hu, x, y, radius, z_low + half_length, half_length, False
    )


def _sphere(
    name: str,
    interpreted_type: str,
    color: tuple[int, int, int],
    hu: int,
    *,
    x: float,
    y: float,
    z: float,
    radius: float,
) -> Structure:
    return Structure(name, interpreted_type, color, hu, x, y, radius, z, 0.0, True)


def sections(structures: dict[str, Structure], grid: Grid, index: int) -> tuple[Disk, ...]:
    """The disks of every structure on slice ``index``, in drawing order."""
    z = grid.z(index)
    disks = (s.section(z, grid.pixel_spacing) for s in structures.values())
    return tuple(disk for disk in disks if disk is not None)


def render(grid: Grid, disks: tuple[Disk, ...]) -> bytes:
    """Return one slice's pixel data: unsigned 16-bit little endian, air outside the disks.

    Later disks are drawn over earlier ones.  Slices that cut the same disks share
    one rendering (the result is cached).
    """
    return _render(grid.rows, grid.columns, grid.pixel_spacing, grid.x_first, grid.y_first, disks)


@lru_cache(maxsize=64)
def _render(
    rows: int,
    columns: int,
    spacing: float,
    x_first: float,
    y_first: float,
    disks: tuple[Disk, ...],
) -> bytes:
    air = AIR_HU - RESCALE_INTERCEPT
    pixels = array("H", [air]) * (rows * columns)
    for disk in disks:
        value = array("H", [disk.hu - RESCALE_INTERCEPT])
        for row in range(rows):
            span = row_span(disk, y_first + row * spacing, x_first, spacing, columns)
            if span is not None:
                first, last = span
                start = row * columns
                pixels[start + first : start + last + 1] = value * (last - first + 1)
    if sys.byteorder == "big":
        pixels.byteswap()
    return pixels.tobytes()


def row_span(
    disk: Disk, y: float, x_first: float, spacing: float, columns: int
) -> tuple[int, int] | None:
    """The first and last column whose pixel centre on the row at ``y`` lies in ``disk``.

    Pixel centres lie at ``x_first + column * spacing``; None if none of the
    ``columns`` does.
    """
    dy = y - disk.y
    if abs(dy) > disk.radius:
        return None
    half = math.sqrt(disk.radius**2 - dy**2)
    first = max(0, math.ceil((disk.x - half - x_first) / spacing))
    last = min(columns - 1, math.floor((disk.x + half - x_first) / spacing))
    return (first, last) if first <= last else None


def circle(disk: Disk, z_text: str, points: int) -> str:
    """Contour Data for ``disk`` at ``z_text``: ``points`` (x, y, z) triplets, backslash-joined.

    The polygon is closed implicitly (the last point is not repeated), as
    CLOSED_PLANAR requires.  The text is written as it is (see ``_rtstruct``).
    """
    separator = f"\\{z_text}\\"
    return separator.join(_circle_xy(disk.x, disk.y, disk.radius, points)) + "\\" + z_text


@lru_cache(maxsize=256)
def _circle_xy(x: float, y: float, radius: float, points: int) -> tuple[str, ...]:
    """The "x\\y" texts of the ``points`` vertices of a circle (cached: cylinders repeat)."""
    vertices: list[str] = []
    for k in range(points):
        angle = 2 * math.pi * k / points
        vertices.append(
            f"{ds_str(x + radius * math.cos(angle))}\\{ds_str(y + radius * math.sin(angle))}"
        )
    return tuple(vertices)
