"""The local catalog: which file holds which DICOM object, and what references what.

SQLAlchemy Core over SQLite (the default, a file in the user data directory) or
PostgreSQL (shared by a team).  :meth:`Catalog.scan` indexes files, folders and DICOMDIRs
incrementally and in parallel; the query methods answer "where is this UID", "what does it
reference", "what references it", "what is missing" and "what is duplicated".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomref._lazy import face

if TYPE_CHECKING:
    from dicomref.catalog._catalog import Catalog
    from dicomref.catalog._engine import default_url
    from dicomref.catalog._reports import (
        DuplicateGroup,
        ScanFailure,
        ScanProgress,
        ScanReport,
        SeriesSummary,
    )

# Imported on first use (docs/architecture.md): SQLAlchemy only when a catalog is opened.
_LAZY: dict[str, str] = {
    "Catalog": "._catalog",
    "default_url": "._engine",
    **dict.fromkeys(
        ["DuplicateGroup", "ScanFailure", "ScanProgress", "ScanReport", "SeriesSummary"],
        "._reports",
    ),
}
if not TYPE_CHECKING:
    __getattr__, __dir__ = face(__name__, _LAZY)

__all__ = [
    "Catalog",
    "DuplicateGroup",
    "ScanFailure",
    "ScanProgress",
    "ScanReport",
    "SeriesSummary",
    "default_url",
]
