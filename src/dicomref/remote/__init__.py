"""Talking to query/retrieve servers.

The planner is pure: :func:`plan` turns a :class:`State` (wanted objects with their
hints, the server's measured :class:`Capabilities`, what is held locally and what the
server has answered so far) into the next :class:`Plan` of :class:`Find` and
:class:`Retrieve` steps.  The resolve loop runs the steps and records the answers with
the state's transitions (:meth:`State.with_found`, :meth:`State.with_find_failed`,
:meth:`State.with_retrieved`), then plans again until the plan is done.

:func:`locate` and :func:`fetch` are that loop against a real server: C-FIND only to say
where objects are (:class:`LocateReport`), or the whole closure fetched into a managed
store, read back, indexed and followed (:class:`FetchReport`: what moved, what is missing
and why, requests, associations, and what a whole-study download would have moved).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomref._lazy import face

if TYPE_CHECKING:
    from dicomref._dimse._node import Node, Timeouts
    from dicomref._dimse._tls import Tls
    from dicomref.remote._config import NodeConfig, load_config, resolve_node
    from dicomref.remote.fetching._report import (
        FetchedObject,
        FetchProgress,
        FetchReport,
        Located,
        LocateReport,
        MissingObject,
        Requests,
        StartResult,
        WholeStudy,
    )
    from dicomref.remote.fetching._resolve import Start, fetch, locate
    from dicomref.remote.planner._actions import Missing
    from dicomref.remote.planner._attempts import Attempt, Mode
    from dicomref.remote.planner._capabilities import Capabilities
    from dicomref.remote.planner._enums import Level, Method, ParentKeys, Root
    from dicomref.remote.planner._match import Match
    from dicomref.remote.planner._modality import REFERENCE_SEQUENCES, modality_for
    from dicomref.remote.planner._options import PlanOptions, Preference
    from dicomref.remote.planner._planner import Plan, plan
    from dicomref.remote.planner._query import CohortQuery
    from dicomref.remote.planner._state import State
    from dicomref.remote.planner._steps import Find, Retrieve, Scope, ScopeKind, Step, split_uids
    from dicomref.remote.planner._wanted import Wanted
    from dicomref.remote.probing._probe import probe
    from dicomref.remote.probing._report import ProbeReport, ProbeResult

# Imported on first use (docs/architecture.md): importing one submodule, or the catalog
# asking for Capabilities, must not import the DIMSE client and pynetdicom.
_LAZY: dict[str, str] = {
    "Missing": ".planner._actions",
    **dict.fromkeys(["Attempt", "Mode"], ".planner._attempts"),
    "Capabilities": ".planner._capabilities",
    **dict.fromkeys(["NodeConfig", "load_config", "resolve_node"], "._config"),
    **dict.fromkeys(["Level", "Method", "ParentKeys", "Root"], ".planner._enums"),
    "Match": ".planner._match",
    **dict.fromkeys(["REFERENCE_SEQUENCES", "modality_for"], ".planner._modality"),
    **dict.fromkeys(["Node", "Timeouts"], "dicomref._dimse._node"),
    "Tls": "dicomref._dimse._tls",
    **dict.fromkeys(["PlanOptions", "Preference"], ".planner._options"),
    **dict.fromkeys(["Plan", "plan"], ".planner._planner"),
    "probe": ".probing._probe",
    **dict.fromkeys(["ProbeReport", "ProbeResult"], ".probing._report"),
    "CohortQuery": ".planner._query",
    **dict.fromkeys(
        [
            "FetchedObject",
            "FetchProgress",
            "FetchReport",
            "Located",
            "LocateReport",
            "MissingObject",
            "Requests",
            "StartResult",
            "WholeStudy",
        ],
        ".fetching._report",
    ),
    **dict.fromkeys(["Start", "fetch", "locate"], ".fetching._resolve"),
    "State": ".planner._state",
    **dict.fromkeys(
        ["Find", "Retrieve", "Scope", "ScopeKind", "Step", "split_uids"], ".planner._steps"
    ),
    "Wanted": ".planner._wanted",
}
if not TYPE_CHECKING:
    __getattr__, __dir__ = face(__name__, _LAZY)

__all__ = [
    "REFERENCE_SEQUENCES",
    "Attempt",
    "Capabilities",
    "CohortQuery",
    "FetchProgress",
    "FetchReport",
    "FetchedObject",
    "Find",
    "Level",
    "LocateReport",
    "Located",
    "Match",
    "Method",
    "Missing",
    "MissingObject",
    "Mode",
    "Node",
    "NodeConfig",
    "ParentKeys",
    "Plan",
    "PlanOptions",
    "Preference",
    "ProbeReport",
    "ProbeResult",
    "Requests",
    "Retrieve",
    "Root",
    "Scope",
    "ScopeKind",
    "Start",
    "StartResult",
    "State",
    "Step",
    "Timeouts",
    "Tls",
    "Wanted",
    "WholeStudy",
    "fetch",
    "load_config",
    "locate",
    "modality_for",
    "plan",
    "probe",
    "resolve_node",
    "split_uids",
]
