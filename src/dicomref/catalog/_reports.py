"""Value objects the catalog hands back: scan reports, progress, duplicate groups, series."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScanFailure:
    """A file (or folder) that could not be indexed.

    ``error`` is the whole message and names the path, e.g.
    ``/data/x.dcm: not a DICOM file (no DICM prefix)``.
    """

    path: str
    error: str


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """Where a scan is: ``total`` is None while folders are still being walked."""

    files_seen: int
    files_done: int
    total: int | None


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What one :meth:`~dicomref.catalog.Catalog.scan` did.

    ``files``          files found (each counted once, however it was reached)
    ``indexed``        files read and (re)written to the catalog
    ``unchanged``      files whose size and modification time match their catalog row: not read
    ``not_instances``  DICOM files that hold no instance to index (DICOMDIR, …)
    ``not_dicom``      files that are not DICOM at all (no ``DICM`` marker and no DICOM
                       element at their start: texts, archives, programs, empty files), by path
    ``skipped``        ``unchanged + not_instances + len(not_dicom)``
    ``removed``        catalog rows dropped because their file is gone from a scanned folder
    ``failed``         files and folders that could not be read, with the reason
    ``references``     reference rows written
    ``duplicates``     SOP Instance UIDs held by more than one file, catalog-wide, after the scan
    ``seconds``        wall-clock time of the scan
    """

    files: int
    indexed: int
    unchanged: int
    not_instances: int
    not_dicom: tuple[str, ...]
    skipped: int
    removed: int
    failed: tuple[ScanFailure, ...]
    references: int
    duplicates: int
    seconds: float


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """One SOP Instance UID held by several files.

    ``paths`` and ``sizes`` are aligned.  ``same_content`` is True when every file has the
    same bytes, False when they differ, None when it could not be compared (a file gone,
    unreadable or changed since it was indexed, or comparison not asked for).
    """

    sop_uid: str
    paths: tuple[str, ...]
    sizes: tuple[int, ...]
    same_content: bool | None


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """One series of a study as the catalog knows it; ``count`` is its SOP Instance count."""

    uid: str
    modality: str | None
    description: str | None
    number: int | None
    count: int
