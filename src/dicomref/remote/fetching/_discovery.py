"""Finding a bare SOP Instance UID that nothing locates: no hint, no catalog entry.

The planner needs a place to start (a study, a series, a Patient ID, or a server that
answers IMAGE queries by SOP Instance UID alone).  For a UID that comes with none, and
while the server's capabilities are assumed rather than measured:

1. one IMAGE C-FIND by SOP Instance UID with zero-length Study/Series keys (lenient
   servers and Orthanc answer it, and their answer places the object; a strict one
   refuses it with 0xA900 and that is learnt);
2. if that is refused: one STUDY C-FIND listing the server's studies, then the planner's
   own hierarchical search (its series, then IMAGE level per series) study by study,
   newest first, until the object is placed, at most :data:`MAX_STUDIES` studies.

What was learnt (capabilities) and where objects were found are recorded into the
caller's :class:`State` with the planner's own transitions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dicomref.errors import StatusError
from dicomref.remote.planner._candidates import ordered_studies
from dicomref.remote.planner._discovery import SERVER, flat_finds, study_listing
from dicomref.remote.planner._enums import Level
from dicomref.remote.planner._match import Match
from dicomref.remote.planner._options import PlanOptions
from dicomref.remote.planner._planner import plan
from dicomref.remote.planner._state import State
from dicomref.remote.planner._steps import Find
from dicomref.remote.planner._wanted import Wanted
from dicomref.remote.transport._executor import Executor, reason_of

MAX_STUDIES = 25
"""Studies searched one by one for a UID without any hint, newest first."""


def unhinted(wanted: Wanted) -> bool:
    """Nothing says where ``wanted`` lives: no study, series, source study or Patient ID."""
    return not (wanted.study or wanted.series or wanted.source_study or wanted.patient_id)


def discover(
    executor: Executor, state: State, uids: Sequence[str], options: PlanOptions
) -> tuple[State, dict[str, str]]:
    """Place ``uids`` (wanted in ``state``, without hints); the new state, and a reason
    for each UID that could not be placed."""
    caps = state.capabilities
    if caps.flat_image_query is not None or caps.query_root is None:
        return state, {}  # the planner searches the whole server itself, or nothing can
    if caps.measured_at is None and caps.image_level is not False:
        state = _flat(executor, state, uids, options)
    left = [u for u in uids if _open(state, u)]
    if not left:
        return state, {}
    return _study_by_study(executor, state, left, options)


def _open(state: State, uid: str) -> bool:
    return (
        uid not in state.located
        and uid not in state.unplaced
        and not state.was_searched(uid, SERVER)
    )


def _flat(executor: Executor, state: State, uids: Sequence[str], options: PlanOptions) -> State:
    for step in flat_finds(state, uids, options):
        try:
            rows = executor.run_find(step)
        except StatusError as exc:
            return state.with_find_failed(step, reason_of(exc))
        caps = state.capabilities.learned(image_query_with_empty_parents=True)
        state = dataclasses.replace(state, capabilities=caps)
        state = state.with_found(step, [Match.from_dataset(r) for r in rows])
    return state


def _study_by_study(
    executor: Executor, state: State, uids: list[str], options: PlanOptions
) -> tuple[State, dict[str, str]]:
    listing = study_listing(state, uids)
    try:
        rows = executor.run_find(listing)
    except StatusError as exc:
        reason = f"no location hint, and the server refused to list its studies: {reason_of(exc)}"
        return state, dict.fromkeys(uids, reason)
    unique: dict[str, Match] = {}
    for row in (Match.from_dataset(r) for r in rows):
        if row.study:
            unique.setdefault(row.study, row)
    studies = [m.study for m in ordered_studies(tuple(unique.values()), None) if m.study]
    left = list(uids)
    searched = 0
    for study in studies[:MAX_STUDIES]:
        searched += 1
        state, left = _search_study(executor, state, left, study, options)
        if not left:
            return state, {}
    where = f"{searched} of the {len(studies)} studies on the server"
    if searched == len(studies):
        where = f"the {len(studies)} studies on the server"
    reason = f"no location hint; not found in {where}, newest first"
    if len(studies) > searched:
        reason += " (name its study, or start from a file that references it)"
    return state, dict.fromkeys(left, reason)


def _search_study(
    executor: Executor, state: State, uids: list[str], study: str, options: PlanOptions
) -> tuple[State, list[str]]:
    """The planner's hierarchical search inside ``study``, C-FIND only; placed objects
    are recorded into ``state``."""
    sub = State.start(
        [Wanted(u, sop_class=state.wanted[u].sop_class, study=study) for u in uids],
        state.capabilities,
        words=state.words,
    )
    found: list[tuple[Find, list[Match]]] = []
    sub = search_only(executor, sub, options, answered=found)
    for step, matches in found:
        if step.level is Level.IMAGE and any(m.sop in uids for m in matches):
            state = state.with_found(step, matches)
    state = dataclasses.replace(state, capabilities=sub.capabilities)
    return state, [u for u in uids if _open(state, u)]


def search_only(
    executor: Executor,
    state: State,
    options: PlanOptions,
    *,
    answered: list[tuple[Find, list[Match]]] | None = None,
) -> State:
    """Run the planner's C-FINDs (never a retrieve) until it has nothing left to search.

    Each answered step and its matches are appended to ``answered`` when given.  A search
    that teaches something of the server (a refused kind of search: the others of its
    phase would be refused too) ends its phase: the rest is planned again.
    """
    while finds := plan(state, options).finds:
        for step in finds:
            known = state.capabilities
            try:
                rows = executor.run_find(step)
            except StatusError as exc:
                state = state.with_find_failed(step, reason_of(exc))
            else:
                matches = [Match.from_dataset(r) for r in rows]
                state = state.with_found(step, matches)
                if answered is not None:
                    answered.append((step, matches))
            if state.capabilities != known:
                break  # planned without what this search taught (a refusal): plan again
    return state
