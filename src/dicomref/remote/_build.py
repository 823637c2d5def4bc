"""Turn the per-object decisions into steps: group, list, split, and write identifiers.

Identifiers hold standard keys only (private tags break servers: DESIGN §2).  Under
the Patient Root model hierarchical identifiers start with PatientID, taken from the
first wanted object of the group that has one (zero-length otherwise); a flat query
that leaves the parents out leaves PatientID out too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dicomref.remote._actions import Fetch
from dicomref.remote._attempts import Mode
from dicomref.remote._enums import Level, Method, ParentKeys, Root
from dicomref.remote._locate import tried
from dicomref.remote._modality import reference_sequences
from dicomref.remote._options import PlanOptions
from dicomref.remote._state import State
from dicomref.remote._steps import (
    LIST_SEPARATOR,
    Find,
    Keys,
    Retrieve,
    Scope,
    ScopeKind,
    Step,
    split_uids,
)
from dicomref.remote._wanted import Wanted

#: Return keys of each listing Find.
SERIES_RETURN_KEYS = ("SeriesNumber", "NumberOfSeriesRelatedInstances")
STUDY_RETURN_KEYS = ("StudyDate", "StudyTime", "ModalitiesInStudy", "NumberOfStudyRelatedInstances")


def merge_listings(searches: Mapping[Scope, list[Wanted]]) -> dict[Scope, list[Wanted]]:
    """One SERIES listing per study: unfiltered when several modalities are wanted there."""
    modalities: dict[str | None, set[str | None]] = {}
    for scope in searches:
        if scope.kind is ScopeKind.STUDY:
            modalities.setdefault(scope.study, set()).add(scope.modality)
    merged: dict[Scope, list[Wanted]] = {}
    for scope, group in searches.items():
        if scope.kind is ScopeKind.STUDY and len(modalities[scope.study]) > 1:
            scope = Scope(ScopeKind.STUDY, study=scope.study)
        merged.setdefault(scope, []).extend(group)
    return merged


def build_finds(
    state: State, searches: Mapping[Scope, list[Wanted]], options: PlanOptions
) -> list[Find]:
    """The C-FINDs for every search scope, in the order first needed."""
    finds: list[Find] = []
    for scope, group in merge_listings(searches).items():
        finds.extend(_finds_for(state, scope, group, options))
    return finds


def build_retrieves(
    state: State, fetches: Mapping[Fetch, list[Wanted]], options: PlanOptions
) -> list[Retrieve]:
    """The C-MOVE/C-GETs for every fetch decision, grouped per series and mode."""
    steps: list[Retrieve] = []
    for fetch, group in fetches.items():
        steps.extend(_retrieves_for(state, fetch, group, options))
    return steps


def first_use_only(state: State, steps: Sequence[Step]) -> list[Step]:
    """Keep one retrieve per unmeasured, unproven method: learn before sending many."""
    caps = state.capabilities
    proven = {mode.method for mode in state.proven}
    unsure = {
        method
        for method, flag in ((Method.MOVE, caps.c_move), (Method.GET, caps.c_get))
        if flag is None and method not in proven
    }
    given: set[Method] = set()
    kept: list[Step] = []
    for step in steps:
        if isinstance(step, Retrieve) and step.method in unsure:
            if step.method in given:
                continue
            given.add(step.method)
        kept.append(step)
    return kept


def _finds_for(
    state: State, scope: Scope, group: list[Wanted], options: PlanOptions
) -> Iterable[Find]:
    caps = state.capabilities
    root = caps.query_root or Root.STUDY
    patient = _patient_keys(root, group)
    uids = [w.sop_uid for w in group]
    if scope.kind is ScopeKind.SERVER:
        parents = caps.flat_image_query or ParentKeys.EMPTY
        keys: Keys = ()
        if parents is ParentKeys.EMPTY:
            keys = (*patient, ("StudyInstanceUID", ""), ("SeriesInstanceUID", ""))
        for chunk in _chunks(state, uids, options, listed=caps.lists()):
            yield Find(
                level=Level.IMAGE,
                keys=(*keys, ("SOPInstanceUID", LIST_SEPARATOR.join(chunk))),
                return_keys=_image_return_keys(state, group, options),
                purpose=f"locate {_objects(len(chunk))} by SOP Instance UID across the server",
                resolves=frozenset(chunk),
                scope=scope,
                root=root,
                parents=parents,
            )
    elif scope.kind is ScopeKind.SERIES:
        yield from _series_finds(state, scope, group, options, root, patient)
    elif scope.kind is ScopeKind.STUDY:
        what = f"{scope.modality} series" if scope.modality else "series"
        yield Find(
            level=Level.SERIES,
            keys=(
                *patient,
                ("StudyInstanceUID", scope.study or ""),
                ("Modality", scope.modality or ""),
                ("SeriesInstanceUID", ""),
            ),
            return_keys=SERIES_RETURN_KEYS,
            purpose=f"list the {what} of study {scope.study} (for {_objects(len(uids))})",
            resolves=frozenset(uids),
            scope=scope,
            root=root,
        )
    elif scope.kind is ScopeKind.PATIENT:
        yield Find(
            level=Level.STUDY,
            keys=(("PatientID", scope.patient_id or ""), ("StudyInstanceUID", "")),
            return_keys=STUDY_RETURN_KEYS,
            purpose=f"list the patient's studies (for {_objects(len(uids))})",
            resolves=frozenset(uids),
            scope=scope,
            root=root,
        )
    else:
        yield Find(
            level=Level.SERIES,
            keys=(*patient, ("StudyInstanceUID", ""), ("SeriesInstanceUID", scope.series or "")),
            return_keys=("Modality", "NumberOfSeriesRelatedInstances"),
            purpose=f"learn the study of series {scope.series} (for {_objects(len(uids))})",
            resolves=frozenset(uids),
            scope=scope,
            root=root,
        )


def _series_finds(
    state: State,
    scope: Scope,
    group: list[Wanted],
    options: PlanOptions,
    root: Root,
    patient: Keys,
) -> Iterable[Find]:
    """IMAGE C-FIND in one series: one UID, UID lists, or (no lists) a listing of it."""
    uids = [w.sop_uid for w in group]
    keys: Keys = (
        *patient,
        ("StudyInstanceUID", scope.study or ""),
        ("SeriesInstanceUID", scope.series or ""),
    )
    return_keys = _image_return_keys(state, group, options)
    where = f"series {scope.series}"
    if len(uids) > 1 and not state.capabilities.lists():
        yield Find(
            level=Level.IMAGE,
            keys=(*keys, ("SOPInstanceUID", "")),
            return_keys=return_keys,
            purpose=f"list the instances of {where} (for {_objects(len(uids))})",
            resolves=frozenset(uids),
            scope=scope,
            root=root,
        )
        return
    for chunk in _chunks(state, uids, options, listed=True):
        yield Find(
            level=Level.IMAGE,
            keys=(*keys, ("SOPInstanceUID", LIST_SEPARATOR.join(chunk))),
            return_keys=return_keys,
            purpose=f"locate {_objects(len(chunk))} in {where}",
            resolves=frozenset(chunk),
            scope=scope,
            root=root,
        )


def _retrieves_for(
    state: State, fetch: Fetch, group: list[Wanted], options: PlanOptions
) -> Iterable[Retrieve]:
    caps = state.capabilities
    root = caps.query_root or Root.STUDY
    patient_id = next((w.patient_id for w in group if w.patient_id), None)
    uids = [w.sop_uid for w in group]
    mode = fetch.mode
    where = f"series {fetch.series}" if fetch.series else "the server"
    if mode.level is Level.SERIES or _whole_series(state, fetch, uids, options):
        size = fetch.count
        if size is None:
            size = state.series_sizes.get(fetch.series or "")
        why = ("to look for " if fetch.locating else "for ") + _objects(len(uids))
        yield Retrieve(
            method=mode.method,
            level=Level.SERIES,
            study=fetch.study,
            series=fetch.series,
            sop_uids=tuple(uids),
            expected=size,
            purpose=f"retrieve {where} whole ({_objects(size) if size else 'size unknown'}) {why}",
            root=root,
            patient_id=patient_id,
        )
        return
    for chunk in _chunks(state, uids, options, listed=mode.listed):
        yield Retrieve(
            method=mode.method,
            level=Level.IMAGE,
            study=fetch.study,
            series=fetch.series,
            sop_uids=chunk,
            expected=len(chunk),
            purpose=f"retrieve {_objects(len(chunk))} from {where}",
            root=root,
            patient_id=patient_id,
        )


def _whole_series(state: State, fetch: Fetch, uids: list[str], options: PlanOptions) -> bool:
    """Every instance of the series is wanted and IMAGE level would take several requests."""
    if not (options.whole_series_when_complete and fetch.series and not fetch.mode.without_parents):
        return False
    size = state.series_sizes.get(fetch.series)
    if size is None or size != len(set(uids)) or size < 2:
        return False
    requests = len(list(_chunks(state, uids, options, listed=fetch.mode.listed)))
    if requests < 2:
        return False
    series_mode = Mode(fetch.mode.method, Level.SERIES)
    return not any(tried(state.attempts.get(uid, ()), series_mode, fetch.series) for uid in uids)


def _chunks(
    state: State, uids: list[str], options: PlanOptions, *, listed: bool
) -> Iterable[tuple[str, ...]]:
    if not listed:
        return ((uid,) for uid in uids)
    return split_uids(
        uids,
        max_count=options.list_size(state.capabilities),
        max_chars=options.max_list_chars,
    )


def _image_return_keys(state: State, group: list[Wanted], options: PlanOptions) -> tuple[str, ...]:
    keys = ["SOPClassUID"]
    if options.sequence_return_keys and state.capabilities.sequence_return_keys is True:
        keys.extend(reference_sequences({w.modality for w in group}))
    return tuple(keys)


def _patient_keys(root: Root, group: list[Wanted]) -> Keys:
    if root is not Root.PATIENT:
        return ()
    patient_id = next((w.patient_id for w in group if w.patient_id), "")
    return (("PatientID", patient_id),)


def _objects(count: int) -> str:
    return f"{count} object" if count == 1 else f"{count} objects"
