"""Locate and fetch: the planner driven against a real server.

:func:`locate` says where objects are on a server, with C-FIND only.  :func:`fetch`
brings exactly the objects asked for and (with ``follow``) what they reference,
transitively, and (with ``with_dependents``) the objects that depend on them, into a
:class:`~dicomref.store.ManagedStore`; it reports what moved, what is missing and why,
what it cost, and what a whole-study download would have moved instead.

Starts are SOP Instance UIDs or files.  A file is read locally (it is not fetched): its
references are the first objects wanted, with the hints it carries (its study, its
Patient ID).  A bare UID takes its hints from the catalog (where it was indexed, or
what references it); with none, it is searched for (:mod:`._discovery`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomref._dicomweb._node import WebNode
from dicomref._dimse._node import Node
from dicomref._uids import PADDING, argument_problem
from dicomref.errors import UsageError
from dicomref.extraction import read_object
from dicomref.model import ObjectSummary
from dicomref.remote.fetching._cohort import select, start_results
from dicomref.remote.fetching._dependents import DependentSearch
from dicomref.remote.fetching._discovery import discover, search_only, unhinted
from dicomref.remote.fetching._holdings import Holdings, catalog_hints
from dicomref.remote.fetching._report import (
    FetchProgress,
    FetchReport,
    Located,
    LocateReport,
    MissingObject,
)
from dicomref.remote.fetching._run import FetchRun, Origin, class_label
from dicomref.remote.fetching._whole_study import whole_study
from dicomref.remote.planner._capabilities import Capabilities
from dicomref.remote.planner._costs import Costs
from dicomref.remote.planner._enums import Root
from dicomref.remote.planner._match import Match
from dicomref.remote.planner._options import PlanOptions, Preference
from dicomref.remote.planner._planner import Plan, plan
from dicomref.remote.planner._query import CohortQuery
from dicomref.remote.planner._state import State
from dicomref.remote.planner._steps import Find
from dicomref.remote.planner._wanted import Wanted
from dicomref.remote.planner._words import DICOMWEB, DIMSE, Words
from dicomref.remote.transport._executor import Executor
from dicomref.remote.transport._open import opened
from dicomref.remote.transport._pool import ClientPool
from dicomref.store import ManagedStore

if TYPE_CHECKING:
    from dicomref.catalog._deferred import FetchCatalog  # a Catalog or a DeferredCatalog

LOGGER = logging.getLogger(__name__)

Start = str | os.PathLike[str]
"""A SOP Instance UID, or a DICOM file whose references are to be fetched."""

_ASKED = Origin(None, "the command line")


def locate(
    node: Node | WebNode,
    uids: Iterable[str],
    *,
    capabilities: Capabilities | None = None,
    hints: Iterable[Wanted] = (),
    catalog: FetchCatalog | None = None,
) -> LocateReport:
    """Where each of ``uids`` is on ``node``, using C-FIND only.

    ``capabilities``: what the probe measured (default: :meth:`Capabilities.unknown`:
    hierarchical queries, UID lists tried, learnt on the way).  ``hints``: known locations
    (study, series, Patient ID) by UID; ``catalog``: more hints (where an object was
    indexed, what references it).
    Raises :class:`~dicomref.errors.RemoteError` when the server cannot be talked to.
    """
    began = time.monotonic()
    asked = _unique(_check_uid(u) for u in uids)
    given = {h.sop_uid: h for h in hints}
    wanted = [given.get(uid, Wanted(uid)).merged(catalog_hints(catalog, uid)) for uid in asked]
    known = capabilities or _starting(node)
    node = _tuned(node, known)
    state = State.start(wanted, known, words=_words(node))
    options = PlanOptions()
    classes: dict[str, str] = {w.sop_uid: w.sop_class for w in wanted if w.sop_class}
    with opened(node) as transport:
        executor = Executor(transport)
        blind = [w.sop_uid for w in wanted if unhinted(w)]
        verdicts: dict[str, str] = {}
        if blind:
            state, verdicts = discover(executor, state, blind, options)
        answered: list[tuple[Find, list[Match]]] = []
        state = search_only(executor, state, options, answered=answered)
        for _, matches in answered:
            classes.update({m.sop: m.sop_class for m in matches if m.sop and m.sop_class})
        final = plan(state, options)
        objects = tuple(_located(state, final, uid, classes.get(uid), verdicts) for uid in asked)
        return LocateReport(
            node=str(node),
            objects=objects,
            requests=executor.requests,
            associations=executor.associations,
            steps=executor.steps,
            seconds=time.monotonic() - began,
            capabilities=state.capabilities,
            connection=state.words.connection,
        )


def _located(
    state: State, final: Plan, uid: str, sop_class: str | None, verdicts: dict[str, str]
) -> Located:
    key = state.located.get(uid)
    if key is not None:
        return Located(uid, key, sop_class)
    if uid in state.unplaced:
        return Located(
            uid,
            None,
            sop_class,
            "the server has it (found by SOP Instance UID) but did not say in which study "
            "and series",
        )
    reasons = {m.sop_uid: m.reason for m in final.missing}
    reason = verdicts.get(uid) or reasons.get(uid)
    if reason is None:
        reason = (
            f"the server refuses {state.words.image_level} queries: only retrieving its "
            "candidate series can tell (fetch does that)"
        )
    return Located(uid, None, sop_class, reason)


def fetch(
    node: Node | WebNode,
    starts: Iterable[Start],
    *,
    out: ManagedStore,
    catalog: FetchCatalog | None = None,
    capabilities: Capabilities | None = None,
    follow: bool = True,
    with_dependents: bool = False,
    retrieve: Preference | None = None,
    hints: Iterable[Wanted] = (),
    progress: Callable[[FetchProgress], None] | None = None,
    query: CohortQuery | None = None,
    associations: int = 1,
) -> FetchReport:
    """Fetch exactly the objects ``starts`` name from ``node`` into ``out``.

    ``starts``: SOP Instance UIDs (fetched, then what they reference) and DICOM files
    (read here, not fetched: what they reference is).  ``catalog``: objects indexed there
    whose file is still present are not fetched again, bare UIDs get their location hints
    from it, and every object fetched is indexed into it.  Objects already in ``out`` are
    not fetched again either (an interrupted fetch resumes): with a catalog, those it
    lacks are indexed first (read with the scan's reader), so whatever an interrupted
    fetch left is indexed too.  ``follow``: fetch what the
    fetched objects reference, transitively; without it, only the starts' own references.
    ``with_dependents``: also fetch what depends on the starts, downstream of the RT chain
    (:mod:`._dependents`).  ``capabilities``: what the probe or earlier fetches measured
    (default: the node's entry in ``catalog``, else :meth:`Capabilities.unknown`:
    hierarchical queries, UID lists tried first where a refusal costs one request, every
    flag learnt from the first request that shows it; :meth:`Capabilities.conservative`
    would assert them, and a flag asserted is never unlearnt).  What the fetch learnt,
    and the costs it saw (seconds per request, bytes per second), are merged into the
    catalog's entry for the node (a measured value is never replaced by ``None``) and
    returned as the report's ``capabilities``.  ``retrieve``: the preferred retrieve
    service (default: the node's own ``retrieve``).  ``hints``: known locations of start
    UIDs.  ``progress`` is called after each request and each arrival (maybe from another
    thread).

    A cohort: ``query`` selects more starts on the server (hierarchical C-FINDs; every
    object matched is a start, placed by the query).  All starts share one plan, so an
    object several of them need moves once; ``associations``: how many associations a
    phase's independent steps are sent over at once (C-MOVEs excepted: one at a time, the
    receiver's port is shared).  The report's ``starts`` says what each start needed and
    what of that is missing.

    Raises :class:`~dicomref.errors.UsageError` for a start that is neither a file nor a
    UID, :class:`~dicomref.errors.DicomReadError` for a start file that is not DICOM, and
    :class:`~dicomref.errors.RemoteError` when the server cannot be talked to (what
    arrived until then is kept and indexed).
    """
    began = time.monotonic()
    files, uids = _split(starts, allow_none=query is not None)
    summaries = [read_object(path) for path in files]
    if retrieve is None:
        retrieve = node.retrieve if isinstance(node, Node) else "get"
    # A hinted object is retrieved from its hinted series without a search first: a
    # retrieve says itself what is not there (DICOMweb: a 404; DIMSE: what did not arrive),
    # and the search follows only for that.  DIMSE does it in UID lists only.  DICOMweb, with
    # dependents: the study's series are listed anyway, and the listing finds objects too.
    web = isinstance(node, WebNode)
    options = PlanOptions(
        retrieve=retrieve,
        retrieve_hinted=True,
        hinted_singles=web,
        list_studies=web and with_dependents,
    )
    if capabilities is None and catalog is not None:
        capabilities = catalog.load_capabilities(str(node))
    known = capabilities or _starting(node)
    node = _tuned(node, known)
    caps = _allowing(known, retrieve)
    if not out.root.is_absolute():  # the catalog keeps absolute paths, as a scan does
        out = ManagedStore(out.root.absolute(), fsync=out.fsync)
    holdings = Holdings(out, catalog)
    reused = holdings.index_store()  # before any connection: it may fork readers
    given = {h.sop_uid: h for h in hints}
    with ClientPool(node, associations, progress) as pool:
        executor = pool.main
        if reused is not None and reused.indexed:
            executor.note(
                f"{reused.indexed} objects found in {out.root} indexed in the catalog "
                "(an earlier fetch stopped before indexing them)"
            )
        state = State(capabilities=caps, costs=Costs.of(caps), words=_words(node))
        origins = dict.fromkeys(uids, _ASKED)
        run = FetchRun(executor, out, catalog, holdings, state, options, follow=follow, pool=pool)
        try:
            if query is not None:
                selected = select(pool, query, caps.query_root or Root.STUDY)
                given.update({w.sop_uid: w.merged(given.get(w.sop_uid, w)) for w in selected})
                uids = _unique([*uids, *(w.sop_uid for w in selected)])
                chosen = Origin(None, f"the query {query.describe()}")
                origins.update((w.sop_uid, chosen) for w in selected if w.sop_uid not in origins)
            for summary in summaries:
                holdings.add(summary)
                run.want(run.named_by(summary, 0, Path(summary.path).name))
            run.want(
                (
                    given.get(uid, Wanted(uid)).merged(holdings.hints(uid)),
                    0,
                    origins.get(uid, _ASKED),
                )
                for uid in uids
            )
            blind = [
                uid for uid in uids if uid not in run.state.held and unhinted(run.state.wanted[uid])
            ]
            if blind:
                run.state, verdicts = discover(executor, run.state, blind, options)
                run.verdicts.update(verdicts)
            final = run.resolve()
            if with_dependents:
                final = _with_dependents(run, summaries, uids, final)
            requests = executor.requests
            fetched = tuple(run.fetched.values())
            comparison = None
            if fetched:
                held = [run.holdings.lookup(uid) for uid in final.held]
                sizes = [f.size for f in fetched] + [h.size for h in held if h is not None]
                average = sum(sizes) / len(sizes)
                root = run.state.capabilities.query_root
                if root is not None:
                    studies = {f.key.study for f in fetched}
                    counted = _counted(run.state, studies)
                    comparison = whole_study(
                        executor,
                        studies,
                        root,
                        average,
                        counted,
                        image_level=run.state.capabilities.image_level_usable,
                    )
        finally:
            run.close()
            learnt = _learnt(known, run.state)
            if catalog is not None and learnt != known:
                catalog.save_capabilities(str(node), learnt)
        missing = tuple(_missing(run, m.sop_uid, m.reason) for m in final.missing)
        return FetchReport(
            node=str(node),
            objects=len(fetched),
            bytes=sum(f.size for f in fetched),
            held=len(final.held),
            missing=missing,
            discarded=run.discarded,
            discarded_bytes=run.discarded_bytes,
            refused=run.refused,
            requests=requests,
            associations=executor.associations,
            steps=executor.steps,
            seconds=time.monotonic() - began,
            fetched=fetched,
            whole_study=comparison,
            capabilities=learnt,
            starts=start_results(run, list(zip(files, summaries, strict=True)), uids, missing),
            connection=run.state.words.connection,
        )


def _counted(state: State, studies: Iterable[str]) -> dict[str, int]:
    """The studies whose series were all listed with their sizes during the fetch (the
    dependents' listing): their instance counts, with no request."""
    counted: dict[str, int] = {}
    for study in studies:
        rows = state.series_rows.get((study, None))
        if rows and all(row.count is not None for row in rows):
            counted[study] = sum(row.count or 0 for row in rows)
    return counted


def _words(node: Node | WebNode) -> Words:
    """How the node's protocol names its requests, for the reasons the planner writes."""
    return DICOMWEB if isinstance(node, WebNode) else DIMSE


def _starting(node: Node | WebNode) -> Capabilities:
    """What is known of a node never probed: nothing (DIMSE), or what the protocol says
    (DICOMweb: :meth:`Capabilities.web`)."""
    return Capabilities.web() if isinstance(node, WebNode) else Capabilities.unknown()


def _tuned(node: Node | WebNode, known: Capabilities) -> Node | WebNode:
    """A DICOMweb node with the request-line budget and concurrency the probe measured,
    where nodes.toml sets none."""
    if isinstance(node, WebNode):
        return node.tuned(known.url_budget, known.concurrency)
    return node


def _learnt(known: Capabilities, state: State) -> Capabilities:
    """What the node's capability cache should hold after a fetch: ``known`` with every
    flag the fetch measured on the way and the costs it saw (never a measured value
    replaced by an unmeasured one)."""
    learnt = known.merged(_measured_flags(known, state.capabilities))
    return learnt.merged(state.costs.measured())


def _measured_flags(known: Capabilities, now: Capabilities) -> Capabilities:
    """The flags of ``now`` that differ from ``known``: what this fetch learnt (a flag
    ``_allowing`` reopened and nothing measured since stays as it was known)."""
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(now):
        value = getattr(now, field.name)
        if value is not None and value != getattr(known, field.name):
            changes[field.name] = value
    return Capabilities(**changes)


def _with_dependents(
    run: FetchRun, summaries: list[ObjectSummary], uids: list[str], final: Plan
) -> Plan:
    """Search dependents of the starts, fetch them, then theirs, until none are new."""
    search = DependentSearch(run)
    roots = list(summaries)
    roots += [s for uid in uids if (s := run.holdings.lookup(uid)) is not None]
    while roots:
        found = search.search(roots)
        final = run.resolve()
        roots = [s for uid in sorted(found) if (s := run.holdings.lookup(uid)) is not None]
    search.finish()
    return final


def _missing(run: FetchRun, uid: str, reason: str) -> MissingObject:
    origin = run.origin.get(uid, Origin(None, None))
    wanted = run.state.wanted.get(uid)
    what = class_label(wanted.sop_class if wanted else None) or origin.what
    reason = run.verdicts.get(uid, reason)
    mismatch = run.mismatched.get(uid)
    if mismatch is not None and not reason.startswith(mismatch):
        reason = f"{mismatch} (refused); {reason}"
    return MissingObject(uid=uid, reason=reason, what=what, named_by=origin.named_by)


def _allowing(caps: Capabilities, retrieve: Preference) -> Capabilities:
    """Assumed (unmeasured) capabilities never rule out the service the caller asks for."""
    if caps.measured_at is not None:
        return caps
    if retrieve == "get" and caps.c_get is False:
        return caps.learned(c_get=None)
    if retrieve == "move" and caps.c_move is False:
        return caps.learned(c_move=None)
    return caps


def _split(starts: Iterable[Start], *, allow_none: bool = False) -> tuple[list[Path], list[str]]:
    files: list[Path] = []
    uids: list[str] = []
    for start in starts:
        if isinstance(start, str) and not Path(start).exists():
            uids.append(_check_uid(start))
        else:
            path = Path(start)
            if not path.is_file():
                raise UsageError(f"{path}: not a file (a start is a DICOM file or a UID)")
            files.append(path)
    if not files and not uids and not allow_none:
        raise UsageError("nothing to fetch: give at least one UID or file")
    return files, _unique(uids)


def _check_uid(text: str) -> str:
    why = argument_problem(text)
    if why is not None:
        raise UsageError(f"{why}, and no file of that name exists")
    return text.rstrip(PADDING)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
