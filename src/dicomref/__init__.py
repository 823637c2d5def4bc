"""dicomref: find and fetch exactly the DICOM objects another object references.

The public face of the library; everything else lives in subpackages or ``_``-modules::

    import dicomref

    refs = dicomref.references("rtplan.dcm")          # what one file references
    with dicomref.Catalog() as catalog:                # the local index
        catalog.scan(["/data/exports"])
        for ref in catalog.referrers(structure_set_uid):   # what references it
            ...
        findings = dicomref.run_checks(catalog)

    node = dicomref.resolve_node("PACS@pacs.example.org:104")   # or a name from nodes.toml
    report = dicomref.fetch(node, ["rtplan.dcm"], out=dicomref.ManagedStore("fetched"))
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
from dicomref.graph import Direction, Graph, build_graph, to_dot
from dicomref.graph import Edge as GraphEdge
from dicomref.graph import Node as GraphNode
from dicomref.model import InstanceKey, Kind, ObjectSummary, Reference
from dicomref.remote import (
    Capabilities,
    FetchReport,
    LocateReport,
    Node,
    ProbeReport,
    Timeouts,
    fetch,
    locate,
    probe,
    resolve_node,
)
from dicomref.sample import Sample, SampleObject, generate_sample
from dicomref.server import Destination, Server, ServerConfig, ServerError
from dicomref.show import ObjectView, ResolvedReference, view_object
from dicomref.store import ManagedStore

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "AssociationError",
    "Capabilities",
    "Catalog",
    "CatalogError",
    "CatalogVersionError",
    "CheckOptions",
    "ConfigError",
    "Destination",
    "DicomReadError",
    "DicomrefError",
    "Direction",
    "DuplicateGroup",
    "FetchReport",
    "Finding",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "InstanceKey",
    "Kind",
    "LocateReport",
    "ManagedStore",
    "Node",
    "NotAnInstanceError",
    "NotDicomError",
    "NotInCatalogError",
    "ObjectSummary",
    "ObjectView",
    "ProbeReport",
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
    "Server",
    "ServerConfig",
    "ServerError",
    "Severity",
    "StatusError",
    "Timeouts",
    "UsageError",
    "__version__",
    "build_graph",
    "dicomdir_files",
    "fetch",
    "generate_sample",
    "locate",
    "probe",
    "read_object",
    "references",
    "resolve_node",
    "run_checks",
    "to_dot",
    "view_object",
]
