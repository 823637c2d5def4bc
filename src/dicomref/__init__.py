"""dicomref: find and fetch exactly the DICOM objects another object references.

The public face of the library; everything else lives in subpackages or ``_``-modules::

    import dicomref

    refs = dicomref.references("rtplan.dcm")          # what one file references
    with dicomref.Catalog() as catalog:                # the local index
        catalog.scan(["/data/exports"])
        for ref in catalog.referrers(structure_set_uid):   # what references it
            ...
        findings = dicomref.run_checks(catalog)
"""

from __future__ import annotations

import logging

from dicomref.catalog import Catalog, DuplicateGroup, ScanFailure, ScanProgress, ScanReport
from dicomref.check import CheckOptions, Finding, Severity, run_checks
from dicomref.errors import (
    AssociationError,
    CatalogError,
    CatalogVersionError,
    ConfigError,
    DicomReadError,
    DicomrefError,
    NotAnInstanceError,
    NotDicomError,
    NotInCatalogError,
    RemoteError,
    RemoteTimeoutError,
    RetrieveMismatchError,
    StatusError,
    UsageError,
)
from dicomref.extraction import dicomdir_files, read_object, references
from dicomref.graph import Direction, Edge, Graph, Node, build_graph, to_dot
from dicomref.model import InstanceKey, Kind, ObjectSummary, Reference
from dicomref.sample import Sample, SampleObject, generate_sample
from dicomref.show import ObjectView, ResolvedReference, view_object

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "AssociationError",
    "Catalog",
    "CatalogError",
    "CatalogVersionError",
    "CheckOptions",
    "ConfigError",
    "DicomReadError",
    "DicomrefError",
    "Direction",
    "DuplicateGroup",
    "Edge",
    "Finding",
    "Graph",
    "InstanceKey",
    "Kind",
    "Node",
    "NotAnInstanceError",
    "NotDicomError",
    "NotInCatalogError",
    "ObjectSummary",
    "ObjectView",
    "Reference",
    "RemoteError",
    "RemoteTimeoutError",
    "ResolvedReference",
    "RetrieveMismatchError",
    "Sample",
    "SampleObject",
    "ScanFailure",
    "ScanProgress",
    "ScanReport",
    "Severity",
    "StatusError",
    "UsageError",
    "__version__",
    "build_graph",
    "dicomdir_files",
    "generate_sample",
    "read_object",
    "references",
    "run_checks",
    "to_dot",
    "view_object",
]
