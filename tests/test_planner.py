"""The fetch planner, simulated against pure in-memory server models (no network).

:class:`ServerModel` is a table of objects plus the capabilities the server *really*
has; it answers Find and Retrieve steps the way such a server does (strict ones refuse,
lenient ones answer, "success, 0 sent" ones answer and send nothing).  :func:`simulate`
is the resolve loop in miniature: plan, run each step against the model, record the
answer with the state's transitions, plan again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
from pydicom import uid as sop
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from dicomref.errors import UsageError
from dicomref.model import InstanceKey, Kind, Reference
from dicomref.remote import (
    Capabilities,
    Find,
    Level,
    Match,
    Method,
    ParentKeys,
    Plan,
    PlanOptions,
    Preference,
    Retrieve,
    Root,
    Scope,
    ScopeKind,
    State,
    Step,
    Wanted,
    modality_for,
    plan,
    split_uids,
)
from dicomref.remote.fetching._run import needed
from dicomref.remote.planner._costs import Costs
from dicomref.remote.planner._words import DICOMWEB, DIMSE, Words

# -- capability sets measured on real servers (DESIGN §2) --------------------------------

ORTHANC = Capabilities(
    echo=True,
    study_root=True,
    patient_root=True,
    image_level=True,
    image_query_without_parents=True,
    image_query_with_empty_parents=True,
    uid_list_find=True,
    uid_list_move=True,
    uid_list_get=True,
    series_query_without_study=True,
    c_move=True,
    c_get=True,
    sequence_return_keys=True,
    move_without_parents=True,
    get_without_parents=True,
    duplicate_series_rows=False,
    measured_at="2024-05-01T10:00:00Z",
)
DCMQRSCP = dataclasses.replace(  # default options: lenient
    ORTHANC,
    image_query_without_parents=False,
    sequence_return_keys=False,
    move_without_parents=False,
    get_without_parents=False,
)
DCMQRSCP_STRICT = dataclasses.replace(  # -XF -XM
    DCMQRSCP, image_query_with_empty_parents=False, series_query_without_study=False
)
QRSCP = dataclasses.replace(  # pynetdicom's qrscp: lenient, no lists, a row per instance
    DCMQRSCP, uid_list_find=False, uid_list_move=False, uid_list_get=False,
    duplicate_series_rows=True,
)  # fmt: skip

# A DICOMweb server without relational search (as AWS HealthImaging: nothing outside a
# study, or here outside a series): what Capabilities.web() starts from, IMAGE level known.
WEB_STUDY_SEARCH = dataclasses.replace(
    Capabilities.web(),
    image_level=True,
    image_query_without_parents=False,
    image_query_with_empty_parents=False,
    series_query_without_study=False,
    uid_list_find=True,
    uid_list_get=True,
    c_get=True,
)
WEB_SERIES_ONLY = dataclasses.replace(WEB_STUDY_SEARCH, study_image_query=False)

# -- a small archive ---------------------------------------------------------------------

CT, RS, PLAN, DOSE = (
    sop.CTImageStorage,
    sop.RTStructureSetStorage,
    sop.RTPlanStorage,
    sop.RTDoseStorage,
)
PID = "PAT-1"
STUDY_A = "1.2.826.0.1.3680043.1.1"  # newest
STUDY_B = "1.2.826.0.1.3680043.1.2"  # older
STUDY_C = "1.2.826.0.1.3680043.1.3"  # another patient
CT_A, SCOUT_A, RS_A1, RS_A2, PLAN_A, DOSE_A, CT_B, RS_B, CT_C = (
    f"1.2.826.0.1.3680043.2.{n}" for n in range(1, 10)
)


@dataclass(frozen=True)
class Obj:
    """One stored object of the model archive."""

    patient: str
    study: str
    series: str
    sop: str
    sop_class: str
    number: int = 1
    date: str = "20240105"

    @property
    def modality(self) -> str:
        return modality_for(self.sop_class) or "OT"

    @property
    def key(self) -> InstanceKey:
        return InstanceKey(self.study, self.series, self.sop)


def ct_uid(series: str, n: int) -> str:
    return f"{series}.{n}"


SS1, SS2, SS3, SS_OLD = (f"1.2.826.0.1.3680043.3.{n}" for n in range(1, 5))
PLAN1, DOSE1, SS_OTHER = (f"1.2.826.0.1.3680043.4.{n}" for n in range(1, 4))
GHOST = "1.2.826.0.1.3680043.9.999"  # referenced, stored nowhere


def archive() -> tuple[Obj, ...]:
    def a(series: str, uid: str, cls: str, number: int = 1) -> Obj:
        return Obj(PID, STUDY_A, series, uid, cls, number, "20240105")

    def b(series: str, uid: str, cls: str, number: int = 1) -> Obj:
        return Obj(PID, STUDY_B, series, uid, cls, number, "20230101")

    def c(series: str, uid: str, cls: str) -> Obj:
        return Obj("PAT-2", STUDY_C, series, uid, cls, 1, "20240301")

    return (
        *(a(CT_A, ct_uid(CT_A, n), CT, 2) for n in range(100)),
        *(a(SCOUT_A, ct_uid(SCOUT_A, n), CT) for n in range(2)),
        a(RS_A1, SS1, RS, 3),
        a(RS_A1, SS2, RS, 3),
        a(RS_A2, SS3, RS, 4),
        a(PLAN_A, PLAN1, PLAN, 5),
        a(DOSE_A, DOSE1, DOSE, 6),
        *(b(CT_B, ct_uid(CT_B, n), CT) for n in range(50)),
        b(RS_B, SS_OLD, RS, 2),
        *(c(CT_C, ct_uid(CT_C, n), CT) for n in range(10)),
        c(CT_C + ".9", SS_OTHER, RS),
    )


# -- the server model --------------------------------------------------------------------

Refusal = str


@dataclass(frozen=True)
class ServerModel:
    """A pure model of a Q/R server: its objects and what it really does.

    ``counts``: answers NumberOf*RelatedInstances.  ``parents_when_absent``: fills
    Study/Series into answers to a flat query that left them out.  ``unretrievable``:
    objects C-FIND sees but no retrieve ever sends.
    """

    objects: tuple[Obj, ...]
    truth: Capabilities
    counts: bool = True
    parents_when_absent: bool = True
    unretrievable: frozenset[str] = frozenset()
    silent_lists: bool = False
    """Lists the server cannot serve get "success, nothing" instead of a refusal."""

    def find(self, step: Find) -> list[Match] | Refusal:
        if not self._root_ok(step.root):
            return "no presentation context for this information model"
        keys = dict(step.keys)
        pid = keys.get("PatientID", "")
        pool = [o for o in self.objects if not pid or o.patient == pid]
        if step.level is Level.IMAGE:
            return self._find_images(step, keys, pool)
        if step.level is Level.SERIES:
            return self._find_series(keys, pool)
        return self._find_studies(pool)

    def retrieve(self, step: Retrieve) -> tuple[list[InstanceKey], int, str | None]:
        t = self.truth
        move = step.method is Method.MOVE
        if not self._root_ok(step.root) or (t.c_move if move else t.c_get) is not True:
            return [], 0, "0x0122 SOP class not supported"
        if step.level is Level.SERIES:
            hits = [o for o in self.objects if (o.study, o.series) == (step.study, step.series)]
        else:
            if t.image_level is False:
                return [], 0, "0xA900 identifier does not match SOP class"
            blind = step.study is None or step.series is None
            if blind and (t.move_without_parents if move else t.get_without_parents) is not True:
                return [], 0, None  # "success, 0 sub-operations": sends nothing
            if len(step.sop_uids) > 1 and (t.uid_list_move if move else t.uid_list_get) is not True:
                if self.silent_lists:
                    return [], 0, None
                return [], 0, "0xA801 move destination unknown" if move else "0xC413 failed"
            hits = [
                o
                for o in self.objects
                if o.sop in step.sop_uids
                and step.study in (None, o.study)
                and step.series in (None, o.series)
            ]
        sent = [o.key for o in hits if o.sop not in self.unretrievable]
        return sent, len(sent), None

    def _root_ok(self, root: Root) -> bool:
        flag = self.truth.study_root if root is Root.STUDY else self.truth.patient_root
        return flag is True

    def _find_images(self, step: Find, keys: dict[str, str], pool: list[Obj]) -> list[Match] | str:
        t = self.truth
        if t.image_level is False:
            return "0xA900 IMAGE level not supported"
        study, series = keys.get("StudyInstanceUID"), keys.get("SeriesInstanceUID")
        if (study is None or series is None) and t.image_query_without_parents is not True:
            return "0xA900 missing unique key"
        in_study = bool(study) and series == "" and t.study_image_query is True
        if "" in (study, series) and t.image_query_with_empty_parents is not True and not in_study:
            return "0xA900 universal matching on a unique key"
        uids = [u for u in keys.get("SOPInstanceUID", "").split("\\") if u]
        if len(uids) > 1 and t.uid_list_find is not True:
            return [] if self.silent_lists else "0xC000 unable to process"
        hits = [
            o
            for o in pool
            if (not study or o.study == study)
            and (not series or o.series == series)
            and (not uids or o.sop in uids)
        ]
        parents = study is not None or self.parents_when_absent
        return [
            Match(
                study=o.study if parents else None,
                series=o.series if parents else None,
                sop=o.sop,
                sop_class=o.sop_class if "SOPClassUID" in step.return_keys else None,
            )
            for o in hits
        ]

    def _find_series(self, keys: dict[str, str], pool: list[Obj]) -> list[Match] | str:
        study = keys.get("StudyInstanceUID", "")
        if not study and self.truth.series_query_without_study is not True:
            return "0xA900 missing unique key"
        modality, series = keys.get("Modality", ""), keys.get("SeriesInstanceUID", "")
        hits = [
            o
            for o in pool
            if (not study or o.study == study)
            and (not modality or o.modality == modality)
            and (not series or o.series == series)
        ]
        if self.truth.duplicate_series_rows:
            return [self._series_row(o, None) for o in hits]
        rows: dict[str, Match] = {}
        for o in hits:
            size = sum(1 for x in self.objects if x.series == o.series)
            rows.setdefault(o.series, self._series_row(o, size if self.counts else None))
        return list(rows.values())

    def _series_row(self, o: Obj, count: int | None) -> Match:
        return Match(
            study=o.study, series=o.series, modality=o.modality, count=count, number=o.number
        )

    def _find_studies(self, pool: list[Obj]) -> list[Match]:
        rows: dict[str, Match] = {}
        for o in pool:
            inside = [x for x in self.objects if x.study == o.study]
            rows.setdefault(
                o.study,
                Match(
                    study=o.study,
                    patient_id=o.patient,
                    date=o.date,
                    modalities=tuple(sorted({x.modality for x in inside})),
                    count=len(inside) if self.counts else None,
                ),
            )
        return list(rows.values())


@dataclass
class Run:
    """What a simulated resolve did: the last plan, the last state, every step sent."""

    plan: Plan
    state: State
    steps: list[Step] = field(default_factory=list)
    phases: list[tuple[Step, ...]] = field(default_factory=list)

    @property
    def finds(self) -> list[Find]:
        return [s for s in self.steps if isinstance(s, Find)]

    @property
    def retrieves(self) -> list[Retrieve]:
        return [s for s in self.steps if isinstance(s, Retrieve)]

    def missing(self) -> dict[str, str]:
        return {m.sop_uid: m.reason for m in self.plan.missing}


def simulate(
    server: ServerModel,
    wanted: Iterable[Wanted],
    *,
    believed: Capabilities | None = None,
    held: Iterable[str] = (),
    options: PlanOptions | None = None,
    limit: int = 60,
    words: Words = DIMSE,
) -> Run:
    """Plan, run against ``server``, record, repeat; ``believed`` is what the probe said."""
    known = believed if believed is not None else server.truth
    state = State.start(wanted, known, held=held, words=words)
    run = Run(plan(state, options), state)
    for _ in range(limit):
        current = plan(state, options)
        if current.done:
            run.plan, run.state = current, state
            return run
        run.phases.append(current.steps)
        for step in current.steps:
            run.steps.append(step)
            state = record(server, state, step)
    raise AssertionError(f"no convergence after {limit} phases: {run.phases[-1]}")


def record(server: ServerModel, state: State, step: Step) -> State:
    if isinstance(step, Find):
        answer = server.find(step)
        if isinstance(answer, str):
            return state.with_find_failed(step, answer)
        return state.with_found(step, answer)
    arrived, completed, reason = server.retrieve(step)
    return state.with_retrieved(step, arrived, completed=completed, reason=reason)


def answered(server: ServerModel, find: Find) -> list[Match]:
    """The server's answer to ``find``, which must not be a refusal."""
    answer = server.find(find)
    assert not isinstance(answer, str), answer
    return answer


