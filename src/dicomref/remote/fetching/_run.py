"""The resolve loop of one fetch: plan, send, read what came back, grow the closure, repeat.

A :class:`FetchRun` owns the planner's :class:`State` and everything the report needs.
Each wanted object carries a *depth* (0: a start, 1: named by a start, …): with
``follow`` every object's references become wanted in turn; without it only the
starts' own references are.  An object found locally (:class:`Holdings`) is held, and
its references are followed from its local copy, so a rerun asks the server for
nothing it already gave.

What arrives is written by a :class:`Batch` (into the store when wanted, else into the
holding folder, or nowhere for the rest of a series retrieved whole), then read back
(:func:`read_object`, by the flushing thread for the store's), indexed in the catalog
(once per retrieve), and its references added to what is wanted; held-back arrivals that
turn out to be wanted are moved into the store, the rest discarded and counted.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import uid as uids
from pydicom.dataset import Dataset

from dicomref._dimse._statuses import MOVE_DESTINATION_UNKNOWN
from dicomref.errors import DicomReadError, RemoteError, StatusError
from dicomref.extraction import read_object, references
from dicomref.model import InstanceKey, Kind, ObjectSummary, Reference
from dicomref.remote.fetching._holdings import Holdings, holding_prefix
from dicomref.remote.fetching._intake import Arrival, Batch
from dicomref.remote.fetching._report import FetchedObject
from dicomref.remote.planner._enums import Level, Method
from dicomref.remote.planner._match import Match
from dicomref.remote.planner._modality import REFERENCE_SEQUENCES
from dicomref.remote.planner._options import PlanOptions
from dicomref.remote.planner._planner import Plan, plan
from dicomref.remote.planner._state import State
from dicomref.remote.planner._steps import Find, Retrieve, Step
from dicomref.remote.planner._wanted import Wanted
from dicomref.remote.transport._base import RetrieveAnswer, reason_of
from dicomref.remote.transport._executor import Executor
from dicomref.store import ManagedStore

if TYPE_CHECKING:
    from dicomref.catalog._deferred import FetchCatalog  # a Catalog or a DeferredCatalog
    from dicomref.remote.transport._pool import ClientPool

LOGGER = logging.getLogger(__name__)

MAX_PHASES = 10_000
"""A safety net: the planner always moves forward, so this is never reached."""

_SEQUENCE_KEYS = frozenset(k for keys in REFERENCE_SEQUENCES.values() for k in keys)


def class_label(sop_class: str | None) -> str | None:
    """ "RT Structure Set" for the RT Structure Set Storage class; None if unknown."""
    if not sop_class:
        return None
    name = uids.UID(sop_class).name
    if name == sop_class:
        return None
    return name.removesuffix(" Storage")


@dataclass(frozen=True, slots=True)
class Origin:
    """Who named a wanted object: for the report's missing lines."""

    what: str | None
    named_by: str | None


Accept = Callable[[ObjectSummary], bool]
"""Decides whether a held-back arrival that nobody wanted is kept after all."""


