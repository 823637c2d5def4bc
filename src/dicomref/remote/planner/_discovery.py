"""The steps that place a bare SOP Instance UID nothing locates (no hint, no catalog entry).

Pure: what to ask; :mod:`dicomref.remote.fetching._discovery` sends the steps and records
the answers.  First, while the server's capabilities are assumed rather than measured, IMAGE
finds by SOP Instance UID with zero-length Study/Series keys (:func:`flat_finds`; lenient
servers and Orthanc answer them); if refused, the list of the server's studies
(:func:`study_listing`), searched one by one with the planner's own hierarchical steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dicomref.remote.planner._build import STUDY_RETURN_KEYS
from dicomref.remote.planner._enums import Level, ParentKeys, Root
from dicomref.remote.planner._options import PlanOptions
from dicomref.remote.planner._state import State
from dicomref.remote.planner._steps import LIST_SEPARATOR, Find, Keys, Scope, ScopeKind, split_uids

SERVER = Scope(ScopeKind.SERVER)


def flat_finds(state: State, uids: Sequence[str], options: PlanOptions) -> Iterator[Find]:
    """IMAGE finds of ``uids`` across the whole server (UID lists where lists may work)."""
    root = state.capabilities.query_root or Root.STUDY
    parents: Keys = (("StudyInstanceUID", ""), ("SeriesInstanceUID", ""))
    if root is Root.PATIENT:
        parents = (("PatientID", ""), *parents)
    chunks = (
        split_uids(
            uids, max_count=options.list_size(state.capabilities), max_chars=options.max_list_chars
        )
        if state.capabilities.lists()
        else ((u,) for u in uids)
    )
    for chunk in chunks:
        yield Find(
            level=Level.IMAGE,
            keys=(*parents, ("SOPInstanceUID", LIST_SEPARATOR.join(chunk))),
            return_keys=("SOPClassUID",),
            purpose=f"locate {_objects(len(chunk))} by SOP Instance UID across the server "
            "(no location hint)",
            resolves=frozenset(chunk),
            scope=SERVER,
            root=root,
            parents=ParentKeys.EMPTY,
        )


def study_listing(state: State, uids: Sequence[str]) -> Find:
    """The find listing every study on the server, to search them one by one."""
    return Find(
        level=Level.STUDY,
        keys=(("StudyInstanceUID", ""),),
        return_keys=STUDY_RETURN_KEYS,
        purpose=f"list the studies on the server (no location hint for {_objects(len(uids))})",
        resolves=frozenset(uids),
        scope=Scope(ScopeKind.PATIENT),
        root=state.capabilities.query_root or Root.STUDY,
    )


def _objects(count: int) -> str:
    return "1 object" if count == 1 else f"{count} objects"
