"""Talking to query/retrieve servers.

The planner is pure: :func:`plan` turns a :class:`State` (wanted objects with their
hints, the server's measured :class:`Capabilities`, what is held locally and what the
server has answered so far) into the next :class:`Plan` of :class:`Find` and
:class:`Retrieve` steps.  The resolve loop runs the steps and records the answers with
the state's transitions (:meth:`State.with_found`, :meth:`State.with_find_failed`,
:meth:`State.with_retrieved`), then plans again until the plan is done.
"""

from __future__ import annotations

from dicomref.remote._actions import Missing
from dicomref.remote._attempts import Attempt, Mode
from dicomref.remote._capabilities import Capabilities
from dicomref.remote._enums import Level, Method, ParentKeys, Root
from dicomref.remote._match import Match
from dicomref.remote._modality import REFERENCE_SEQUENCES, modality_for
from dicomref.remote._options import PlanOptions, Preference
from dicomref.remote._planner import Plan, plan
from dicomref.remote._state import State
from dicomref.remote._steps import Find, Retrieve, Scope, ScopeKind, Step, split_uids
from dicomref.remote._wanted import Wanted

__all__ = [
    "REFERENCE_SEQUENCES",
    "Attempt",
    "Capabilities",
    "Find",
    "Level",
    "Match",
    "Method",
    "Missing",
    "Mode",
    "ParentKeys",
    "Plan",
    "PlanOptions",
    "Preference",
    "Retrieve",
    "Root",
    "Scope",
    "ScopeKind",
    "State",
    "Step",
    "Wanted",
    "modality_for",
    "plan",
    "split_uids",
]