def want(uid: str, cls: str | None = RS, **hints: str) -> Wanted:
    return Wanted(sop_uid=uid, sop_class=cls, **hints)


def contour_images(n: int) -> list[Wanted]:
    return [want(ct_uid(CT_A, i), CT, study=STUDY_A, series=CT_A) for i in range(n)]


def study_size(study: str) -> int:
    return sum(1 for o in archive() if o.study == study)


def key_of(step: Step, keyword: str) -> str | None:
    return dict(step.identifier).get(keyword)


# -- rung 1: held locally ----------------------------------------------------------------


def test_held_locally_needs_nothing() -> None:
    state = State.start([want(SS1), want(PLAN1, PLAN)], ORTHANC, held=[SS1, PLAN1])
    result = plan(state)
    assert result.done
    assert result.held == {SS1, PLAN1}
    assert result.missing == ()
    assert result.estimated_round_trips == 0


def test_only_what_is_not_held_is_asked_for() -> None:
    run = simulate(ServerModel(archive(), ORTHANC), [want(SS1), want(SS2)], held=[SS1])
    assert run.finds[0].sop_uids == (SS2,)
    assert run.state.retrieved == {SS2}
    assert run.plan.held == {SS1}


# -- rung 2: flat IMAGE query by SOP Instance UID ----------------------------------------


def test_orthanc_one_find_with_uid_list_then_one_retrieve_per_series() -> None:
    wanted = [want(SS1), want(PLAN1, PLAN), *(want(ct_uid(CT_A, i), CT) for i in range(3))]
    run = simulate(ServerModel(archive(), ORTHANC), wanted)
    (find,) = run.finds
    assert find.level is Level.IMAGE
    assert find.scope.kind is ScopeKind.SERVER
    assert find.parents is ParentKeys.EMPTY
    assert key_of(find, "StudyInstanceUID") == ""
    assert set(find.sop_uids) == {w.sop_uid for w in wanted}
    assert "ReferencedFrameOfReferenceSequence" in find.return_keys  # the chain via C-FIND
    assert "ReferencedStructureSetSequence" in find.return_keys
    assert sorted(len(r.sop_uids) for r in run.retrieves) == [1, 1, 3]
    assert all(r.level is Level.IMAGE and r.method is Method.GET for r in run.retrieves)
    assert run.state.retrieved == {w.sop_uid for w in wanted}
    assert (run.state.round_trips, run.state.objects_moved) == (4, 5)
    assert run.state.discarded == frozenset()


def test_flat_query_without_lists_asks_one_uid_at_a_time() -> None:
    wanted = [want(SS1), want(SS3), want(PLAN1, PLAN)]
    run = simulate(ServerModel(archive(), QRSCP), wanted)
    assert [f.sop_uids for f in run.finds] == [(SS1,), (SS3,), (PLAN1,)]
    assert all(f.scope.kind is ScopeKind.SERVER for f in run.finds)
    assert all(len(r.sop_uids) == 1 for r in run.retrieves)
    assert run.state.retrieved == {SS1, SS3, PLAN1}


