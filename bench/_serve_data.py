"""Data for bench/serve.py: a synthetic catalog of a million instances, and real CT files.

- :func:`build_catalog`: ``n`` synthetic instances (100 per series, 1,000 per study, two
  references each) written through ``Catalog.add``, as bench/catalog_lookup.py does; no
  file exists (C-FIND reads none).
- :class:`CtSet`: copies of a 16 x 16 CT (pydicom's CT_small.dcm with its pixels cut to
  the top-left corner: 6,950 bytes), each with its own SOP Instance UID, 100 per series and
  1,000 per study, written at disk speed: the template's bytes with its three UIDs replaced
  by new ones of the same length.  :meth:`CtSet.summaries` are what ``read_object`` would
  say of each copy, for a catalog of the same objects without reading 50,000 files.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom

from catalog_lookup import objects
from dicomref.catalog import Catalog
from dicomref.extraction import read_object
from dicomref.model import ObjectSummary
from servers import ct_small

UID_ROOT = "1.2.826.0.1.3680043.10.543.7"
PER_SERIES = 100
PER_STUDY = 1000
SIDE = 16


def build_catalog(url: str, n: int) -> float:
    """``n`` synthetic instances in the catalog at ``url``; returns the seconds it took."""
    started = time.perf_counter()
    with Catalog(url) as catalog:
        catalog.add(objects(n))
    return time.perf_counter() - started


def small_ct(path: Path) -> Path:
    """CT_small.dcm with its 128 x 128 pixels cut to 16 x 16, written to ``path``."""
    ds = pydicom.dcmread(ct_small())
    columns, width = int(ds.Columns), int(ds.BitsAllocated) // 8
    pixels = ds.PixelData
    ds.PixelData = b"".join(
        pixels[row * columns * width : (row * columns + SIDE) * width] for row in range(SIDE)
    )
    ds.Rows = ds.Columns = SIDE
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def fixed_uid(prefix: str, number: int, length: int) -> str:
    """A valid UID of exactly ``length`` characters, distinct for each ``number``."""
    uid = f"{prefix}.{number}"
    room = length - len(uid)
    if room == 0:
        return uid
    if room < 2:
        raise ValueError(f"{prefix!r} leaves no room for {number} in {length} characters")
    return f"{uid}.{'1' * (room - 1)}"


@dataclass(frozen=True)
class Copy:
    path: Path
    sop: str
    study: str
    series: str


class CtSet:
    """``count`` copies of ``template`` under ``folder``, named by ``tag`` (one UID space
    per tag: sets with different tags never share a UID)."""

    def __init__(self, template: Path, folder: Path, tag: int, count: int) -> None:
        self.template = template
        self.folder = folder
        self.tag = tag
        self.count = count
        self.copies: list[Copy] = []

    def write(self) -> CtSet:
        data = self.template.read_bytes()
        ds = pydicom.dcmread(self.template, stop_before_pixels=True)
        old = (str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))
        prefix = f"{UID_ROOT}.{self.tag}"
        for i in range(self.count):
            new = (
                fixed_uid(f"{prefix}.1", i, len(old[0])),
                fixed_uid(f"{prefix}.2", i // PER_STUDY, len(old[1])),
                fixed_uid(f"{prefix}.3", i // PER_SERIES, len(old[2])),
            )
            copy = data
            for before, after in zip(old, new, strict=True):
                copy = copy.replace(before.encode(), after.encode())
            folder = self.folder / f"{i // PER_SERIES:05d}"
            if i % PER_SERIES == 0:
                folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{i:07d}.dcm"
            path.write_bytes(copy)
            self.copies.append(Copy(path, *new))
        return self

    @property
    def paths(self) -> list[Path]:
        return [c.path for c in self.copies]

    def split(self, parts: int) -> list[list[Path]]:
        """The files in ``parts`` groups of whole series (for parallel senders)."""
        series = sorted({c.path.parent for c in self.copies})
        return [[p for s in series[i::parts] for p in sorted(s.iterdir())] for i in range(parts)]

    def summaries(self) -> Iterator[ObjectSummary]:
        """What ``read_object`` says of each copy (checked on the first one)."""
        template = read_object(self.template)
        for index, copy in enumerate(self.copies):
            summary = dataclasses.replace(
                template,
                path=str(copy.path),
                sop_instance=copy.sop,
                study=copy.study,
                series=copy.series,
            )
            if index == 0:
                read = read_object(copy.path)
                assert dataclasses.replace(read, mtime_ns=summary.mtime_ns) == summary, read
            yield summary