class FetchRun:
    """One fetch in progress; see the module docstring."""

    def __init__(
        self,
        executor: Executor,
        store: ManagedStore,
        catalog: FetchCatalog | None,
        holdings: Holdings,
        state: State,
        options: PlanOptions,
        *,
        follow: bool,
        pool: ClientPool | None = None,
    ) -> None:
        self.executor = executor
        self.pool = pool
        self.store = store
        self.catalog = catalog
        self.holdings = holdings
        self.state = state
        self.options = options
        self.follow = follow
        self.depth: dict[str, int] = {}
        self.origin: dict[str, Origin] = {}
        self.fetched: dict[str, FetchedObject] = {}
        self.dependent_uids: set[str] = set()
        self.discarded = 0
        self.discarded_bytes = 0
        self.refused = 0
        self.verdicts: dict[str, str] = {}
        self.mismatched: dict[str, str] = {}
        self._holding: Path | None = None
        self._held_back: dict[Path, ObjectSummary | None] = {}
        self._unindexed: list[ObjectSummary] = []

    # -- what is wanted --------------------------------------------------------------------

    def want(self, items: Iterable[tuple[Wanted, int, Origin]]) -> None:
        """Add wanted objects; those held locally are marked held and their references
        followed at once (transitively)."""
        queue = collections.deque(items)
        wanted: list[Wanted] = []
        held: list[str] = []
        while queue:
            item, depth, origin = queue.popleft()
            uid = item.sop_uid
            wanted.append(item)
            if uid in self.depth:
                self.depth[uid] = min(self.depth[uid], depth)
                continue
            self.depth[uid] = depth
            self.origin[uid] = origin
            local = self.holdings.lookup(uid, item.series)
            if local is not None:
                held.append(uid)
                queue.extend(self.named_by(local, depth, label_of(local)))
        self.state = self.state.with_wanted(wanted).with_held(held)
        self.executor.tally.wanted = len(self.state.wanted.keys() - self.state.held)

    def named_by(
        self, summary: ObjectSummary, depth: int, label: str
    ) -> list[tuple[Wanted, int, Origin]]:
        """What ``summary`` references, as wanted items one level deeper (if followed)."""
        return self._from_references(
            summary.references,
            source=summary.sop_instance,
            study=summary.study,
            patient_id=summary.patient_id,
            depth=depth,
            label=label,
        )

    def _from_references(
        self,
        refs: Iterable[Reference],
        *,
        source: str,
        study: str | None,
        patient_id: str | None,
        depth: int,
        label: str,
    ) -> list[tuple[Wanted, int, Origin]]:
        if depth >= 1 and not self.follow:
            return []
        items = []
        for ref in needed(refs):
            if not ref.instance or ref.target == source:
                continue
            wanted = Wanted.from_reference(ref, source_study=study, patient_id=patient_id)
            origin = Origin(class_label(ref.target_class), f"{label} {ref.path}")
            items.append((wanted, depth + 1, origin))
        return items

    # -- the loop --------------------------------------------------------------------------

    def resolve(self) -> Plan:
        """Plan and run steps until the plan is done; the final plan."""
        for _ in range(MAX_PHASES):
            current = plan(self.state, self.options)
            if current.done:
                return current
            if self.pool is not None and self.pool.size > 1:
                self._phase(self.pool, current.steps)
                continue
            for step in current.steps:
                known = self.state.capabilities
                if isinstance(step, Find):
                    self.find(step)
                else:
                    self.retrieve(step)
                if self.state.capabilities != known:
                    # the phase was planned without what this step taught (a refused
                    # search, lists that work or not): plan the rest again
                    break
        raise RemoteError(self.executor.transport.name, "the fetch did not converge")

    def _phase(self, pool: ClientPool, steps: Sequence[Step]) -> None:
        """Send a phase's steps over the pool's associations; record each answer here, in
        the order they come.  The first error is raised once every step has answered."""
        batches = {id(s): self._batch(s) for s in steps if isinstance(s, Retrieve)}

        def send(executor: Executor, step: Step) -> list[Dataset] | RetrieveAnswer:
            if isinstance(step, Find):
                return executor.run_find(step)
            batch = batches[id(step)]
            return executor.retrieve(step, batch, batch.count)

        failure: RemoteError | None = None
        for sent in pool.send(steps, send):
            try:
                if isinstance(sent.step, Find):
                    rows = sent.value if isinstance(sent.value, list) else []
                    self._found(sent.step, rows, sent.error, sent.seconds)
                else:
                    answer = sent.value if isinstance(sent.value, RetrieveAnswer) else None
                    batch = batches[id(sent.step)]
                    self._retrieved(sent.step, batch, answer, sent.error, sent.seconds)
            except RemoteError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def find(self, step: Find) -> list[Dataset]:
        """Send ``step`` and record its answer; the rows ([] when refused)."""
        began = time.perf_counter()
        try:
            rows = self.executor.run_find(step)
        except StatusError as exc:
            return self._found(step, [], exc, time.perf_counter() - began)
        return self._found(step, rows, None, time.perf_counter() - began)

    def _found(
        self, step: Find, rows: list[Dataset], error: BaseException | None, seconds: float
    ) -> list[Dataset]:
        """Record the answer to ``step``: its rows, or the refusal ``error``."""
        if error is not None and not isinstance(error, StatusError):
            raise error
        self.state = self.state.with_costs(self.state.costs.observed(seconds, retrieve=False))
        if error is not None:
            self.state = self.state.with_find_failed(step, reason_of(error))
            return []
        self.state = self.state.with_found(step, [Match.from_dataset(r) for r in rows])
        if _SEQUENCE_KEYS & set(step.return_keys):
            self._follow_rows(step, rows)
        return rows

    def _follow_rows(self, step: Find, rows: list[Dataset]) -> None:
        """References read from sequence return keys: the next level is wanted before
        this one has moved (servers that return sequence contents, e.g. Orthanc)."""
        items: list[tuple[Wanted, int, Origin]] = []
        for row in rows:
            uid = str(row.get("SOPInstanceUID", "") or "")
            if uid not in self.state.wanted or uid in self.state.held:
                continue
            try:
                refs = references(row)
            except DicomReadError as exc:
                LOGGER.debug("cannot read the references of a C-FIND row: %s", exc)
                continue
            wanted = self.state.wanted[uid]
            study = str(row.get("StudyInstanceUID", "") or "") or step.scope.study
            label = f"{class_label(wanted.sop_class) or 'object'} {uid}"
            items += self._from_references(
                refs,
                source=uid,
                study=study,
                patient_id=wanted.patient_id,
                depth=self.depth.get(uid, 0),
                label=label,
            )
        if items:
            self.want(items)

    def retrieve(
        self,
        step: Retrieve,
        accept: Accept | None = None,
        hold: list[Arrival] | None = None,
    ) -> list[InstanceKey]:
        """Send ``step``, keep what is wanted (or accepted), record it; the keys arrived.

        With ``accept`` every arrival is read before it is kept (candidates); with
        ``hold`` the arrivals nobody claimed are appended there instead of discarded.
        """
        batch = self._batch(step, accept, held=hold is not None)
        began = time.perf_counter()
        try:
            answer = self.executor.retrieve(step, batch, batch.count)
        except RemoteError as exc:
            seconds = time.perf_counter() - began
            return self._retrieved(step, batch, None, exc, seconds, accept, hold)
        seconds = time.perf_counter() - began
        return self._retrieved(step, batch, answer, None, seconds, accept, hold)

    def _batch(self, step: Retrieve, accept: Accept | None = None, *, held: bool = False) -> Batch:
        """Where the objects ``step`` brings go: the wanted ones not yet here straight into
        the store (none with ``accept``: each is read first), the others held back; or,
        for a series retrieved whole for some of its objects (no ``accept``, nothing
        ``held`` for the caller), the others dropped unwritten: they would be discarded
        unread (one wanted only through an object of the same retrieve is then asked
        again, in one more request)."""
        done = self.state.held | self.state.retrieved
        keep = frozenset(u for u in self.state.wanted if u not in done)
        if accept is not None:
            keep = frozenset()
        drop = accept is None and not held and step.level is Level.SERIES
        return Batch(self.store, self.holding, keep, self.executor.arrived, drop=drop)

    def _retrieved(
        self,
        step: Retrieve,
        batch: Batch,
        answer: RetrieveAnswer | None,
        error: BaseException | None,
        seconds: float,
        accept: Accept | None = None,
        hold: list[Arrival] | None = None,
    ) -> list[InstanceKey]:
        """Record the answer to ``step`` (or its ``error``) and what ``batch`` took in."""
        began = time.perf_counter()
        if error is not None or answer is None:
            if not isinstance(error, RemoteError) or not self._refused_fallback(step, error):
                batch.sync()
                self.settle(batch.arrivals, accept, hold)
                self._mismatches(batch)
                raise error or RemoteError(self.executor.transport.name, "no answer")
            self.executor.note(
                "C-MOVE is not used further in this fetch: the server does not know where "
                "to send (0xA801); what C-GET cannot bring is listed as missing"
            )
            answer = RetrieveAnswer(None, reason_of(error), 0, (), unsupported=True)
        batch.sync()
        self._mismatches(batch)
        arrivals = batch.arrivals
        dropped = batch.dropped
        dropped_bytes = sum(size for _, size in dropped)
        self.discarded += len(dropped)
        self.discarded_bytes += dropped_bytes
        costs = self.state.costs.observed(
            seconds + time.perf_counter() - began,
            retrieve=True,
            objects=len(arrivals) + len(dropped),
            size=sum(a.size for a in arrivals) + dropped_bytes,
            singles=step.level is Level.IMAGE and not self.state.words.list_retrieve,
        )
        self.state = self.state.with_costs(costs)
        keys = self.settle(arrivals, accept, hold) + [key for key, _ in dropped]
        self.refused += answer.refused
        reason = answer.reason
        if answer.failures:
            uid, why = answer.failures[0]
            failed = f"{len(answer.failures)} could not be kept (first: {uid}: {why})"
            reason = f"{reason}; {failed}" if reason else failed
        self.state = self.state.with_retrieved(
            step,
            keys,
            completed=answer.completed,
            reason=reason or answer.given_up,
            unsupported=answer.unsupported,
            given_up=answer.given_up is not None,
        )
        return keys

    def _mismatches(self, batch: Batch) -> None:
        """Objects refused for not being what they were announced as: a step line each,
        and the reason of the wanted object they stood for (either UID)."""
        for mismatch in batch.mismatches:
            text = mismatch.describe()
            if text in self.mismatched.values():
                continue
            self.executor.note(f"{text}: refused, not kept")
            uids = dict.fromkeys((mismatch.announced, mismatch.content))
            for uid in uids:
                self.mismatched.setdefault(uid, text)

    def _refused_fallback(self, step: Retrieve, exc: RemoteError) -> bool:
        """Whether ``exc``, a C-MOVE refused with 0xA801 (the server does not know where to
        send), is a fallback refused rather than the end of the fetch: C-GET was asked for,
        or has delivered here.  The fetch goes on without C-MOVE; what is missing says why."""
        if not isinstance(exc, StatusError) or exc.status != MOVE_DESTINATION_UNKNOWN:
            return False
        if step.method is not Method.MOVE:
            return False
        get_works = any(mode.method is Method.GET for mode in self.state.proven)
        return self.options.retrieve == "get" or get_works

    # -- what arrived ----------------------------------------------------------------------

    @property
    def holding(self) -> Path:
        """A hidden folder in the store for arrivals not yet known to be wanted."""
        if self._holding is None:
            self.store.root.mkdir(parents=True, exist_ok=True)
            self._holding = Path(tempfile.mkdtemp(prefix=holding_prefix(), dir=self.store.root))
        return self._holding

    def close(self) -> None:
        """Remove the holding folder (anything still in it was not wanted)."""
        if self._holding is not None:
            shutil.rmtree(self._holding, ignore_errors=True)
            self._holding = None

    def settle(
        self,
        arrivals: Iterable[Arrival],
        accept: Accept | None = None,
        hold: list[Arrival] | None = None,
    ) -> list[InstanceKey]:
        """Read, index and follow what arrived; keep held-back arrivals that are wanted
        (or accepted) now; discard the rest, or append it to ``hold``.  The keys of what
        was readable."""
        keys: list[InstanceKey] = []
        waiting: list[Arrival] = []
        for arrival in arrivals:
            if arrival.kept:
                if self._keep(arrival) is not None:
                    keys.append(arrival.key)
            else:
                keys.append(arrival.key)
                waiting.append(arrival)
        left = self.claim(waiting, accept)
        if hold is None:
            self.discard(left)
        else:
            hold.extend(left)
        self.index()
        return keys

    def index(self) -> None:
        """Index the objects kept since the last call in the catalog, in one transaction
        (one per retrieve, not one per object)."""
        if self.catalog is not None and self._unindexed:
            self.catalog.add(self._unindexed)
        self._unindexed = []

    def claim(self, waiting: list[Arrival], accept: Accept | None = None) -> list[Arrival]:
        """Keep the held-back arrivals that are wanted now, or that ``accept`` takes (as
        dependents); repeated, since each kept object may make others wanted.  The rest."""
        left: list[Arrival | None] = list(waiting)
        changed = True
        while changed:
            changed = False
            for index, candidate in enumerate(left):
                if candidate is None:
                    continue
                uid = candidate.key.sop
                if uid in self.fetched or uid in self.state.held:
                    continue
                if uid not in self.state.wanted:
                    summary = None if accept is None else self._read_held_back(candidate)
                    if summary is None or accept is None or not accept(summary):
                        continue
                    self.dependent_uids.add(uid)
                    origin = Origin(class_label(summary.sop_class), None)
                    self.want([(_located(summary), 0, origin)])
                left[index] = None
                self._keep(self._promote(candidate))
                changed = True
        self.index()
        return [a for a in left if a is not None]

    def discard(self, arrivals: Iterable[Arrival]) -> None:
        """Arrivals nobody wanted: counted in the report, their files removed."""
        for arrival in arrivals:
            self.discarded += 1
            self.discarded_bytes += arrival.size
            arrival.path.unlink(missing_ok=True)

    def _read_held_back(self, arrival: Arrival) -> ObjectSummary | None:
        if arrival.path not in self._held_back:
            self._held_back[arrival.path] = _read(arrival.path)
        return self._held_back[arrival.path]

    def _promote(self, arrival: Arrival) -> Arrival:
        data = arrival.path.read_bytes()
        stored = self.store.write(arrival.key, data, arrival.modality)
        arrival.path.unlink(missing_ok=True)
        return dataclasses.replace(arrival, path=stored.path, size=stored.size, kept=True)

    def _keep(self, arrival: Arrival) -> ObjectSummary | None:
        uid = arrival.key.sop
        summary = arrival.summary if arrival.summary is not None else _read(arrival.path)
        if summary is None:
            arrival.path.unlink(missing_ok=True)
            return None
        if uid in self.fetched:
            return summary
        self._unindexed.append(summary)
        self.holdings.add(summary)
        self.fetched[uid] = FetchedObject(
            key=summary.key,
            sop_class=summary.sop_class,
            modality=summary.modality,
            path=str(arrival.path),
            size=summary.size,
            dependent=uid in self.dependent_uids,
        )
        self.want(self.named_by(summary, self.depth.get(uid, 0), label_of(summary)))
        return summary


