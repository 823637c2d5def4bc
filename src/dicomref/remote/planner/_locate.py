"""The ladder for one wanted object: the next search, fetch, or the verdict "missing".

Rungs, best first (DESIGN §4): (1) held locally is handled by the planner; (2) one
IMAGE C-FIND by SOP Instance UID without parents, when the server answers it (with UID
lists, or one per UID, then only for objects lacking a study+series hint); (3) IMAGE
C-FIND in the hinted series; (4) list the hinted studies' series of the implied
modality, then IMAGE C-FIND per candidate series, or (where the server answers it:
``study_image_query``) one IMAGE search by SOP Instance UID in the whole study;
(5) list the patient's studies by
Patient ID, then as (4); (6) where IMAGE level is refused, fetch candidate series whole.
The order in which studies and series are tried is :mod:`dicomref.remote.planner._candidates`.

A located object is retrieved in the first mode not yet tried: UID list (measured to
work, or not measured: a refused list costs one request), one by one, then (series
fallback) its whole series; per method, preferred method first.  Where single objects
would cost more than their whole series, :mod:`._build` retrieves the series instead.  The
series fallback is skipped once IMAGE-level retrieves have worked on this server, or a
series retrieve came without the object: then the object, not the level, is the trouble.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dicomref.model import InstanceKey
from dicomref.remote.planner._actions import Action, Fetch, Missing, Search
from dicomref.remote.planner._attempts import Attempt, Mode
from dicomref.remote.planner._candidates import candidate_studies, ordered_series
from dicomref.remote.planner._enums import Level
from dicomref.remote.planner._options import PlanOptions
from dicomref.remote.planner._reasons import not_found, not_retrieved
from dicomref.remote.planner._state import State
from dicomref.remote.planner._steps import Scope, ScopeKind
from dicomref.remote.planner._wanted import Wanted

_SERVER = Scope(ScopeKind.SERVER)


@dataclass(frozen=True, slots=True)
class _Site:
    """A series that may hold the wanted object."""

    study: str
    series: str
    count: int | None


def next_action(state: State, wanted: Wanted, options: PlanOptions) -> Action:
    """What to do next for ``wanted`` (not held, not yet retrieved)."""
    uid = wanted.sop_uid
    if state.capabilities.query_root is None:
        return Missing(
            uid,
            f"SOP Instance {uid}: the server answers neither Study Root nor Patient Root queries",
        )
    key = state.located.get(uid)
    if key is not None:
        return _retrieve_located(state, uid, key, options)
    if uid in state.unplaced:
        mode = _first_untried(state, uid, _unplaced_modes(state, options), None)
        if mode is not None:
            return Fetch(None, None, mode)
    hinted = _hinted_fetch(state, wanted, options)
    if hinted is not None:
        return hinted
    return _locate(state, wanted, options)


def _hinted_fetch(state: State, wanted: Wanted, options: PlanOptions) -> Fetch | None:
    """With ``options.retrieve_hinted``: the object straight from its hinted series, or
    from the one series of its modality that the listing of its (first candidate) study
    holds, once (an object that does not come is located next, as any other; one a series
    on trial was dropped before is not: it was not waited for)."""
    if not options.retrieve_hinted:
        return None
    attempts = state.attempts.get(wanted.sop_uid, ())
    if any(not a.given_up for a in attempts) or not state.capabilities.image_level_usable:
        return None
    study, series = wanted.study, wanted.series
    if study is None or series is None:  # the first candidate study's one series, if listed
        studies, _ = candidate_studies(state, wanted, options)
        study = study or next(iter(studies), None)
        if study is None or series is not None:
            return None
        series = _only_series(state, study, wanted.modality)
        if series is None:
            return None
    modes = [m for m in image_modes(state, options) if m.level is Level.IMAGE]
    if not modes or not (modes[0].listed or options.hinted_singles):
        return None
    return Fetch(study, series, modes[0], hinted=True)


def _list_first(state: State, wanted: Wanted, options: PlanOptions) -> bool:
    """With ``options.list_studies``: list the first candidate study's series before a
    search across the server (the listing is sent anyway, and may place the object)."""
    if not (options.list_studies and options.retrieve_hinted and wanted.modality):
        return False
    studies, _ = candidate_studies(state, wanted, options)
    return bool(studies) and state.series_in(studies[0], None) is None


def _only_series(state: State, study: str, modality: str | None) -> str | None:
    """The one series of ``modality`` the study's listing holds, if it holds one only."""
    rows = state.series_in(study, modality) if modality else None
    found = {r.series for r in rows or () if r.series and r.modality == modality}
    return found.pop() if len(found) == 1 else None


def image_modes(state: State, options: PlanOptions) -> list[Mode]:
    """Ways to retrieve a located object, best first."""
    caps = state.capabilities
    methods = options.methods(caps)
    modes: list[Mode] = []
    if caps.image_level_usable:
        for method in methods:
            if caps.may_list(method):
                modes.append(Mode(method, Level.IMAGE, listed=True))
            modes.append(Mode(method, Level.IMAGE))
    if options.series_fallback:
        modes.extend(Mode(method, Level.SERIES) for method in methods)
    return modes


def tried(attempts: tuple[Attempt, ...], mode: Mode, series: str | None) -> bool:
    """Whether ``mode`` was tried (a listed mode counts as tried once any list or single was)."""
    for attempt in attempts:
        done = attempt.mode
        if mode.level is Level.SERIES and attempt.series != series:
            continue
        if done == mode:
            return True
        if mode.listed and (done.method, done.level, done.without_parents) == (
            mode.method,
            mode.level,
            mode.without_parents,
        ):
            return True
    return False


