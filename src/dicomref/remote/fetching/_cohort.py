"""A cohort fetch: many starts in one plan, what a query selects, and a result per start.

:func:`select` runs the hierarchical C-FINDs the planner writes for a
:class:`~dicomref.remote.planner._query.CohortQuery` (:func:`._build.selection_finds`), a level
at a time, each level's requests over the pool's associations; every object the IMAGE
level matches is a start, with its study, series, class and Patient ID as hints (no
search needed to place it).  :func:`start_results` says, once the fetch is over, what
each start needed: its closure walked through what is now here, as the fetch followed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pydicom.dataset import Dataset

from dicomref.errors import RemoteError
from dicomref.model import ObjectSummary
from dicomref.remote.fetching._report import MissingObject, StartResult
from dicomref.remote.fetching._run import FetchRun, label_of
from dicomref.remote.planner._build import selection_finds
from dicomref.remote.planner._enums import Level, Root
from dicomref.remote.planner._query import CohortQuery
from dicomref.remote.planner._steps import Find, Scope, ScopeKind, Step
from dicomref.remote.planner._wanted import Wanted
from dicomref.remote.transport._executor import Executor, reason_of
from dicomref.remote.transport._pool import ClientPool


def select(pool: ClientPool, query: CohortQuery, root: Root) -> list[Wanted]:
    """The objects ``query`` selects on the pool's node, as wanted starts with hints.

    Raises :class:`RemoteError` when the server refuses one of the queries (the selection
    would be incomplete).
    """
    studies = _rows(pool, selection_finds(query, Level.STUDY, [Scope(ScopeKind.PATIENT)], root))
    study_scopes = _unique(
        Scope(ScopeKind.STUDY, study=uid, patient_id=_text(row, "PatientID") or None)
        for row in studies
        if (uid := _text(row, "StudyInstanceUID"))
    )
    series = _rows(pool, selection_finds(query, Level.SERIES, study_scopes, root))
    by_study = {s.study: s for s in study_scopes}
    series_scopes = _unique(
        Scope(
            ScopeKind.SERIES,
            study=study,
            series=uid,
            patient_id=by_study[study].patient_id if study in by_study else None,
        )
        for row in series
        if (uid := _text(row, "SeriesInstanceUID"))
        and (study := _text(row, "StudyInstanceUID")) in by_study
    )
    images = _rows(pool, selection_finds(query, Level.IMAGE, series_scopes, root))
    scopes = {s.series: s for s in series_scopes}
    selected: dict[str, Wanted] = {}
    for row in images:
        uid = _text(row, "SOPInstanceUID")
        scope = scopes.get(_text(row, "SeriesInstanceUID"))
        if not uid or scope is None:
            continue
        selected.setdefault(
            uid,
            Wanted(
                uid,
                sop_class=_text(row, "SOPClassUID") or None,
                study=scope.study,
                series=scope.series,
                patient_id=scope.patient_id,
                source_study=scope.study,
            ),
        )
    pool.main.note(f"the query {query.describe()} selected {len(selected)} objects")
    return list(selected.values())


def _rows(pool: ClientPool, finds: Sequence[Find]) -> list[Dataset]:
    def send(executor: Executor, step: Step) -> list[Dataset]:
        assert isinstance(step, Find)
        return executor.run_find(step)

    rows: list[Dataset] = []
    failure: RemoteError | None = None
    for sent in pool.send(finds, send):
        if sent.error is not None:
            if not isinstance(sent.error, RemoteError):
                raise sent.error
            failure = failure or sent.error
        elif sent.value is not None:
            rows += sent.value
    if failure is not None:
        raise RemoteError(
            failure.node, f"cannot select the cohort: {reason_of(failure)}"
        ) from failure
    return rows


def start_results(
    run: FetchRun,
    files: Sequence[tuple[Path, ObjectSummary]],
    uids: Sequence[str],
    missing: Sequence[MissingObject],
) -> tuple[StartResult, ...]:
    """One result per start: files first, then UIDs (in the order given)."""
    gone = {m.uid: m for m in missing}
    results = [
        _result(run, str(path), summary.sop_instance, run.named_by(summary, 0, path.name), gone)
        for path, summary in files
    ]
    for uid in uids:
        results.append(_result(run, uid, uid, [(Wanted(uid), 0, None)], gone))
    return tuple(results)


def _result(
    run: FetchRun,
    start: str,
    uid: str,
    first: Iterable[tuple[Wanted, int, object]],
    gone: dict[str, MissingObject],
) -> StartResult:
    """Walk the closure of one start through the objects now held, as the fetch did."""
    needed: dict[str, None] = {}
    queue = [(wanted, depth) for wanted, depth, _ in first]
    while queue:
        wanted, depth = queue.pop(0)
        if wanted.sop_uid in needed:
            continue
        needed[wanted.sop_uid] = None
        summary = run.holdings.lookup(wanted.sop_uid, wanted.series)
        if summary is not None:
            queue += [(w, d) for w, d, _ in run.named_by(summary, depth, label_of(summary))]
    return StartResult(
        start=start,
        uid=uid,
        needed=tuple(needed),
        missing=tuple(gone[u] for u in needed if u in gone),
    )


def _text(row: Dataset, keyword: str) -> str:
    return str(row.get(keyword, "") or "").strip()


def _unique(scopes: Iterable[Scope]) -> list[Scope]:
    return list(dict.fromkeys(scopes))
