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
from typing import TYPE_CHECKING

from dicomref._lazy import face

if TYPE_CHECKING:
    from dicomref.catalog import Catalog, DuplicateGroup, ScanFailure, ScanProgress, ScanReport
    from dicomref.check import CheckOptions, Finding, Severity, run_checks
    from dicomref.errors import (
        AssociationError,
        CatalogError,
        CatalogVersionError,
        ClusterError,
        ConfigError,
        DicomReadError,
        DicomrefError,
        NotAnInstanceError,
        NotDicomError,
        NotInCatalogError,
        ReadLimitError,
        RemoteError,
        RemoteTimeoutError,
        RetrieveMismatchError,
        StatusError,
        UsageError,
    )
    from dicomref.extraction import ReadLimits, dicomdir_files, read_object, references
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
        Tls,
        fetch,
        locate,
        probe,
        resolve_node,
    )
    from dicomref.sample import Sample, SampleObject, generate_sample
    from dicomref.server import Destination, Server, ServerConfig, ServerError
    from dicomref.show import ObjectView, ResolvedReference, view_object
    from dicomref.store import ManagedStore

# Each name is imported from its subpackage on first use: ``import dicomref`` stays cheap,
# and a command that never talks DIMSE never imports pynetdicom (see docs/architecture.md).
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ["Catalog", "DuplicateGroup", "ScanFailure", "ScanProgress", "ScanReport"],
        "dicomref.catalog",
    ),
    **dict.fromkeys(["CheckOptions", "Finding", "Severity", "run_checks"], "dicomref.check"),
    **dict.fromkeys(
        [
            "AssociationError",
            "CatalogError",
            "CatalogVersionError",
            "ClusterError",
            "ConfigError",
            "DicomReadError",
            "DicomrefError",
            "NotAnInstanceError",
            "NotDicomError",
            "NotInCatalogError",
            "ReadLimitError",
            "RemoteError",
            "RemoteTimeoutError",
            "RetrieveMismatchError",
            "StatusError",
            "UsageError",
        ],
        "dicomref.errors",
    ),
    **dict.fromkeys(
        ["ReadLimits", "dicomdir_files", "read_object", "references"], "dicomref.extraction"
    ),
    **dict.fromkeys(["Direction", "Graph", "build_graph", "to_dot"], "dicomref.graph"),
    "GraphEdge": "dicomref.graph:Edge",
    "GraphNode": "dicomref.graph:Node",
    **dict.fromkeys(["InstanceKey", "Kind", "ObjectSummary", "Reference"], "dicomref.model"),
    **dict.fromkeys(
        [
            "Capabilities",
            "FetchReport",
            "LocateReport",
            "Node",
            "ProbeReport",
            "Timeouts",
            "Tls",
            "fetch",
            "locate",
            "probe",
            "resolve_node",
        ],
        "dicomref.remote",
    ),
    **dict.fromkeys(["Sample", "SampleObject", "generate_sample"], "dicomref.sample"),
    **dict.fromkeys(["Destination", "Server", "ServerConfig", "ServerError"], "dicomref.server"),
    **dict.fromkeys(["ObjectView", "ResolvedReference", "view_object"], "dicomref.show"),
    "ManagedStore": "dicomref.store",
}
_SUBMODULES = ["catalog", "check", "cli", "errors", "extraction", "graph", "model", "remote"]
_SUBMODULES += ["sample", "server", "show", "store"]
if not TYPE_CHECKING:
    __getattr__, __dir__ = face(__name__, _LAZY, _SUBMODULES)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "AssociationError",
    "Capabilities",
    "Catalog",
    "CatalogError",
    "CatalogVersionError",
    "CheckOptions",
    "ClusterError",
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
    "ReadLimitError",
    "ReadLimits",
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
    "Tls",
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