def test_flat_query_without_parents_when_empty_parents_are_refused() -> None:
    caps = dataclasses.replace(ORTHANC, image_query_with_empty_parents=False)
    run = simulate(ServerModel(archive(), caps), [want(SS1)])
    assert run.finds[0].parents is ParentKeys.ABSENT
    assert key_of(run.finds[0], "StudyInstanceUID") is None
    assert run.state.retrieved == {SS1}


def test_sequence_return_keys_only_where_the_server_returns_them() -> None:
    orthanc = plan(State.start([want(PLAN1, PLAN)], ORTHANC)).finds[0]
    assert orthanc.return_keys == (
        "SOPClassUID",
        "ReferencedDoseSequence",
        "ReferencedStructureSetSequence",
    )
    dcmtk = plan(State.start([want(PLAN1, PLAN)], DCMQRSCP)).finds[0]
    assert dcmtk.return_keys == ("SOPClassUID",)
    off = plan(State.start([want(PLAN1, PLAN)], ORTHANC), PlanOptions(sequence_return_keys=False))
    assert off.finds[0].return_keys == ("SOPClassUID",)


# -- rung 3: hints give study and series -------------------------------------------------


def test_strict_server_with_full_hints_asks_inside_the_series() -> None:
    wanted = [*contour_images(3), want(SS1, study=STUDY_A, series=RS_A1)]
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), wanted)
    assert len(run.phases) == 2  # locate, then retrieve
    ct_find, rs_find = run.finds
    assert ct_find.scope.kind is ScopeKind.SERIES
    assert ct_find.identifier[:3] == (
        ("QueryRetrieveLevel", "IMAGE"),
        ("StudyInstanceUID", STUDY_A),
        ("SeriesInstanceUID", CT_A),
    )
    assert len(ct_find.sop_uids) == 3
    assert rs_find.sop_uids == (SS1,)
    assert [len(r.sop_uids) for r in run.retrieves] == [3, 1]
    assert run.state.retrieved == {w.sop_uid for w in wanted}


DIMSE_HINTED = PlanOptions(retrieve_hinted=True, hinted_singles=False)


def test_dimse_hinted_objects_come_in_one_list_from_their_series_without_a_search() -> None:
    """What ``fetch`` sends a DIMSE server: objects with a study and series hint are
    retrieved in a UID list straight from that series (a list that is refused or brings
    nothing costs one request); no C-FIND first."""
    for truth in (DCMQRSCP, DCMQRSCP_STRICT):
        run = simulate(ServerModel(archive(), truth), contour_images(5), options=DIMSE_HINTED)
        assert run.finds == []
        (retrieve,) = run.retrieves
        assert (retrieve.level, len(retrieve.sop_uids)) == (Level.IMAGE, 5)
        assert (retrieve.study, retrieve.series) == (STUDY_A, CT_A)
        assert "straight from the series their referrer names" in retrieve.why
        assert run.state.retrieved == {w.sop_uid for w in contour_images(5)}


def test_dimse_hinted_singles_are_not_sent_unlocated_where_lists_fail() -> None:
    """Lists measured not to work (pynetdicom's qrscp): the hinted objects are located
    first, as without the option, so that the whole series can be weighed against singles."""
    hinted = simulate(ServerModel(archive(), QRSCP), contour_images(5), options=DIMSE_HINTED)
    plain = simulate(ServerModel(archive(), QRSCP), contour_images(5))
    assert [type(s).__name__ for s in hinted.steps] == [type(s).__name__ for s in plain.steps]
    assert hinted.finds


def test_dimse_a_hinted_list_from_the_wrong_series_is_followed_by_a_search() -> None:
    wrong = [dataclasses.replace(w, series=CT_B) for w in contour_images(3)]
    run = simulate(ServerModel(archive(), DCMQRSCP), wrong, options=DIMSE_HINTED)
    first = run.retrieves[0]
    assert first.series == CT_B and first.sop_uids == tuple(w.sop_uid for w in wrong)
    assert run.finds, "the objects that did not come are searched for"
    assert run.state.retrieved == {w.sop_uid for w in wrong}


def test_no_lists_and_full_hints_list_the_series_once() -> None:
    run = simulate(ServerModel(archive(), QRSCP), contour_images(5))
    (find,) = run.finds
    assert find.scope.kind is ScopeKind.SERIES
    assert key_of(find, "SOPInstanceUID") == ""  # the whole series, in one request
    assert len(run.retrieves) == 5  # one per UID: bytes before round trips
    assert run.state.objects_moved == 5


def test_every_instance_of_a_series_wanted_moves_the_series_in_one_request() -> None:
    run = simulate(ServerModel(archive(), QRSCP), contour_images(100))
    (retrieve,) = run.retrieves
    assert (retrieve.level, retrieve.expected) == (Level.SERIES, 100)
    assert run.state.round_trips == 2
    assert run.state.objects_moved == 100


# -- rung 4: hint gives the study --------------------------------------------------------


def test_study_hint_lists_series_by_modality_then_searches_smallest_first() -> None:
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), [want(SS2, study=STUDY_A)])
    listing, first, second = run.finds
    assert listing.level is Level.SERIES
    assert key_of(listing, "Modality") == "RTSTRUCT"
    assert key_of(listing, "StudyInstanceUID") == STUDY_A
    assert (first.scope.series, second.scope.series) == (RS_A2, RS_A1)  # 1 instance, then 2
    assert run.state.retrieved == {SS2}
    assert run.state.located[SS2] == InstanceKey(STUDY_A, RS_A1, SS2)


def test_several_modalities_in_one_study_share_one_unfiltered_listing() -> None:
    wanted = [want(SS1, study=STUDY_A), want(PLAN1, PLAN, study=STUDY_A)]
    first = plan(State.start(wanted, DCMQRSCP_STRICT))
    (listing,) = first.finds
    assert key_of(listing, "Modality") == ""
    assert listing.resolves == {SS1, PLAN1}
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), wanted)
    assert run.state.retrieved == {SS1, PLAN1}


def test_source_study_is_the_first_guess_without_hints() -> None:
    run = simulate(
        ServerModel(archive(), DCMQRSCP_STRICT),
        [want(SS_OLD, source_study=STUDY_B, patient_id=PID)],
    )
    assert key_of(run.finds[0], "StudyInstanceUID") == STUDY_B
    assert not any(f.level is Level.STUDY for f in run.finds)  # found before rung 5
    assert run.state.retrieved == {SS_OLD}


# -- rung 5: nothing known but the Patient ID --------------------------------------------


def test_patient_id_lists_studies_then_searches_newest_first() -> None:
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), [want(SS_OLD, patient_id=PID)])
    studies = run.finds[0]
    assert studies.level is Level.STUDY
    assert studies.identifier == (
        ("QueryRetrieveLevel", "STUDY"),
        ("PatientID", PID),
        ("StudyInstanceUID", ""),
        ("StudyDate", ""),
        ("StudyTime", ""),
        ("ModalitiesInStudy", ""),
        ("NumberOfStudyRelatedInstances", ""),
    )
    listed = [key_of(f, "StudyInstanceUID") for f in run.finds if f.level is Level.SERIES]
    assert listed == [STUDY_A, STUDY_B]  # newest first
    assert run.state.retrieved == {SS_OLD}
    assert all(key_of(f, "StudyInstanceUID") != STUDY_C for f in run.finds)


def test_studies_that_lack_the_modality_are_searched_last() -> None:
    no_rtstruct_in_a = tuple(o for o in archive() if o.sop not in (SS1, SS2, SS3))
    run = simulate(ServerModel(no_rtstruct_in_a, DCMQRSCP_STRICT), [want(SS_OLD, patient_id=PID)])
    listed = [key_of(f, "StudyInstanceUID") for f in run.finds if f.level is Level.SERIES]
    assert listed == [STUDY_B]  # study A's ModalitiesInStudy has no RTSTRUCT: not reached
    assert run.state.retrieved == {SS_OLD}


