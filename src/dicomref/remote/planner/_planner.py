"""The fetch planner: a pure function from what is known to the next steps worth taking.

:func:`plan` looks at a :class:`~dicomref.remote.State` and returns the next *phase*:
steps that can run now, independently of each other (in any order, or in parallel).
The resolve loop runs them, records each answer into the state with its transition,
and calls :func:`plan` again, until a plan has no steps: every wanted object is then
held, retrieved, or listed in :attr:`Plan.missing` with the reason.

Cheapest first: fewest objects moved, then fewest round trips.  So by default every
object is located before any is retrieved (retrieves then group per series into UID
lists), and an object is only ever moved with others when the server leaves no choice
(IMAGE level refused: its series is retrieved whole, the rest discarded and reported).
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomref.remote.planner._actions import Fetch, Missing, Search
from dicomref.remote.planner._build import build_finds, build_retrieves, first_use_only
from dicomref.remote.planner._locate import next_action
from dicomref.remote.planner._options import PlanOptions
from dicomref.remote.planner._state import State
from dicomref.remote.planner._steps import Find, Retrieve, Scope, Step
from dicomref.remote.planner._wanted import Wanted


@dataclass(frozen=True, slots=True)
class Plan:
    """The next phase of work, and where every wanted object stands.

    ``steps``: to run now; empty when resolving is over.  ``held``: wanted objects in
    the local catalog or cache (nothing to do).  ``retrieved``: wanted objects that have
    arrived.  ``missing``: given up on, each with its reason, in the order asked.
    ``deferred``: still open, but waiting for this phase to finish (e.g. located, to be
    retrieved once the others are located).
    """

    steps: tuple[Step, ...]
    held: frozenset[str]
    retrieved: frozenset[str]
    missing: tuple[Missing, ...]
    deferred: frozenset[str]

    @property
    def done(self) -> bool:
        """Nothing left to do: every wanted object is held, retrieved or missing."""
        return not self.steps

    @property
    def finds(self) -> tuple[Find, ...]:
        """The C-FIND steps of this phase."""
        return tuple(s for s in self.steps if isinstance(s, Find))

    @property
    def retrieves(self) -> tuple[Retrieve, ...]:
        """The C-MOVE/C-GET steps of this phase."""
        return tuple(s for s in self.steps if isinstance(s, Retrieve))

    @property
    def estimated_round_trips(self) -> int:
        """Requests this phase sends (one per step)."""
        return len(self.steps)

    @property
    def estimated_objects_moved(self) -> int:
        """Objects this phase moves, whole series counted whole (lower bound if unknown)."""
        return sum(step.estimated_objects for step in self.retrieves)


def plan(state: State, options: PlanOptions | None = None) -> Plan:
    """The next phase of steps for ``state``; see the module docstring for the loop."""
    options = options or PlanOptions()
    searches: dict[Scope, list[Wanted]] = {}
    locating: dict[Fetch, list[Wanted]] = {}
    fetching: dict[Fetch, list[Wanted]] = {}
    missing: list[Missing] = []
    for wanted in state.pending:
        action = next_action(state, wanted, options)
        if isinstance(action, Missing):
            missing.append(action)
        elif isinstance(action, Search):
            searches.setdefault(action.scope, []).append(wanted)
        else:
            target = locating if action.locating else fetching
            target.setdefault(action, []).append(wanted)
    steps: list[Step] = [
        *build_finds(state, searches, options),
        *build_retrieves(state, locating, options),
    ]
    if not steps or options.retrieve_early:
        steps.extend(build_retrieves(state, fetching, options))
    steps = first_use_only(state, steps)
    planned: set[str] = set()
    for step in steps:
        planned.update(step.resolves if isinstance(step, Find) else step.sop_uids)
    gone = {m.sop_uid for m in missing}
    open_uids = {w.sop_uid for w in state.pending}
    return Plan(
        steps=tuple(steps),
        held=frozenset(state.wanted.keys() & state.held),
        retrieved=frozenset(state.retrieved & state.wanted.keys()),
        missing=tuple(missing),
        deferred=frozenset(open_uids - planned - gone),
    )
