"""What is known so far while resolving: the planner's input, changed by pure transitions.

The resolve loop runs a plan's steps and records each answer with one transition
(:meth:`State.with_found`, :meth:`State.with_find_failed`, :meth:`State.with_retrieved`);
each returns a new state and leaves the old one untouched.  Every transition records
progress (a scope searched, a listing stored, an attempt made or a capability learnt),
so planning again always moves forward and the ladder ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dicomref.model import InstanceKey
from dicomref.remote.planner._attempts import Attempt, Mode
from dicomref.remote.planner._capabilities import Capabilities
from dicomref.remote.planner._costs import Costs
from dicomref.remote.planner._enums import Level, Method
from dicomref.remote.planner._learning import (
    learn_from_arrival,
    learn_from_find,
    learn_from_retrieve,
    learn_from_rows,
)
from dicomref.remote.planner._match import Match
from dicomref.remote.planner._steps import Find, Retrieve, Scope, ScopeKind
from dicomref.remote.planner._wanted import Wanted
from dicomref.remote.planner._words import DIMSE, Words

#: A SERIES listing is stored under (study, modality); modality None = all series.
ListingKey = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class State:
    """Everything the planner knows about one server, for one set of wanted objects.

    ``wanted``: by SOP Instance UID, in the order asked.  ``held``: UIDs already in the
    local catalog or cache.  ``located``: where the server holds a wanted object.
    ``unplaced``: found by SOP Instance UID, but the server did not say where.
    ``retrieved``: wanted objects that arrived.  ``discarded``: objects that arrived
    unasked (a series fetched whole).  ``studies``: study rows per Patient ID.
    ``series_rows``: series rows per (study, modality or None), de-duplicated.
    ``series_home``: series UID -> study UID, learnt from any answer.  ``series_sizes``:
    series UID -> number of instances, when an answer told.  ``lookups``: series UIDs
    already looked up without a study.  ``searched``: per wanted UID, the scopes that
    were searched for it.  ``attempts``: per wanted UID, retrieves that did not bring
    it.  ``proven``: retrieve modes that delivered at least one object.  ``notes``: per
    wanted UID, refusals worth reporting.  ``round_trips`` / ``objects_moved``: the
    cost so far.  ``costs``: what requests cost on this server, as seen (the planner
    weighs a list, single objects and the whole series with it).  ``words``: how the
    server's protocol names its requests, for the reasons written (:mod:`._words`).
    States compare by value; they are not hashable.
    """

    capabilities: Capabilities
    wanted: Mapping[str, Wanted] = field(default_factory=dict)
    held: frozenset[str] = frozenset()
    located: Mapping[str, InstanceKey] = field(default_factory=dict)
    unplaced: frozenset[str] = frozenset()
    retrieved: frozenset[str] = frozenset()
    discarded: frozenset[str] = frozenset()
    studies: Mapping[str, tuple[Match, ...]] = field(default_factory=dict)
    series_rows: Mapping[ListingKey, tuple[Match, ...]] = field(default_factory=dict)
    series_home: Mapping[str, str] = field(default_factory=dict)
    series_sizes: Mapping[str, int] = field(default_factory=dict)
    lookups: frozenset[str] = frozenset()
    searched: Mapping[str, frozenset[Scope]] = field(default_factory=dict)
    attempts: Mapping[str, tuple[Attempt, ...]] = field(default_factory=dict)
    proven: frozenset[Mode] = frozenset()
    notes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    round_trips: int = 0
    objects_moved: int = 0
    costs: Costs = field(default_factory=Costs)
    fruitless_lists: frozenset[Scope] = frozenset()
    words: Words = DIMSE

    @classmethod
    def start(
        cls,
        wanted: Iterable[Wanted],
        capabilities: Capabilities,
        *,
        held: Iterable[str] = (),
        words: Words = DIMSE,
    ) -> State:
        """A fresh state: nothing asked of the server yet (``words``: its protocol's)."""
        state = cls(capabilities=capabilities, costs=Costs.of(capabilities), words=words)
        return state.with_wanted(wanted).with_held(held)

    # -- reading ------------------------------------------------------------------------

    @property
    def pending(self) -> tuple[Wanted, ...]:
        """Wanted objects neither held locally nor retrieved, in the order asked."""
        done = self.held | self.retrieved
        return tuple(w for uid, w in self.wanted.items() if uid not in done)

    def was_searched(self, uid: str, scope: Scope) -> bool:
        """Whether ``scope`` was searched for ``uid``."""
        return scope in self.searched.get(uid, frozenset())

    def series_in(self, study: str, modality: str | None) -> tuple[Match, ...] | None:
        """The series of ``study`` that may hold ``modality`` objects; None if not listed.

        A listing filtered by that modality is used as is; an unfiltered one is filtered
        here (rows without a Modality are kept).
        """
        exact = self.series_rows.get((study, modality))
        if exact is not None:
            return exact
        everything = self.series_rows.get((study, None))
        if everything is None:
            return None
        return tuple(r for r in everything if modality is None or r.modality in (modality, None))

    # -- transitions --------------------------------------------------------------------

    def with_wanted(self, wanted: Iterable[Wanted]) -> State:
        """More objects to fetch (the closure grows); repeated UIDs merge their hints."""
        merged = dict(self.wanted)
        for item in wanted:
            known = merged.get(item.sop_uid)
            merged[item.sop_uid] = item if known is None else known.merged(item)
        return dataclasses.replace(self, wanted=merged)

    def with_held(self, uids: Iterable[str]) -> State:
        """These UIDs are in the local catalog or cache: nothing to fetch for them."""
        return dataclasses.replace(self, held=self.held | frozenset(uids))

    def with_costs(self, costs: Costs) -> State:
        """The costs seen so far, with one more request (:meth:`Costs.observed`)."""
        return dataclasses.replace(self, costs=costs)

    def with_found(self, find: Find, matches: Iterable[Match]) -> State:
        """Record the answers to ``find`` (all of them: an empty answer is news too).

        A UID-list C-FIND sent while lists were unmeasured that matched nothing teaches
        that lists do not work here, and searches nothing: the same objects are looked
        for again without a list.
        """
        rows = tuple(matches)
        kind = find.scope.kind
        state = dataclasses.replace(self, round_trips=self.round_trips + 1)
        learnt = learn_from_rows(self.capabilities, find, len([r for r in rows if r.sop]))
        if learnt is not None:
            state = dataclasses.replace(state, capabilities=learnt)
            if learnt.uid_list_find is False and self.capabilities.uid_list_find is None:
                what = f"a UID-list {self.words.find} in {find.scope.describe()} matched nothing"
                fruitless = self.fruitless_lists | {find.scope}
                state = dataclasses.replace(state, fruitless_lists=fruitless)
                return state._with_notes(find.resolves, what)
        if find.scope in self.fruitless_lists and not find.sop_uids:
            state = state._judged_list(find, rows)
        if kind in (ScopeKind.SERVER, ScopeKind.SERIES, ScopeKind.STUDY_IMAGES):
            return state._with_instances(find, rows)
        if kind is ScopeKind.STUDY:
            return state._with_series_listing(find, rows)
        if kind is ScopeKind.PATIENT:
            pid = find.scope.patient_id or ""
            studies = {**state.studies, pid: _unique_studies(rows)}
            return dataclasses.replace(state, studies=studies)
        series = find.scope.series or ""
        home = dict(state.series_home)
        sizes = dict(state.series_sizes)
        for row in rows:
            if row.study and row.series in (series, None):
                home[series] = row.study
                if row.count is not None:
                    sizes[series] = row.count
        return dataclasses.replace(
            state, series_home=home, series_sizes=sizes, lookups=state.lookups | {series}
        )

    def with_find_failed(self, find: Find, reason: str) -> State:
        """``find`` was refused or failed with ``reason`` (a status, a message).

        When the refusal teaches something about the server (lists do not work, IMAGE
        level is refused, a flat query is refused) the capability is corrected and the
        same objects are planned another way.  Otherwise the scope counts as searched
        without result, and the refusal is noted for the report.
        """
        what = f"{find.level.value} {self.words.find} in {find.scope.describe()} failed: {reason}"
        learnt = learn_from_find(self.capabilities, find)
        noted = self._with_notes(find.resolves, what)
        if learnt is not None:
            return dataclasses.replace(noted, capabilities=learnt, round_trips=self.round_trips + 1)
        return noted.with_found(find, ())

    def with_retrieved(
        self,
        retrieve: Retrieve,
        arrived: Iterable[InstanceKey],
        *,
        completed: int | None = None,
        reason: str | None = None,
        unsupported: bool = False,
        given_up: bool = False,
    ) -> State:
        """Record what arrived for ``retrieve`` (the objects, read from their headers).

        ``completed`` is the number of completed sub-operations the server reported,
        ``reason`` its failure or warning status if any; what arrived is the truth.
        Wanted objects that arrived are retrieved (from whichever step brought them),
        others are discarded.  Wanted objects asked for but not arrived get an attempt
        recorded (IMAGE level, or a series they were located in), or, for a series
        fetched whole to look inside it, count as not in that series.  ``unsupported``:
        the server said it does not offer the retrieve service at all (0x0122, or a refused
        presentation context): unless it has delivered before, it is not tried again.
        ``given_up``: a series on trial dropped before its end: what did not arrive may be
        there still (not counted as searched there), and the series' size is not learnt.
        """
        keys = tuple(arrived)
        got = {k.sop for k in keys}
        wanted = got & self.wanted.keys()
        located = dict(self.located)
        located.update({k.sop: k for k in keys if k.sop in wanted})
        mode = Mode.of(retrieve)
        failed = [uid for uid in retrieve.sop_uids if uid not in got]
        note = _retrieve_note(retrieve, mode, len(got), completed, reason, self.words)
        state = dataclasses.replace(
            self,
            located=located,
            unplaced=self.unplaced - wanted,
            retrieved=self.retrieved | wanted,
            discarded=self.discarded | (got - wanted),
            proven=(self.proven | {mode}) if got else self.proven,
            round_trips=self.round_trips + 1,
            objects_moved=self.objects_moved + len(keys),
        )
        if retrieve.level is Level.SERIES and got and not given_up:
            scope = Scope(ScopeKind.SERIES, study=retrieve.study, series=retrieve.series)
            elsewhere = [u for u in failed if _series_of(self, u) != retrieve.series]
            state = state._with_searched(elsewhere, scope)
            failed = [u for u in failed if u not in elsewhere]
            sizes = {**state.series_sizes, retrieve.series or "": len(keys)}
            state = dataclasses.replace(state, series_sizes=sizes)
        attempts = dict(state.attempts)
        for uid in failed:
            attempt = Attempt(mode, retrieve.series, note, len(got), given_up=given_up)
            attempts[uid] = (*attempts.get(uid, ()), attempt)
        state = dataclasses.replace(state, attempts=attempts)
        if got:
            learnt = learn_from_arrival(state.capabilities, retrieve, got)
            if learnt is not None:
                state = dataclasses.replace(state, capabilities=learnt)
        if mode in state.proven:
            return state
        proven = any(p.method is mode.method for p in state.proven)
        if unsupported and not proven:
            flag = "c_move" if mode.method is Method.MOVE else "c_get"
            return dataclasses.replace(
                state, capabilities=state.capabilities.learned(**{flag: False})
            )
        strikes = 0  # objects this unproven method brought nothing for, in this mode
        if all(p.method is not mode.method for p in state.proven):
            strikes = sum(1 for tries in attempts.values() if any(a.mode == mode for a in tries))
        learnt = learn_from_retrieve(state.capabilities, retrieve, got, strikes)
        if learnt is not None:
            state = dataclasses.replace(state, capabilities=learnt)
        return state

    # -- helpers ------------------------------------------------------------------------

    def _judged_list(self, find: Find, rows: tuple[Match, ...]) -> State:
        """The listing of a series where a UID list matched nothing: if it holds none of the
        objects wanted there either, the list was not to blame (the objects are elsewhere),
        and lists go back to unmeasured rather than a "no" kept for the server."""
        state = dataclasses.replace(self, fruitless_lists=self.fruitless_lists - {find.scope})
        if {r.sop for r in rows if r.sop} & find.resolves:
            return state
        caps = self.capabilities.learned(uid_list_find=None)
        return dataclasses.replace(state, capabilities=caps)

    def _with_instances(self, find: Find, rows: tuple[Match, ...]) -> State:
        scope = find.scope
        located = dict(self.located)
        unplaced = set(self.unplaced)
        home = dict(self.series_home)
        for row in rows:
            if row.sop is None or row.sop not in self.wanted:
                continue
            study, series = row.study, row.series
            if scope.kind is ScopeKind.SERIES:
                study, series = scope.study, scope.series
            if study and series:
                located[row.sop] = InstanceKey(study, series, row.sop)
                home[series] = study
                unplaced.discard(row.sop)
            elif row.sop not in located:
                unplaced.add(row.sop)
        searched_for = set(find.resolves) | set(find.sop_uids)
        sizes = dict(self.series_sizes)
        if scope.kind is ScopeKind.SERIES and not find.sop_uids:
            # A whole-series listing answers for every wanted object at once.
            searched_for |= self.wanted.keys()
            sizes[scope.series or ""] = len({r.sop for r in rows if r.sop})
        state = dataclasses.replace(
            self,
            located=located,
            unplaced=frozenset(unplaced),
            series_home=home,
            series_sizes=sizes,
        )
        return state._with_searched(searched_for, scope)

    def _with_series_listing(self, find: Find, rows: tuple[Match, ...]) -> State:
        study = find.scope.study or ""
        duplicates = self.capabilities.duplicate_series_rows
        listed = _unique_series(rows, study, count_duplicates=duplicates)
        home = dict(self.series_home)
        sizes = dict(self.series_sizes)
        for row in listed:
            if row.series:
                home[row.series] = study
                if row.count is not None:
                    sizes[row.series] = row.count
        listings = {**self.series_rows, (study, find.scope.modality): listed}
        return dataclasses.replace(self, series_rows=listings, series_home=home, series_sizes=sizes)

    def _with_searched(self, uids: Iterable[str], scope: Scope) -> State:
        searched = dict(self.searched)
        for uid in uids:
            searched[uid] = searched.get(uid, frozenset()) | {scope}
        return dataclasses.replace(self, searched=searched)

    def _with_notes(self, uids: Iterable[str], note: str) -> State:
        notes = dict(self.notes)
        for uid in uids:
            notes[uid] = (*notes.get(uid, ()), note)
        return dataclasses.replace(self, notes=notes)


def _series_of(state: State, uid: str) -> str | None:
    key = state.located.get(uid)
    return key.series if key is not None else None


def _unique_series(
    rows: Iterable[Match], study: str, *, count_duplicates: bool | None
) -> tuple[Match, ...]:
    """One row per series (qrscp answers one per instance), counts filled where known."""
    first: dict[str, Match] = {}
    seen: dict[str, int] = {}
    for row in rows:
        if not row.series:
            continue
        seen[row.series] = seen.get(row.series, 0) + 1
        first.setdefault(row.series, row)
    unique = []
    for uid, row in first.items():
        count = row.count
        if count is None and count_duplicates is True:
            count = seen[uid]
        unique.append(dataclasses.replace(row, study=study, count=count))
    return tuple(unique)


def _unique_studies(rows: Iterable[Match]) -> tuple[Match, ...]:
    first: dict[str, Match] = {}
    for row in rows:
        if row.study:
            first.setdefault(row.study, row)
    return tuple(first.values())


def _retrieve_note(
    retrieve: Retrieve,
    mode: Mode,
    arrived: int,
    completed: int | None,
    reason: str | None,
    words: Words,
) -> str:
    where = f"series {retrieve.series}" if retrieve.series else "the server"
    text = f"{mode.describe(words)} from {where}: {arrived} of {retrieve.estimated_objects} arrived"
    if completed is not None and completed != arrived:
        done = "completed sub-operations" if words.list_retrieve else "objects sent"
        text += f" (server reported {completed} {done})"
    if reason:
        text += f"; {reason}"
    return text