# -- rung 6: IMAGE level refused ---------------------------------------------------------


def test_image_level_refused_retrieves_smallest_candidate_series_and_keeps_what_was_asked() -> None:
    caps = dataclasses.replace(DCMQRSCP_STRICT, image_level=False)
    run = simulate(ServerModel(archive(), caps), [want(SS2, study=STUDY_A)])
    assert [f.level for f in run.finds] == [Level.SERIES]
    first, second = run.retrieves
    assert (first.level, first.series, first.expected, first.keep) == (
        Level.SERIES,
        RS_A2,
        1,
        frozenset({SS2}),
    )
    assert (second.series, second.expected) == (RS_A1, 2)
    assert run.state.retrieved == {SS2}
    assert run.state.discarded == {SS3, SS1}  # moved, not asked: reported
    assert run.state.objects_moved == 3


def test_series_fallback_counts_the_whole_series_in_the_estimate() -> None:
    caps = dataclasses.replace(DCMQRSCP_STRICT, image_level=False)
    state = State.start([want(ct_uid(CT_A, 7), CT, study=STUDY_A)], caps)
    listing = plan(state).finds[0]
    state = state.with_found(listing, answered(ServerModel(archive(), caps), listing))
    phase = plan(state)
    (retrieve,) = phase.retrieves
    assert retrieve.series == SCOUT_A  # 2 instances: cheapest first look
    assert phase.estimated_objects_moved == 2
    assert phase.estimated_round_trips == 1


def test_series_fallback_limit_declares_missing_with_reason() -> None:
    caps = dataclasses.replace(DCMQRSCP_STRICT, image_level=False)
    options = PlanOptions(series_fallback_limit=10)
    run = simulate(
        ServerModel(archive(), caps), [want(ct_uid(CT_A, 7), CT, study=STUDY_A)], options=options
    )
    reason = run.missing()[ct_uid(CT_A, 7)]
    assert f"series {CT_A} not fetched whole: 100 instances" in reason
    assert run.state.objects_moved == 2  # only the scout was worth a look


def test_learns_image_level_refusal_when_unmeasured() -> None:
    truth = dataclasses.replace(DCMQRSCP_STRICT, image_level=False)
    believed = dataclasses.replace(DCMQRSCP_STRICT, image_level=None)
    run = simulate(ServerModel(archive(), truth), [want(SS3, study=STUDY_A)], believed=believed)
    assert run.state.capabilities.image_level is False
    assert run.state.retrieved == {SS3}
    assert run.retrieves[-1].level is Level.SERIES


# -- UID lists ---------------------------------------------------------------------------


def test_split_uids_by_count_and_by_characters() -> None:
    short = [f"1.2.{n}" for n in range(2500)]
    assert [len(c) for c in split_uids(short, max_count=1000, max_chars=32768)] == [1000, 1000, 500]
    long = ["1." + "9" * 62] * 1200  # 64 characters, the longest UID
    chunks = list(split_uids(long, max_count=1000, max_chars=32768))
    assert all(len("\\".join(c)) <= 32768 for c in chunks)
    assert sum(len(c) for c in chunks) == 1200
    assert len(chunks[0]) == 504  # 504 * 65 - 1 = 32759
    assert list(split_uids([], max_count=10, max_chars=10)) == []


def test_plan_splits_long_lists() -> None:
    wanted = [want(f"1.2.3.{n}", CT) for n in range(2100)]
    finds = plan(State.start(wanted, ORTHANC)).finds
    assert [len(f.sop_uids) for f in finds] == [1000, 1000, 100]
    assert all(len(dict(f.keys)["SOPInstanceUID"]) < 32 * 1024 for f in finds)
    capped = plan(State.start(wanted, dataclasses.replace(ORTHANC, max_uid_list=500))).finds
    assert len(capped) == 5


def test_refused_uid_list_is_learnt_and_asked_another_way() -> None:
    truth = dataclasses.replace(DCMQRSCP_STRICT, uid_list_find=False)
    run = simulate(ServerModel(archive(), truth), contour_images(4), believed=DCMQRSCP_STRICT)
    assert len(run.finds[0].sop_uids) == 4  # believed lists work: refused
    assert key_of(run.finds[1], "SOPInstanceUID") == ""  # then the series listing
    assert run.state.capabilities.uid_list_find is False
    assert run.state.retrieved == {w.sop_uid for w in contour_images(4)}


def test_retrieve_list_that_brings_nothing_is_learnt() -> None:
    truth = dataclasses.replace(DCMQRSCP, uid_list_get=False, uid_list_move=False)
    run = simulate(ServerModel(archive(), truth), contour_images(3), believed=DCMQRSCP)
    assert run.retrieves[0].listed
    assert run.state.capabilities.uid_list_get is False
    assert run.state.retrieved == {w.sop_uid for w in contour_images(3)}
    assert run.state.objects_moved == 3


# -- missing objects ---------------------------------------------------------------------


def test_missing_reason_names_the_uid_and_what_was_searched() -> None:
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), [want(GHOST, study=STUDY_A)])
    reason = run.missing()[GHOST]
    assert reason.startswith(f"SOP Instance {GHOST} not found in study {STUDY_A}")
    assert "(searched 2 RTSTRUCT series)" in reason
    assert "no Patient ID" in reason
    assert run.state.objects_moved == 0


def test_missing_after_the_patients_studies_names_each_study() -> None:
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), [want(GHOST, PLAN, patient_id=PID)])
    reason = run.missing()[GHOST]
    assert f"study {STUDY_A} (searched 1 RTPLAN series)" in reason
    assert f"study {STUDY_B} (no RTPLAN series)" in reason


def test_missing_reason_counts_other_series_apart() -> None:
    wanted = [*contour_images(2), want(GHOST, DOSE, study=STUDY_A)]
    run = simulate(ServerModel(archive(), QRSCP), wanted, believed=Capabilities())
    reason = run.missing()[GHOST]
    assert f"study {STUDY_A} (searched 1 RTDOSE series; 1 other series searched)" in reason


def test_missing_on_a_server_that_answers_flat_queries_is_decided_at_once() -> None:
    run = simulate(ServerModel(archive(), ORTHANC), [want(GHOST, study=STUDY_A), want(SS1)])
    assert "is not on the server" in run.missing()[GHOST]
    assert len(run.finds) == 1  # the one flat query answers for both
    assert run.state.retrieved == {SS1}


def test_nothing_to_search_is_said_plainly() -> None:
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), [want(SS1)])
    reason = run.missing()[SS1]
    assert "nothing could be searched" in reason
    assert "no location hint" in reason
    assert run.steps == []


def test_refused_listing_is_noted_in_the_reason() -> None:
    server = ServerModel(archive(), DCMQRSCP_STRICT)
    state = State.start([want(GHOST, study=STUDY_A)], DCMQRSCP_STRICT)
    listing = plan(state).finds[0]
    state = state.with_find_failed(listing, "0xC001 out of resources")
    final = simulate(server, [])  # sanity: an empty run is done at once
    assert final.plan.done
    result = plan(state)
    assert result.done
    assert "0xC001 out of resources" in result.missing[0].reason


def test_located_but_never_sent_tries_every_way_then_says_so() -> None:
    server = ServerModel(archive(), DCMQRSCP_STRICT, unretrievable=frozenset({SS1}))
    run = simulate(server, [want(SS1, study=STUDY_A, series=RS_A1)])
    reason = run.missing()[SS1]
    assert f"is in series {RS_A1} of study {STUDY_A}, but the server did not send it" in reason
    tried = [(r.method, r.level) for r in run.retrieves]
    assert tried == [
        (Method.GET, Level.IMAGE),
        (Method.MOVE, Level.IMAGE),
        (Method.GET, Level.SERIES),  # came without it: the object is the trouble, stop
    ]
    assert run.state.discarded == {SS2}  # the series fallback brought its neighbour