def _first_untried(state: State, uid: str, modes: list[Mode], series: str | None) -> Mode | None:
    attempts = state.attempts.get(uid, ())
    for mode in modes:
        if not tried(attempts, mode, series):
            return mode
    return None


def _retrieve_located(state: State, uid: str, key: InstanceKey, options: PlanOptions) -> Action:
    modes = image_modes(state, options)
    if _object_not_level(state, uid):
        modes = [m for m in modes if m.level is Level.IMAGE]
    mode = _first_untried(state, uid, modes, key.series)
    if mode is None:
        return Missing(uid, not_retrieved(state, uid, key))
    if mode.level is Level.SERIES:
        count = state.series_sizes.get(key.series)
        if _too_big(count, options):
            return Missing(uid, not_retrieved(state, uid, key, too_big=count))
        return Fetch(key.study, key.series, mode, count)
    return Fetch(key.study, key.series, mode)


def _object_not_level(state: State, uid: str) -> bool:
    """Whether the trouble is this object, not IMAGE level: no series fallback then.

    So when IMAGE-level retrieves have delivered on this server, or a retrieve of the
    object's whole series delivered the series but not the object.
    """
    if any(mode.level is Level.IMAGE for mode in state.proven):
        return True
    attempts = state.attempts.get(uid, ())
    return any(a.mode.level is Level.SERIES and a.arrived for a in attempts)


def _unplaced_modes(state: State, options: PlanOptions) -> list[Mode]:
    caps = state.capabilities
    modes: list[Mode] = []
    for method in options.methods(caps):
        if caps.retrieves_without_parents(method):
            if caps.lists(method):
                modes.append(Mode(method, Level.IMAGE, listed=True, without_parents=True))
            modes.append(Mode(method, Level.IMAGE, without_parents=True))
    return modes


def _locate(state: State, wanted: Wanted, options: PlanOptions) -> Action:
    uid = wanted.sop_uid
    caps = state.capabilities
    unplaced = uid in state.unplaced
    if state.was_searched(uid, _SERVER):
        if not unplaced:
            return Missing(uid, not_found(state, wanted, options, []))
    elif caps.flat_image_query is not None and not unplaced:
        hinted = bool(wanted.study and wanted.series)
        if (caps.lists() or not hinted) and not _list_first(state, wanted, options):
            return Search(_SERVER)
    skipped: list[str] = []
    for item in _walk(state, wanted, options):
        if isinstance(item, Search):
            return item
        scope = Scope(ScopeKind.SERIES, study=item.study, series=item.series)
        if state.was_searched(uid, scope):
            continue
        if caps.image_level_usable:
            return Search(scope)
        action = _fetch_site(state, uid, item, options, skipped)
        if action is not None:
            return action
    return Missing(uid, not_found(state, wanted, options, skipped))


def _fetch_site(
    state: State, uid: str, site: _Site, options: PlanOptions, skipped: list[str]
) -> Fetch | None:
    """Rung 6: fetch ``site`` whole to look inside it, if allowed and not yet tried."""
    if not options.series_fallback:
        skipped.append(
            f"the server refuses {state.words.image_level} queries and series fallback is off"
        )
        return None
    if _too_big(site.count, options):
        skipped.append(
            f"series {site.series} not fetched whole: {site.count} instances, over the "
            f"limit of {options.series_fallback_limit}"
        )
        return None
    modes = [Mode(m, Level.SERIES) for m in options.methods(state.capabilities)]
    mode = _first_untried(state, uid, modes, site.series)
    if mode is None:
        return None
    return Fetch(site.study, site.series, mode, site.count, locating=True)


def _too_big(count: int | None, options: PlanOptions) -> bool:
    limit = options.series_fallback_limit
    return limit is not None and count is not None and count > limit


def _walk(state: State, wanted: Wanted, options: PlanOptions) -> Iterator[_Site | Search]:
    """Candidate series in order; a Search where a listing is needed to go on."""
    seen: set[str] = set()
    if wanted.series:
        home = wanted.study or state.series_home.get(wanted.series)
        if home:
            seen.add(wanted.series)
            yield _Site(home, wanted.series, state.series_sizes.get(wanted.series))
        elif (
            state.capabilities.series_query_without_study is True
            and wanted.series not in state.lookups
        ):
            yield Search(Scope(ScopeKind.SERIES_LOOKUP, series=wanted.series))
            return
    studies, list_patient = candidate_studies(state, wanted, options)
    caps = state.capabilities
    by_uid = caps.study_image_query is True and caps.image_level_usable
    by_uid = by_uid and not options.list_studies
    for study in studies:
        if by_uid:  # one search by SOP Instance UID answers for the whole study
            scope = Scope(ScopeKind.STUDY_IMAGES, study=study)
            if not state.was_searched(wanted.sop_uid, scope):
                yield Search(scope)
                return
            continue
        rows = state.series_in(study, wanted.modality)
        if rows is None:
            modality = None if options.list_studies else wanted.modality
            yield Search(Scope(ScopeKind.STUDY, study=study, modality=modality))
            return
        for row in ordered_series(rows, wanted.series):
            if row.series and row.series not in seen:
                seen.add(row.series)
                yield _Site(study, row.series, row.count)
    if list_patient and wanted.patient_id:
        yield Search(Scope(ScopeKind.PATIENT, patient_id=wanted.patient_id))
