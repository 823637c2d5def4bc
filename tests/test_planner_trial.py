"""A series in one GET on trial (DICOMweb): when the planner takes it, what the verdict
weighs, and what the fetch does once it is given up."""

from __future__ import annotations

from dicomref.model import InstanceKey
from dicomref.remote import Capabilities
from dicomref.remote.planner._costs import Costs
from dicomref.remote.planner._enums import Level
from dicomref.remote.planner._options import PlanOptions
from dicomref.remote.planner._planner import Plan, plan
from dicomref.remote.planner._state import State
from dicomref.remote.planner._trial import TRIAL_PARTS, Trial
from dicomref.remote.planner._words import DICOMWEB
from test_planner import CT_A, STUDY_A, WEB, contour_images, ct_uid

SLICE = 500_000
AS_FETCH = PlanOptions(retrieve_hinted=True, hinted_singles=True)  # a DICOMweb fetch's


def _parts(count: int, gap: float, first: float = 0.01) -> list[tuple[float, int]]:
    return [(first + i * gap, SLICE) for i in range(count)]


def test_no_verdict_before_the_stream_has_shown_its_pace() -> None:
    trial = Trial(wanted=60, size=120, singles=())
    assert trial.verdict(_parts(TRIAL_PARTS - 1, 0.04), 1) is None


def test_a_slow_stream_is_given_up_a_fast_one_goes_on() -> None:
    # a single GET of 1.1 MB seen in 90 ms: at 12.5 MB/s that is its bytes, ~2 ms fixed
    slow_link = Trial(wanted=60, size=120, singles=((0.09, 1_100_000),))
    said = slow_link.verdict(_parts(4, 0.04), 2)  # 40 ms an object: 12.5 MB/s
    assert said is not None and said.startswith("given up after 4 of 120 objects")
    assert "58 wanted as single GETs" in said
    # a single GET of 1.1 MB seen in 6 ms on a 1 GB/s stream: ~5 ms of it is fixed
    fast_link = Trial(wanted=60, size=120, singles=((0.006, 1_100_000),))
    assert fast_link.verdict(_parts(4, 0.0005), 2) is None


def test_single_gets_cost_their_fixed_part_and_bytes_and_no_less_than_probed() -> None:
    # a stream at 1 ms an object (500 MB/s); a lone 1.1 MB GET seen in 6 ms: ~3.8 ms fixed,
    # so each single GET ~4.8 ms: the 50 missing cost more than the rest of the series
    guessed = Trial(wanted=60, size=120, singles=((0.006, 1_100_000),))
    assert guessed.verdict(_parts(20, 0.001), 10) is None
    # no lone GET seen: its bytes only (1 ms each), and the series is dropped ...
    bare = Trial(wanted=60, size=120, singles=())
    said = bare.verdict(_parts(20, 0.001), 10)
    assert said is not None and "(1.0 ms each)" in said
    # ... unless the probe measured a GET of a fan-out dearer than that
    probed = Trial(wanted=60, size=120, singles=(), fan_out=0.003)
    assert probed.verdict(_parts(20, 0.001), 10) is None
    # measured on a faster link: no single GET is cheaper than its bytes at this rate
    slow = Trial(wanted=60, size=120, singles=(), fan_out=0.0023)
    said = slow.verdict(_parts(4, 0.04), 0)
    assert said is not None and "(40.0 ms each)" in said


def test_once_every_wanted_object_arrived_the_rest_is_not_read() -> None:
    trial = Trial(wanted=2, size=120, singles=((10.0, 0),))
    said = trial.verdict(_parts(2, 0.001), 2)
    assert said == "every wanted object arrived after 2 of 120: the rest is not read"
    assert trial.verdict(_parts(120, 0.001), 2) is None  # the series came whole anyway


def plan_web(state: State) -> Plan:
    return plan(state, AS_FETCH)


def _state(believed: Capabilities, costs: Costs) -> State:
    wanted = contour_images(60)
    state = State.start(wanted, WEB.merged(believed), words=DICOMWEB)
    sizes = {**state.series_sizes, CT_A: 120}
    return State(
        **{**{f: getattr(state, f) for f in state.__dataclass_fields__}, "series_sizes": sizes}
    ).with_costs(costs)


def test_with_no_retrieve_of_many_ever_timed_the_series_goes_on_trial() -> None:
    seen = Costs().observed(0.006, retrieve=True, objects=1, size=1_100_000)
    (whole,) = plan_web(_state(Capabilities(), seen)).retrieves
    assert whole.level is Level.SERIES and whole.trial is not None
    assert whole.trial.wanted == 60 and whole.trial.size == 120
    assert whole.trial.singles == ((0.006, 1_100_000),)
    assert "on trial" in whole.why


def test_stored_figures_choose_the_series_on_trial_measured_ones_without() -> None:
    stored = Capabilities(request_seconds=0.002, object_seconds=0.0004, bytes_per_second=1e9)
    (whole,) = plan_web(_state(stored, Costs.of(stored))).retrieves
    assert whole.level is Level.SERIES and whole.trial is not None
    assert whole.trial.fan_out == 0.002  # what the probe measured for a single GET
    measured = Costs.of(stored).observed(0.05, retrieve=True, objects=100, size=50_000_000)
    (bulk,) = plan_web(_state(stored, measured)).retrieves
    assert bulk.level is Level.SERIES and bulk.trial is None


def test_few_wanted_objects_are_single_gets_without_a_trial() -> None:
    seen = Costs().observed(0.006, retrieve=True, objects=1, size=1_100_000)
    state = _state(Capabilities(), seen)
    few = State.start(contour_images(4), state.capabilities, words=DICOMWEB)
    few = State(
        **{**{f: getattr(few, f) for f in few.__dataclass_fields__}, "series_sizes": {CT_A: 120}}
    ).with_costs(seen)
    (singles,) = plan_web(few).retrieves
    assert singles.level is Level.IMAGE and singles.trial is None


def test_after_a_trial_given_up_the_rest_comes_as_single_gets() -> None:
    seen = Costs().observed(0.09, retrieve=True, objects=1, size=1_100_000)
    state = _state(Capabilities(), seen)
    (whole,) = plan_web(state).retrieves
    came = [InstanceKey(STUDY_A, CT_A, ct_uid(CT_A, i)) for i in range(2)]
    # as the fetch records it: 4 objects in 0.17 s (two were not wanted), then the answer
    state = state.with_costs(state.costs.observed(0.17, retrieve=True, objects=4, size=2_000_000))
    state = state.with_retrieved(whole, came, completed=2, reason="given up", given_up=True)
    assert state.series_sizes[CT_A] == 120  # not learnt from a series read in part
    assert all(a.given_up for tries in state.attempts.values() for a in tries)
    steps = plan_web(state).steps
    assert [type(s).__name__ for s in steps] == ["Retrieve"]  # straight, no search first
    (rest,) = steps
    assert rest.level is Level.IMAGE and len(rest.sop_uids) == 58
    assert set(rest.sop_uids) == {w.sop_uid for w in contour_images(60)[2:]}