def test_no_series_fallback_once_image_level_retrieves_have_worked() -> None:
    wanted = [want(SS1, study=STUDY_A, series=RS_A1), want(SS3, study=STUDY_A, series=RS_A2)]
    server = ServerModel(archive(), DCMQRSCP_STRICT, unretrievable=frozenset({SS1}))
    run = simulate(server, wanted)
    assert all(r.level is Level.IMAGE for r in run.retrieves)
    assert run.state.retrieved == {SS3}
    assert run.state.discarded == frozenset()
    assert "did not send it" in run.missing()[SS1]


# -- "success, 0 sub-operations" ---------------------------------------------------------


def test_success_with_nothing_sent_is_caught_and_learnt() -> None:
    believed = dataclasses.replace(
        DCMQRSCP, image_query_with_empty_parents=False, image_query_without_parents=True,
        move_without_parents=True,
    )  # fmt: skip
    truth = dataclasses.replace(believed, move_without_parents=False)
    server = ServerModel(archive(), truth, parents_when_absent=False)
    options = PlanOptions(retrieve="move")
    run = simulate(
        server, [want(SS1, study=STUDY_A, series=RS_A1)], believed=believed, options=options
    )
    blind = run.retrieves[0]
    assert (blind.study, blind.series, blind.sop_uids) == (None, None, (SS1,))
    assert run.state.capabilities.move_without_parents is False
    assert run.retrieves[-1].identifier[1:3] == (
        ("StudyInstanceUID", STUDY_A),
        ("SeriesInstanceUID", RS_A1),
    )
    assert run.state.retrieved == {SS1}
    assert "server reported" not in run.state.attempts[SS1][0].note  # 0 reported, 0 arrived


def test_arrivals_not_completed_counts_are_the_truth() -> None:
    state = State.start([want(SS1), want(SS2)], ORTHANC)
    step = Retrieve(Method.MOVE, Level.IMAGE, STUDY_A, RS_A1, (SS1, SS2), 2, "test")
    after = state.with_retrieved(step, [InstanceKey(STUDY_A, RS_A1, SS1)], completed=2)
    assert after.retrieved == {SS1}
    assert "server reported 2 completed sub-operations" in after.attempts[SS2][0].note
    assert after.capabilities == ORTHANC  # something arrived: the list works


# -- duplicates, capabilities ------------------------------------------------------------


def test_duplicate_series_rows_are_merged_and_counted() -> None:
    hierarchical_qrscp = dataclasses.replace(QRSCP, image_query_with_empty_parents=False)
    server = ServerModel(archive(), hierarchical_qrscp)
    run = simulate(server, [want(SS2, study=STUDY_A)])
    rows = run.state.series_rows[(STUDY_A, "RTSTRUCT")]
    assert sorted((r.series, r.count) for r in rows) == sorted([(RS_A1, 2), (RS_A2, 1)])
    image_finds = [f for f in run.finds if f.level is Level.IMAGE]
    assert [f.scope.series for f in image_finds] == [RS_A2, RS_A1]
    assert run.state.retrieved == {SS2}


@pytest.mark.parametrize(
    ("name", "caps", "max_trips"),
    [("orthanc", ORTHANC, 4), ("dcmqrscp", DCMQRSCP, 4), ("strict", DCMQRSCP_STRICT, 8),
     ("qrscp", QRSCP, 10)],
)  # fmt: skip
def test_each_measured_server_gets_exactly_what_was_asked(
    name: str, caps: Capabilities, max_trips: int
) -> None:
    wanted = [
        *contour_images(3),
        want(SS1, study=STUDY_A, series=RS_A1),
        want(PLAN1, PLAN, study=STUDY_A),
        want(GHOST, DOSE, study=STUDY_A),
    ]
    run = simulate(ServerModel(archive(), caps), wanted)
    assert run.state.retrieved == {w.sop_uid for w in wanted} - {GHOST}, name
    assert set(run.missing()) == {GHOST}
    assert run.state.objects_moved == 5
    assert run.state.discarded == frozenset()
    assert run.state.round_trips <= max_trips
    assert run.state.objects_moved < study_size(STUDY_A) / 20


def test_unknown_capabilities_are_hierarchical_but_bet_on_lists() -> None:
    wanted = [*contour_images(3), want(SS1, study=STUDY_A, series=RS_A1)]
    first = plan(State.start(wanted, Capabilities.unknown()))
    conservative = plan(State.start(wanted, Capabilities.conservative()))
    assert all(f.scope.kind is ScopeKind.SERIES for f in first.finds)
    assert len(first.finds[0].sop_uids) == 3  # a list of the 3 first
    assert "uid_list_find not measured" in first.finds[0].why
    assert key_of(conservative.finds[0], "SOPInstanceUID") == ""  # lists measured absent
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), wanted, believed=Capabilities())
    assert len(run.phases[1]) == 1  # unmeasured C-MOVE: one retrieve first, then the rest
    (first_retrieve,) = run.phases[1]
    assert isinstance(first_retrieve, Retrieve) and first_retrieve.method is Method.GET
    assert sorted(r.listed for r in run.retrieves) == [False, True]  # the 3 listed, SS1 alone
    assert run.state.retrieved == {w.sop_uid for w in wanted}
    learnt = run.state.capabilities
    assert (learnt.uid_list_find, learnt.uid_list_get, learnt.c_get) == (True, True, True)


def test_unmeasured_method_that_sends_nothing_is_dropped_for_the_other() -> None:
    truth = dataclasses.replace(DCMQRSCP_STRICT, c_get=False)
    believed = dataclasses.replace(Capabilities.conservative(), c_move=None, c_get=None)
    run = simulate(ServerModel(archive(), truth), contour_images(4), believed=believed)
    assert run.state.capabilities.c_get is False  # after two objects, not one
    assert [r.method for r in run.retrieves].count(Method.GET) == 2  # bet on first
    assert run.state.capabilities.c_move is True
    assert run.state.retrieved == {w.sop_uid for w in contour_images(4)}


def test_one_unretrievable_object_does_not_condemn_an_unmeasured_method() -> None:
    wanted = contour_images(4)
    server = ServerModel(archive(), DCMQRSCP_STRICT, unretrievable=frozenset({wanted[0].sop_uid}))
    believed = dataclasses.replace(Capabilities.conservative(), c_move=None, c_get=None)
    run = simulate(server, wanted, believed=believed)
    assert run.state.capabilities.c_get is True  # it brought the three others
    assert run.state.retrieved == {w.sop_uid for w in wanted[1:]}
    assert "did not send it" in run.missing()[wanted[0].sop_uid]


def test_retrieve_preference() -> None:
    wanted = [want(SS1)]
    cases: tuple[tuple[Preference, Method], ...] = (
        ("move", Method.MOVE),
        ("get", Method.GET),
        ("auto", Method.GET),
    )
    for pref, expected in cases:
        run = simulate(ServerModel(archive(), ORTHANC), wanted, options=PlanOptions(retrieve=pref))
        assert {r.method for r in run.retrieves} == {expected}, pref
    no_get = dataclasses.replace(ORTHANC, c_get=False)
    run = simulate(ServerModel(archive(), no_get), wanted, options=PlanOptions(retrieve="get"))
    assert {r.method for r in run.retrieves} == {Method.MOVE}


def test_no_retrieve_service_at_all() -> None:
    caps = dataclasses.replace(ORTHANC, c_get=False, c_move=False)
    run = simulate(ServerModel(archive(), caps), [want(SS1)])
    assert "neither C-MOVE nor C-GET" in run.missing()[SS1]


def test_capabilities_json_round_trip() -> None:
    for caps in (ORTHANC, QRSCP, Capabilities(), dataclasses.replace(ORTHANC, max_uid_list=250)):
        assert Capabilities.from_json(caps.to_json()) == caps
    assert Capabilities.from_json('{"c_get": true, "from_the_future": 1}') == Capabilities(
        c_get=True
    )
    for bad in ('{"c_get": "yes"}', '{"max_uid_list": 0}', "[1]", "not json", '{"version": 99}'):
        with pytest.raises(UsageError):
            Capabilities.from_json(bad)


