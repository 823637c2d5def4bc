"""dicomref: find and fetch exactly the DICOM objects another object references."""

from __future__ import annotations

import logging

from dicomref.errors import (
    CatalogError,
    CatalogVersionError,
    ConfigError,
    DicomReadError,
    DicomrefError,
    NotAnInstanceError,
    NotDicomError,
    NotInCatalogError,
    UsageError,
)
from dicomref.model import InstanceKey, Kind, ObjectSummary, Reference

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "CatalogError",
    "CatalogVersionError",
    "ConfigError",
    "DicomReadError",
    "DicomrefError",
    "InstanceKey",
    "Kind",
    "NotAnInstanceError",
    "NotDicomError",
    "NotInCatalogError",
    "ObjectSummary",
    "Reference",
    "UsageError",
    "__version__",
]