#: Where a structure set lists every slice of the series it was drawn on.
_SLICE_LISTING = "ReferencedFrameOfReferenceSequence"


def needed(refs: Iterable[Reference]) -> list[Reference]:
    """The references a fetch follows: all of them, except the slices a structure set
    lists under ``RTReferencedSeriesSequence`` when its contours name their own images.

    Treatment planning systems list every slice of the CT series there while the contours
    lie on some of them (DESIGN §8); the contours' ContourImageSequence names the slices
    the structure set needs.  A structure set whose contours name no image keeps the
    listing: it is then the only way to its slices.
    """
    refs = list(refs)
    listing = [r for r in refs if _lists_a_slice(r)]
    if not listing:
        return refs
    contoured = any(r.kind is Kind.CONTOUR_IMAGE and not _lists_a_slice(r) for r in refs)
    return [r for r in refs if not _lists_a_slice(r)] if contoured else refs


def _lists_a_slice(ref: Reference) -> bool:
    return ref.kind is Kind.CONTOUR_IMAGE and ref.path.startswith(_SLICE_LISTING)


def label_of(summary: ObjectSummary) -> str:
    """How a referring object is named in the report: its class and UID."""
    return f"{class_label(summary.sop_class) or 'object'} {summary.sop_instance}"


def _located(summary: ObjectSummary) -> Wanted:
    return Wanted(
        summary.sop_instance,
        sop_class=summary.sop_class,
        study=summary.study,
        series=summary.series,
        patient_id=summary.patient_id,
        source_study=summary.study,
    )


def _read(path: Path) -> ObjectSummary | None:
    try:
        return read_object(path)
    except DicomReadError as exc:
        LOGGER.warning("an object that arrived cannot be read, so it is not kept: %s", exc)
        return None