def test_conservative_is_hierarchical_only() -> None:
    caps = Capabilities.conservative()
    assert caps.flat_image_query is None
    assert not caps.lists() and not caps.lists(Method.MOVE) and not caps.lists(Method.GET)
    assert caps.query_root is Root.STUDY
    assert Capabilities().flat_image_query is None
    assert Capabilities().image_level_usable


# -- other paths -------------------------------------------------------------------------


def test_patient_root_only_server_sends_patient_id() -> None:
    caps = dataclasses.replace(DCMQRSCP_STRICT, study_root=False, patient_root=True)
    run = simulate(
        ServerModel(archive(), caps), [want(SS1, study=STUDY_A, series=RS_A1, patient_id=PID)]
    )
    assert all(s.root is Root.PATIENT for s in run.steps)
    assert all(s.identifier[1] == ("PatientID", PID) for s in run.steps)
    assert run.state.retrieved == {SS1}


def test_no_query_model_at_all() -> None:
    caps = dataclasses.replace(ORTHANC, study_root=False, patient_root=False)
    result = plan(State.start([want(SS1)], caps))
    assert result.done
    assert "neither Study Root nor Patient Root" in result.missing[0].reason


def test_series_hint_without_study_is_looked_up() -> None:
    caps = dataclasses.replace(DCMQRSCP, image_query_with_empty_parents=False)
    run = simulate(ServerModel(archive(), caps), [want(SS2, series=RS_A1)])
    lookup = run.finds[0]
    assert lookup.scope.kind is ScopeKind.SERIES_LOOKUP
    assert dict(lookup.keys) == {"StudyInstanceUID": "", "SeriesInstanceUID": RS_A1}
    assert run.finds[1].scope.series == RS_A1
    assert run.state.retrieved == {SS2}


def test_retrieves_wait_until_everything_is_located() -> None:
    wanted = [want(SS1, study=STUDY_A, series=RS_A1), want(SS3, study=STUDY_A)]
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), wanted)
    kinds = [{type(s).__name__ for s in phase} for phase in run.phases]
    assert kinds[-1] == {"Retrieve"}
    assert all(k == {"Find"} for k in kinds[:-1])
    early = simulate(
        ServerModel(archive(), DCMQRSCP_STRICT), wanted, options=PlanOptions(retrieve_early=True)
    )
    assert {type(s).__name__ for s in early.phases[1]} == {"Find", "Retrieve"}


def test_the_closure_grows_between_phases() -> None:
    server = ServerModel(archive(), ORTHANC)
    state = State.start([want(PLAN1, PLAN)], ORTHANC)
    find = plan(state).finds[0]
    state = state.with_found(find, answered(server, find))
    # the resolve loop reads ReferencedStructureSetSequence from the answer:
    state = state.with_wanted([want(SS1, study=STUDY_A)])
    nxt = plan(state)
    assert [f.sop_uids for f in nxt.finds] == [(SS1,)]
    assert nxt.deferred == {PLAN1}  # located, retrieved with the rest


def test_identifiers_hold_standard_keys_only() -> None:
    runs = [
        simulate(ServerModel(archive(), caps), [want(SS_OLD, patient_id=PID), *contour_images(2)])
        for caps in (ORTHANC, DCMQRSCP_STRICT, QRSCP, Capabilities())
    ]
    for run in runs:
        for step in run.steps:
            for keyword, _ in step.identifier:
                tag = tag_for_keyword(keyword)
                assert tag is not None, keyword
                assert (tag >> 16) % 2 == 0, keyword  # no private groups


# -- small values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "modality"),
    [
        (sop.RTStructureSetStorage, "RTSTRUCT"),
        (sop.RTPlanStorage, "RTPLAN"),
        (sop.RTIonPlanStorage, "RTPLAN"),
        (sop.RTDoseStorage, "RTDOSE"),
        (sop.CTImageStorage, "CT"),
        (sop.EnhancedCTImageStorage, "CT"),
        (sop.MRImageStorage, "MR"),
        (sop.SegmentationStorage, "SEG"),
        (sop.KeyObjectSelectionDocumentStorage, "KO"),
        (sop.ComprehensiveSRStorage, "SR"),
        (sop.BasicTextSRStorage, "SR"),
        (sop.GrayscaleSoftcopyPresentationStateStorage, "PR"),
        (sop.SpatialRegistrationStorage, "REG"),
        (sop.DeformableSpatialRegistrationStorage, "REG"),
        (sop.RTImageStorage, "RTIMAGE"),
        (sop.RTBeamsTreatmentRecordStorage, "RTRECORD"),
        (sop.SecondaryCaptureImageStorage, None),
        ("1.2.3.4", None),
        (None, None),
    ],
)
def test_modality_implied_by_sop_class(cls: str | None, modality: str | None) -> None:
    assert modality_for(cls) == modality


def test_wanted_from_reference_and_merge() -> None:
    ref = Reference(
        source="1.9",
        target=SS1,
        target_class=RS,
        kind=Kind.STRUCTURE_SET,
        path="ReferencedStructureSetSequence[0]",
        study=STUDY_A,
    )
    wanted = Wanted.from_reference(ref, source_study=STUDY_B, patient_id=PID)
    assert (wanted.sop_uid, wanted.modality, wanted.study, wanted.source_study) == (
        SS1,
        "RTSTRUCT",
        STUDY_A,
        STUDY_B,
    )
    state = State.start([want(SS1), wanted], ORTHANC)
    assert state.wanted[SS1].study == STUDY_A  # hints merged, first wins
    study_ref = dataclasses.replace(ref, kind=Kind.STUDY, instance=False)
    with pytest.raises(UsageError, match="not a stored object"):
        Wanted.from_reference(study_ref)


def test_match_from_dataset() -> None:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = STUDY_A
    ds.SeriesInstanceUID = RS_A1
    ds.Modality = "RTSTRUCT"
    ds.NumberOfSeriesRelatedInstances = "2"
    ds.SeriesNumber = "3"
    ds.SOPInstanceUID = ""
    assert Match.from_dataset(ds) == Match(
        study=STUDY_A, series=RS_A1, modality="RTSTRUCT", count=2, number=3
    )
    study = Dataset()
    study.QueryRetrieveLevel = "STUDY"
    study.StudyInstanceUID = STUDY_B
    study.ModalitiesInStudy = ["CT", "RTSTRUCT"]
    study.StudyDate = "20230101"
    row = Match.from_dataset(study)
    assert (row.modalities, row.date, row.count) == (("CT", "RTSTRUCT"), "20230101", None)


