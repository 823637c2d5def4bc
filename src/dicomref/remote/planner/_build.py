"""Turn the per-object decisions into steps: group, list, split, and write identifiers.

Identifiers hold standard keys only (private tags break servers: DESIGN §2).  Under
the Patient Root model hierarchical identifiers start with PatientID, taken from the
first wanted object of the group that has one (zero-length otherwise); a flat query
that leaves the parents out leaves PatientID out too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dicomref.remote.planner._actions import Fetch
from dicomref.remote.planner._attempts import Mode
from dicomref.remote.planner._enums import Level, Method, ParentKeys, Root
from dicomref.remote.planner._locate import tried
from dicomref.remote.planner._modality import reference_sequences
from dicomref.remote.planner._options import PlanOptions
from dicomref.remote.planner._query import CohortQuery
from dicomref.remote.planner._state import State
from dicomref.remote.planner._steps import (
    LIST_SEPARATOR,
    Find,
    Keys,
    Retrieve,
    Scope,
    ScopeKind,
    Step,
    split_uids,
)
from dicomref.remote.planner._trial import TRIAL_MAX_SIZE, TRIAL_MIN_WANTED, Trial
from dicomref.remote.planner._wanted import Wanted
from dicomref.remote.planner._words import Words

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
    elif scope.kind is ScopeKind.STUDY_IMAGES:
        keys = (*patient, ("StudyInstanceUID", scope.study or ""), ("SeriesInstanceUID", ""))
        # a list only where lists are measured: an ignored list would look like absence
        for chunk in _chunks(state, uids, options, listed=caps.lists()):
            yield Find(
                level=Level.IMAGE,
                keys=(*keys, ("SOPInstanceUID", LIST_SEPARATOR.join(chunk))),
                return_keys=_image_return_keys(state, group, options),
                purpose=f"locate {_objects(len(chunk))} in study {scope.study} by SOP UID",
                resolves=frozenset(chunk),
                scope=scope,
                root=root,
            )
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
    caps = state.capabilities
    if len(uids) > 1 and not caps.may_list():
        yield Find(
            level=Level.IMAGE,
            keys=(*keys, ("SOPInstanceUID", "")),
            return_keys=return_keys,
            purpose=f"list the instances of {where} (for {_objects(len(uids))})",
            resolves=frozenset(uids),
            scope=scope,
            root=root,
            why=f"{state.words.find} of {where} whole for {_objects(len(uids))}: uid_list_find "
            "is false here, so the series is listed in one request",
        )
        return
    why = ""
    if len(uids) > 1 and caps.uid_list_find is None:
        why = (
            f"{state.words.find} list of {len(uids)} in {where}: uid_list_find not measured, "
            "trying a list (a refusal costs one request)"
        )
    for chunk in _chunks(state, uids, options, listed=True):
        yield Find(
            level=Level.IMAGE,
            keys=(*keys, ("SOPInstanceUID", LIST_SEPARATOR.join(chunk))),
            return_keys=return_keys,
            purpose=f"locate {_objects(len(chunk))} in {where}",
            resolves=frozenset(chunk),
            scope=scope,
            root=root,
            why=why,
        )
        why = ""


def _retrieves_for(
    state: State, fetch: Fetch, group: list[Wanted], options: PlanOptions
) -> Iterable[Retrieve]:
    caps = state.capabilities
    root = caps.query_root or Root.STUDY
    patient_id = next((w.patient_id for w in group if w.patient_id), None)
    uids = [w.sop_uid for w in group]
    mode = fetch.mode
    where = f"series {fetch.series}" if fetch.series else "the server"
    whole, trial = _whole_series(state, fetch, uids, options) or (None, None)
    if mode.level is Level.SERIES or whole is not None:
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
            why=whole or _fallback_why(state, fetch, uids),
            trial=trial,
        )
        return
    chunks = list(_chunks(state, uids, options, listed=mode.listed))
    reason = _image_why(state, fetch, uids, len(chunks))
    for chunk in chunks:
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
            why=reason,
        )
        reason = ""


def _whole_series(
    state: State, fetch: Fetch, uids: list[str], options: PlanOptions
) -> tuple[str, Trial | None] | None:
    """Why ``fetch``'s series is retrieved whole instead of ``uids`` at IMAGE level, and
    its trial if it is on trial; None to retrieve ``uids``.

    Whole when every instance is wanted and IMAGE level would take several requests (the
    same bytes in one), or, with single objects only (no lists, or a protocol whose
    retrieve of listed instances is one request per instance: WADO-RS), when the costs
    seen on the server make the series faster than the singles (:func:`_costs_of`), or,
    on WADO-RS with no retrieve of many objects ever timed, on trial (:mod:`._trial`).
    """
    mode = fetch.mode
    if not fetch.series or mode.level is not Level.IMAGE or mode.without_parents:
        return None
    size = state.series_sizes.get(fetch.series)
    wanted = len(set(uids))
    if size is None or size < 2 or wanted < 1:
        return None
    series_mode = Mode(mode.method, Level.SERIES)
    if any(tried(state.attempts.get(uid, ()), series_mode, fetch.series) for uid in uids):
        return None
    where = f"series {fetch.series}"
    if size == wanted:
        if not options.whole_series_when_complete:
            return None
        requests = len(list(_chunks(state, uids, options, listed=mode.listed)))
        if requests < 2:
            return None
        return (
            f"{where} whole: all {size} of its objects are wanted, one request instead "
            f"of {requests}",
            None,
        )
    one_request = mode.listed and state.words.list_retrieve
    if one_request or wanted < 2 or size < wanted or not options.series_when_cheaper:
        return None
    limit = options.series_fallback_limit
    if limit is not None and size > limit:
        return None
    singles, whole = _costs_of(state, wanted, size)
    costs = state.costs
    # WADO-RS: a series in one GET can be dropped mid-way, so a choice that rests on
    # figures this fetch did not measure is made on trial (see ._trial)
    trial = None
    if not state.words.list_retrieve and not costs.bulk_measured:
        trial = Trial(wanted, size, costs.singles_seen, costs.stored_fan_out)
    if whole < singles:
        on_trial = "; on trial (figures not measured in this fetch)" if trial else ""
        return (
            f"{where} whole: {wanted} singles ~ {singles:.1f} s against {size} objects "
            f"~ {whole:.1f} s ({costs.describe()}); the {size - wanted} others are "
            f"discarded{on_trial}",
            trial,
        )
    if (
        trial is None
        or costs.bulk_known
        or not costs.singles_seen
        or wanted < TRIAL_MIN_WANTED
        or size > TRIAL_MAX_SIZE * wanted
    ):
        return None
    return (
        f"{where} whole, on trial: {wanted} of its {size} objects wanted, and what each "
        f"costs in one {state.words.get} not measured yet; given up for one "
        f"{state.words.get} per wanted instance as soon as its first objects say that "
        "would be faster",
        trial,
    )


def _costs_of(state: State, wanted: int, size: int) -> tuple[float, float]:
    """Estimated seconds for ``wanted`` single retrieves, and for their series of ``size``."""
    return state.costs.singles_seconds(wanted), state.costs.bulk_seconds(size)


def _image_why(state: State, fetch: Fetch, uids: list[str], requests: int) -> str:
    """Why ``uids`` are asked this way at IMAGE level (empty for a lone object)."""
    caps = state.capabilities
    method = fetch.mode.method
    words = state.words
    command = words.retrieve(method)
    where = f"series {fetch.series}" if fetch.series else "the server (no Study/Series keys)"
    flag = caps.list_flag(method)
    count = len(uids)
    if not words.list_retrieve:
        return _per_instance_why(words, where, count)
    if fetch.mode.listed and count > 1:
        straight = (
            "; straight from the series their referrer names, no search first (what does "
            "not come is searched for)"
            if fetch.hinted
            else ""
        )
        if getattr(caps, flag) is None:
            return (
                f"{command} list of {count} in {where}: {flag} not measured, trying a list "
                f"(a refusal costs one request){straight}"
            )
        split = f", in {requests} requests" if requests > 1 else ""
        return f"{command} list of {count} in {where}: {flag} measured{split}{straight}"
    if count < 2:
        return ""
    head = f"{command} of {count} single objects from {where}: "
    head += f"{flag} is false" if getattr(caps, flag) is False else "a list was not answered"
    size = state.series_sizes.get(fetch.series or "") if fetch.series else None
    if size is None or size <= count:
        return head
    singles, whole = _costs_of(state, count, size)
    return (
        f"{head}; singles ~ {singles:.1f} s against the whole series ({size} objects) "
        f"~ {whole:.1f} s ({state.costs.describe()})"
    )


def _fallback_why(state: State, fetch: Fetch, uids: list[str]) -> str:
    """Why a series is retrieved whole as a fallback (IMAGE level refused, or tried)."""
    words = state.words
    command = words.retrieve(fetch.mode.method)
    where = f"series {fetch.series}"
    level = words.image_level
    if fetch.locating:
        return (
            f"{command} of {where} whole to look inside it for {_objects(len(uids))}: the "
            f"server does not answer {level} queries"
        )
    if not state.capabilities.image_level_usable:
        return f"{command} of {where} whole: the server refuses {level} retrieves"
    return f"{command} of {where} whole: {_objects(len(uids))} did not come at {level}"


def _per_instance_why(words: Words, where: str, count: int) -> str:
    """Why for a protocol that retrieves instance by instance (WADO-RS): one request each."""
    if count < 2:
        return ""
    return (
        f"{words.get} of {count} instances from {where}: one request per instance (the "
        "series in one where the costs seen make that faster)"
    )


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


def selection_finds(
    query: CohortQuery, level: Level, scopes: Iterable[Scope], root: Root
) -> list[Find]:
    """The C-FINDs that select a cohort's starts at ``level``, one per parent in ``scopes``.

    Hierarchical, a level at a time: STUDY (one request, scope PATIENT), then SERIES in
    each study found (scope STUDY), then IMAGE in each series found (scope SERIES); every
    identifier carries the unique keys of the levels above with values, the query's keys
    of its level as matching keys, and what the next level needs as return keys
    (zero-length).  Under the Patient Root model PatientID comes first.
    """
    asked = dict(query.at(level))
    finds: list[Find] = []
    for scope in scopes:
        patient = scope.patient_id or asked.get("PatientID", "")
        keys: list[tuple[str, str]] = []
        if root is Root.PATIENT or level is Level.STUDY:
            keys.append(("PatientID", patient))
        if level is Level.STUDY:
            keys.append(("StudyInstanceUID", asked.pop("StudyInstanceUID", "")))
            asked.pop("PatientID", None)
            purpose = "select the studies of the cohort"
        elif level is Level.SERIES:
            keys += [
                ("StudyInstanceUID", scope.study or ""),
                ("SeriesInstanceUID", asked.pop("SeriesInstanceUID", "")),
                ("Modality", asked.pop("Modality", "")),
            ]
            purpose = f"select the series of study {scope.study}"
        else:
            keys += [
                ("StudyInstanceUID", scope.study or ""),
                ("SeriesInstanceUID", scope.series or ""),
                ("SOPInstanceUID", asked.pop("SOPInstanceUID", "")),
                ("SOPClassUID", asked.pop("SOPClassUID", "")),
            ]
            purpose = f"select the objects of series {scope.series}"
        keys += asked.items()
        finds.append(
            Find(
                level=level,
                keys=tuple(keys),
                return_keys=(),
                purpose=f"{purpose} ({query.describe()})",
                resolves=frozenset(),
                scope=scope,
                root=root,
            )
        )
        asked = dict(query.at(level))
    return finds
