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

from dicomref.remote._actions import Missing
from dicomref.remote._attempts import Attempt, Mode
from dicomref.remote._capabilities import Capabilities
from dicomref.remote._config import NodeConfig, load_config, resolve_node
from dicomref.remote._enums import Level, Method, ParentKeys, Root
from dicomref.remote._match import Match
from dicomref.remote._modality import REFERENCE_SEQUENCES, modality_for
from dicomref.remote._node import Node, Timeouts
from dicomref.remote._options import PlanOptions, Preference
from dicomref.remote._planner import Plan, plan
from dicomref.remote._probe import probe
from dicomref.remote._probe_report import ProbeReport, ProbeResult
from dicomref.remote._report import (
    FetchedObject,
    FetchProgress,
    FetchReport,
    Located,
    LocateReport,
    MissingObject,
    Requests,
    WholeStudy,
)
from dicomref.remote._resolve import Start, fetch, locate
from dicomref.remote._state import State
from dicomref.remote._steps import Find, Retrieve, Scope, ScopeKind, Step, split_uids
from dicomref.remote._wanted import Wanted

__all__ = [
    "REFERENCE_SEQUENCES",
    "Attempt",
    "Capabilities",
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
    "State",
    "Step",
    "Timeouts",
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