def test_steps_are_frozen_values() -> None:
    step = plan(State.start([want(SS1)], ORTHANC)).steps[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.purpose = "other"  # type: ignore[misc]
    assert hash(step) == hash(dataclasses.replace(step))


# -- learning on the way: bets on lists, singles or the series by measured costs ---------

#: A node where each request is dear and objects flow fast (pynetdicom's qrscp, big objects).
DEAR_REQUESTS = Capabilities(request_seconds=0.1, object_seconds=0.005)
#: A node where requests are cheap and each object in bulk is slow.
CHEAP_REQUESTS = Capabilities(request_seconds=0.002, object_seconds=0.05)


def test_an_unmeasured_list_retrieve_is_tried_once_then_the_series_when_it_is_cheaper() -> None:
    wanted = contour_images(60)
    run = simulate(ServerModel(archive(), QRSCP), wanted, believed=DEAR_REQUESTS)
    listed = [r for r in run.retrieves if r.listed]
    assert len(listed) == 1 and "uid_list_get not measured" in listed[0].why
    assert len(run.retrieves) == 2  # the refused list, then the series
    whole = run.retrieves[-1]
    assert whole.level is Level.SERIES and whole.series == CT_A
    assert "60 singles ~ 6.0 s against 100 objects ~ 0.6 s" in whole.why
    assert run.state.retrieved == {w.sop_uid for w in wanted}
    assert len(run.state.discarded) == 40
    learnt = run.state.capabilities
    assert (learnt.uid_list_find, learnt.uid_list_get, learnt.c_get) == (False, False, True)


def test_singles_when_they_are_cheaper_than_the_series() -> None:
    wanted = contour_images(10)
    believed = dataclasses.replace(CHEAP_REQUESTS, c_get=True)  # no lone first retrieve
    run = simulate(ServerModel(archive(), QRSCP), wanted, believed=believed)
    singles = [r for r in run.retrieves if r.level is Level.IMAGE and not r.listed]
    assert len(singles) == 10 and run.state.discarded == frozenset()
    assert "singles ~ 0.0 s against the whole series (100 objects) ~ 5.0 s" in singles[0].why
    assert all(not r.why for r in singles[1:])  # one line per decision
    assert run.state.retrieved == {w.sop_uid for w in wanted}


def test_measured_lists_are_never_weighed_against_the_series() -> None:
    wanted = contour_images(60)
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), wanted, believed=DEAR_REQUESTS)
    assert [r.listed for r in run.retrieves] == [True]
    assert run.state.discarded == frozenset()


def test_a_list_find_that_matches_nothing_while_unmeasured_lists_the_series_instead() -> None:
    truth = dataclasses.replace(QRSCP, duplicate_series_rows=False)
    server = ServerModel(archive(), truth, silent_lists=True)
    wanted = contour_images(5)
    run = simulate(server, wanted, believed=DEAR_REQUESTS)
    first, second = run.finds[:2]
    assert len(first.sop_uids) == 5 and "trying a list" in first.why
    assert second.sop_uids == () and "uid_list_find is false" in second.why
    assert run.state.capabilities.uid_list_find is False
    assert run.state.retrieved == {w.sop_uid for w in wanted}


def test_a_list_retrieve_that_brings_nothing_while_unmeasured_is_not_retried() -> None:
    truth = dataclasses.replace(QRSCP, duplicate_series_rows=False)
    server = ServerModel(archive(), truth, silent_lists=True)
    run = simulate(server, contour_images(30), believed=CHEAP_REQUESTS)
    assert sum(1 for r in run.retrieves if r.listed) == 1
    assert run.state.capabilities.uid_list_get is False
    assert run.state.retrieved == {w.sop_uid for w in contour_images(30)}


def test_costs_from_requests_seen() -> None:
    costs = Costs.of(Capabilities(request_seconds=0.2, bytes_per_second=1e6))
    assert (costs.latency.value, costs.latency.source) == (0.2, "stored")
    assert costs.per_object.source == "derived"  # no bulk seen: bytes over the stored rate
    assert costs.per_object.value == pytest.approx(0.5)  # 500 kB assumed at 1 MB/s
    costs = costs.observed(0.01, retrieve=False)
    assert costs.latency.source == "stored"  # a C-FIND does not outvote a stored retrieve
    costs = costs.observed(0.1, retrieve=True, objects=1, size=100_000)
    costs = costs.observed(0.3, retrieve=True, objects=1, size=100_000)
    assert costs.latency.value == pytest.approx(0.2) and costs.latency.source == "measured"
    costs = costs.observed(2.2, retrieve=True, objects=100, size=10_000_000)
    assert costs.per_object.value == pytest.approx(0.02)
    assert costs.throughput.value == pytest.approx(5e6)
    assert costs.bulk_seconds(50) == pytest.approx(1.2)
    assert costs.singles_seconds(50) == pytest.approx(10.0)
    measured = costs.measured()
    assert (measured.request_seconds, measured.object_seconds) == (0.2, 0.02)
    assert measured.bytes_per_second == 5e6
    assert Costs().measured() == Capabilities()  # nothing seen: nothing to store


def test_a_cold_start_uses_find_times_then_assumptions() -> None:
    assert Costs().latency.source == "assumed"
    costs = Costs().observed(0.03, retrieve=False)
    assert (costs.latency.value, costs.latency.source) == (0.03, "measured")
    assert costs.measured().request_seconds == 0.03


def test_learnt_capabilities_never_erase_measured_ones() -> None:
    probed = dataclasses.replace(ORTHANC, request_seconds=0.01, measured_at="2026-12-01")
    learnt = Capabilities(uid_list_get=False, c_move=True, bytes_per_second=7e7)
    merged = probed.merged(learnt)
    assert merged.uid_list_get is False and merged.bytes_per_second == 7e7
    assert merged.request_seconds == 0.01 and merged.measured_at == "2026-12-01"
    assert merged.sequence_return_keys is True  # None in what was learnt: kept
    assert Capabilities().merged(probed) == probed


def _ref(path: str, target: str) -> Reference:
    return Reference(
        source=SS1,
        target=target,
        target_class=CT,
        kind=Kind.CONTOUR_IMAGE,
        path=path,
        study=STUDY_A,
        series=CT_A,
    )


def test_a_fetch_follows_the_slices_contours_lie_on_not_the_series_listing() -> None:
    listing = "ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]."
    listing += "RTReferencedSeriesSequence[0].ContourImageSequence[{}]"
    listed = [_ref(listing.format(i), ct_uid(CT_A, i)) for i in range(4)]
    contour = _ref(
        "ROIContourSequence[0].ContourSequence[0].ContourImageSequence[0]", listed[1].target
    )
    assert needed([*listed, contour]) == [contour]
    assert needed(listed) == listed  # contours that name no image: the listing is the way


def test_auto_bets_on_c_get_and_a_refused_service_is_dropped_at_once() -> None:
    wanted = [want(SS1, study=STUDY_A, series=RS_A1)]
    state = State.start(wanted, Capabilities()).with_found(
        Find(
            level=Level.IMAGE,
            keys=(("SOPInstanceUID", SS1),),
            return_keys=(),
            purpose="",
            resolves=frozenset({SS1}),
            scope=Scope(ScopeKind.SERIES, study=STUDY_A, series=RS_A1),
        ),
        [Match(sop=SS1)],
    )
    (first,) = plan(state).retrieves
    assert first.method is Method.GET  # unmeasured: the bet that needs no destination
    refused = state.with_retrieved(first, [], reason="0x0122", unsupported=True)
    assert refused.capabilities.c_get is False  # one refusal is enough: the service is absent
    (second,) = plan(refused).retrieves
    assert second.method is Method.MOVE
    moved = dataclasses.replace(Capabilities(), c_move=True)
    assert PlanOptions().methods(moved) == (Method.MOVE, Method.GET)


def test_one_object_of_a_list_teaches_lists_work_only_when_it_is_not_the_first() -> None:
    first, second = contour_images(2)
    state = State.start([first, second], Capabilities())
    listed = Retrieve(
        method=Method.GET,
        level=Level.IMAGE,
        study=STUDY_A,
        series=CT_A,
        sop_uids=(first.sop_uid, second.sop_uid),
        expected=2,
        purpose="",
    )
    key = InstanceKey(STUDY_A, CT_A, first.sop_uid)
    only_first = state.with_retrieved(listed, [key])
    assert only_first.capabilities.uid_list_get is None  # maybe the second is just absent
    key = InstanceKey(STUDY_A, CT_A, second.sop_uid)
    assert state.with_retrieved(listed, [key]).capabilities.uid_list_get is True


def test_a_list_that_found_nothing_because_the_hint_was_wrong_does_not_condemn_lists() -> None:
    wanted = [
        want(ct_uid(CT_A, i), CT, study=STUDY_A, series=SCOUT_A, patient_id=PID) for i in range(3)
    ]
    run = simulate(ServerModel(archive(), DCMQRSCP_STRICT), wanted, believed=Capabilities())
    finds = run.finds
    assert len(finds[0].sop_uids) == 3 and finds[0].scope.series == SCOUT_A  # the bet
    assert finds[1].sop_uids == () and finds[1].scope.series == SCOUT_A  # the listing
    assert run.state.retrieved == {w.sop_uid for w in wanted}
    assert run.state.capabilities.uid_list_find is True  # learnt in CT_A, not "no" from SCOUT_A


# -- a study's instances searched by SOP Instance UID (DICOMweb) ------------------------------


def test_a_study_hint_is_one_search_in_the_study_by_sop_uid_where_the_server_answers_it() -> None:
    run = simulate(ServerModel(archive(), WEB_STUDY_SEARCH), [want(SS2, study=STUDY_A)])
    (search,) = run.finds  # no series listing, no search per series
    assert search.level is Level.IMAGE and search.scope == Scope(ScopeKind.STUDY_IMAGES, STUDY_A)
    assert (key_of(search, "StudyInstanceUID"), key_of(search, "SeriesInstanceUID")) == (
        STUDY_A,
        "",
    )
    assert key_of(search, "SOPInstanceUID") == SS2
    assert run.state.located[SS2] == InstanceKey(STUDY_A, RS_A1, SS2)
    assert run.state.retrieved == {SS2}


def test_a_refused_study_search_is_learnt_and_the_study_is_walked_by_its_series() -> None:
    run = simulate(
        ServerModel(archive(), WEB_SERIES_ONLY),
        [want(SS2, study=STUDY_A)],
        believed=WEB_STUDY_SEARCH,
    )
    refused, listing, *_ = run.finds
    assert refused.scope.kind is ScopeKind.STUDY_IMAGES
    assert run.state.capabilities.study_image_query is False
    assert listing.level is Level.SERIES and key_of(listing, "Modality") == "RTSTRUCT"
    assert run.state.retrieved == {SS2}


def test_an_object_absent_from_a_searched_study_is_missing_with_that_said() -> None:
    run = simulate(ServerModel(archive(), WEB_STUDY_SEARCH), [want(GHOST, study=STUDY_A)])
    assert len(run.finds) == 1
    reason = run.missing()[GHOST]
    assert f"study {STUDY_A} (searched whole by SOP Instance UID)" in reason


def test_dimse_servers_never_get_a_study_search() -> None:
    for truth in (DCMQRSCP, DCMQRSCP_STRICT, QRSCP):
        run = simulate(ServerModel(archive(), truth), [want(SS2, study=STUDY_A)], believed=truth)
        assert all(f.scope.kind is not ScopeKind.STUDY_IMAGES for f in run.finds)


def test_listing_the_study_finds_an_object_whose_modality_has_one_series_there() -> None:
    """DICOMweb with dependents (``list_studies``): the study's series are listed, all
    modalities (the dependents' search reuses the listing), and a plan, alone of its
    modality there, is retrieved from that series at once (a GET says if it is there)."""
    options = PlanOptions(retrieve_hinted=True, list_studies=True)
    run = simulate(
        ServerModel(archive(), WEB_STUDY_SEARCH),
        [want(PLAN1, PLAN, study=STUDY_A)],
        options=options,
    )
    listing, retrieve = run.steps
    assert isinstance(listing, Find) and listing.level is Level.SERIES
    assert key_of(listing, "Modality") == ""
    assert isinstance(retrieve, Retrieve) and retrieve.sop_uids == (PLAN1,)
    assert (retrieve.study, retrieve.series) == (STUDY_A, PLAN_A)
    assert run.state.retrieved == {PLAN1}


def test_listing_the_study_searches_where_the_modality_has_several_series() -> None:
    options = PlanOptions(retrieve_hinted=True, list_studies=True)
    run = simulate(
        ServerModel(archive(), WEB_STUDY_SEARCH), [want(SS2, study=STUDY_A)], options=options
    )
    listing, *searches = run.finds
    assert listing.level is Level.SERIES and key_of(listing, "Modality") == ""
    assert all(f.scope.kind is ScopeKind.SERIES for f in searches) and searches
    assert run.state.retrieved == {SS2}


def test_a_guessed_series_that_lacks_the_object_is_searched_as_usual() -> None:
    """The one RTSTRUCT series of study B lacks the structure set named with B as its
    study: the GET brings nothing, then the study is searched and the object found missing."""
    options = PlanOptions(retrieve_hinted=True, list_studies=True)
    run = simulate(
        ServerModel(archive(), WEB_STUDY_SEARCH), [want(GHOST, study=STUDY_B)], options=options
    )
    assert run.retrieves and run.retrieves[0].sop_uids == (GHOST,)
    assert GHOST in run.missing()


def test_listing_first_on_a_server_with_relational_search_then_the_flat_search() -> None:
    """Relational search measured (a probed Orthanc), with dependents: the study's listing
    comes first (it is sent anyway); where it does not place the object alone, one search
    across the server does."""
    web = dataclasses.replace(WEB_STUDY_SEARCH, image_query_without_parents=True)
    options = PlanOptions(retrieve_hinted=True, list_studies=True)
    plan_run = simulate(
        ServerModel(archive(), web), [want(PLAN1, PLAN, study=STUDY_A)], options=options
    )
    assert [type(s).__name__ for s in plan_run.steps] == ["Find", "Retrieve"]
    run = simulate(ServerModel(archive(), web), [want(SS2, study=STUDY_A)], options=options)
    listing, flat = run.finds
    assert listing.level is Level.SERIES and flat.scope.kind is ScopeKind.SERVER
    assert run.state.retrieved == {SS2}


# -- DICOMweb: every instance is its own GET, so the series in one is weighed too ---------

WEB = dataclasses.replace(Capabilities.web(), image_level=True, c_get=True, uid_list_get=True)


def _web(believed: Capabilities, wanted: int = 60) -> Run:
    known = WEB.merged(believed)
    server = ServerModel(archive(), WEB)
    return simulate(server, contour_images(wanted), believed=known, words=DICOMWEB)


def test_dicomweb_takes_the_series_in_one_get_when_measured_costs_make_it_faster() -> None:
    fast = Capabilities(request_seconds=0.002, object_seconds=0.0004, bytes_per_second=1e9)
    run = _web(fast)
    (whole,) = run.retrieves
    assert whole.level is Level.SERIES and whole.series == CT_A
    assert "60 singles ~ 0.1 s against 100 objects ~ 0.0 s" in whole.why
    assert len(run.state.discarded) == 40
    assert run.state.retrieved == {w.sop_uid for w in contour_images(60)}


def test_dicomweb_keeps_single_gets_while_bulk_costs_are_only_assumed() -> None:
    run = _web(Capabilities(request_seconds=0.002))  # no bulk retrieve ever timed here
    (singles,) = run.retrieves
    assert singles.level is Level.IMAGE and len(singles.sop_uids) == 60
    assert "one request per instance" in singles.why
    assert run.state.discarded == frozenset()


def test_dicomweb_costs_count_a_fan_out_of_single_gets_per_object() -> None:
    costs = Costs().observed(0.12, retrieve=True, objects=60, size=30_000_000, singles=True)
    assert costs.latency.value == pytest.approx(0.002) and costs.latency.source == "measured"
    assert costs.per_object.source == "derived"  # singles are no bulk sample
    assert costs.throughput.source == "assumed"


def test_stored_bulk_figures_are_set_aside_when_single_objects_come_far_slower() -> None:
    stored = Costs.of(
        Capabilities(request_seconds=0.002, object_seconds=0.0005, bytes_per_second=1e9)
    )
    assert stored.per_object.source == "stored" and not stored.stored_suspect
    near = stored.observed(0.006, retrieve=True, objects=1, size=1_100_000)  # 183 MB/s
    assert not near.stored_suspect and near.per_object.source == "stored"
    far = stored.observed(0.09, retrieve=True, objects=1, size=1_100_000)  # 12 MB/s
    assert far.stored_suspect
    assert far.per_object.source == "derived" and far.throughput.source == "assumed"
    assert "set aside" in far.describe()
    assert far.measured().bytes_per_second is None  # nothing of it is stored again
