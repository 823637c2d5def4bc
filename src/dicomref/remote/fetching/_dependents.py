"""Objects that reference what was fetched: the doses of a plan, the plans on a structure set,
the structure sets drawn on an image series.

Dependents run *downstream* of the RT chain, from the starts: image → RTSTRUCT →
RTPLAN → RTDOSE/RTRECORD (:data:`DOWNSTREAM`).  They are searched for the start objects,
then for the dependents found, and so on; not for the objects reached by following
references (fetching plan 0 brings the doses of plan 0, not the other structure sets drawn
on its CT, nor their plans).  Each dependent's own references are followed as usual.

No server matches on sequence contents, so the referring objects' headers must be read:

- where C-FIND returns sequence contents (``capabilities.sequence_return_keys``,
  Orthanc): one IMAGE C-FIND per referring modality in the study, its reference
  sequences asked back, rows filtered here; the dependents are then retrieved as usual;
- elsewhere: the study's series of those modalities are listed and retrieved whole into
  the holding folder (RT objects are few and small), read, and kept only if they
  reference one of ours; the rest is discarded and counted in the report;
- on a transport that gives metadata (DICOMweb), a series whose objects are cheaper to
  read from their metadata (:func:`~dicomref.remote.planner._metadata.metadata_first`:
  doses, whose grid comes as a BulkDataURI) is read that way instead, and only the
  dependents found are retrieved.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from pydicom.dataset import Dataset

from dicomref.errors import DicomReadError, StatusError
from dicomref.extraction import references
from dicomref.model import ObjectSummary, Reference
from dicomref.remote.fetching._intake import Arrival
from dicomref.remote.fetching._run import FetchRun, Origin, class_label
from dicomref.remote.planner._dependents import (
    REFERRER_CLASSES,
    downstream,
    referrer_find,
    series_listing,
    series_read,
)
from dicomref.remote.planner._enums import Root
from dicomref.remote.planner._match import Match
from dicomref.remote.planner._metadata import metadata_first
from dicomref.remote.planner._steps import Find
from dicomref.remote.planner._wanted import Wanted
from dicomref.remote.transport._base import ReadsMetadata
from dicomref.remote.transport._executor import reason_of

LOGGER = logging.getLogger(__name__)


def _references_any(refs: Iterable[Reference], targets: set[str]) -> bool:
    return any(ref.instance and ref.target in targets for ref in refs)


class DependentSearch:
    """Searches dependents for a :class:`FetchRun`, recording them as wanted."""

    def __init__(self, run: FetchRun) -> None:
        self.run = run
        self.searched: set[str] = set()
        self.series_read: set[str] = set()
        self.held_back: list[Arrival] = []

    def finish(self) -> None:
        """Discard the candidates no search claimed (counted in the report)."""
        self.run.discard(self.held_back)
        self.held_back = []

    def search(self, roots: Iterable[ObjectSummary]) -> set[str]:
        """Find what depends on ``roots`` (each searched once); the new dependents' UIDs."""
        per_study: dict[str, tuple[set[str], set[str], str | None]] = {}
        for root in roots:
            if root.sop_instance in self.searched:
                continue
            self.searched.add(root.sop_instance)
            wanted = downstream(root)
            if not wanted:
                continue
            modalities, targets, _ = per_study.setdefault(
                root.study, (set(), set(), root.patient_id)
            )
            modalities.update(wanted)
            targets.add(root.sop_instance)
        before = set(self.run.dependent_uids)
        caps = self.run.state.capabilities
        for study, (modalities, targets, patient_id) in per_study.items():
            by_find = caps.sequence_return_keys is True and caps.image_level_usable
            if by_find and self._by_find(study, modalities, targets, patient_id):
                continue
            self._by_candidates(study, modalities, targets, patient_id)
        return self.run.dependent_uids - before

    # -- servers that return sequence contents ---------------------------------------------

    def _by_find(
        self, study: str, modalities: set[str], targets: set[str], patient_id: str | None
    ) -> bool:
        """One IMAGE C-FIND per modality; False when the server refused one."""
        root = self.run.state.capabilities.query_root or Root.STUDY
        for modality in sorted(modalities):
            classes = REFERRER_CLASSES[modality]
            step = referrer_find(study, modality, len(targets), root, patient_id)
            try:
                rows = self.run.executor.run_find(step)
            except StatusError as exc:
                search = self.run.state.words.find
                self.run.executor.note(f"dependents by {search} refused ({reason_of(exc)})")
                return False
            self._record_rows(step, rows, classes, targets, study)
        return True

    def _record_rows(
        self,
        step: Find,
        rows: list[Dataset],
        classes: tuple[str, ...],
        targets: set[str],
        study: str,
    ) -> None:
        run = self.run
        found: list[Match] = []
        items: list[tuple[Wanted, int, Origin]] = []
        for row in rows:
            match = Match.from_dataset(row)
            uid = match.sop
            if uid is None or match.sop_class not in classes or uid in run.state.wanted:
                continue
            try:
                refs = references(row)
            except DicomReadError as exc:
                LOGGER.debug("cannot read the references of a C-FIND row: %s", exc)
                continue
            if not _references_any(refs, targets):
                continue
            found.append(match)
            run.dependent_uids.add(uid)
            wanted = Wanted(
                uid, sop_class=match.sop_class, study=match.study or study, series=match.series
            )
            items.append((wanted, 0, Origin(class_label(match.sop_class), None)))
        if items:
            run.want(items)
            resolved = dataclasses.replace(step, resolves=frozenset(m.sop or "" for m in found))
            run.state = run.state.with_found(resolved, found)

    # -- DICOMweb: read the candidates' metadata ------------------------------------------

    def _by_metadata(
        self,
        reader: ReadsMetadata,
        study: str,
        series: str,
        classes: set[str],
        targets: set[str],
    ) -> None:
        """Want the objects of ``series`` whose metadata references one of ``targets``."""
        run = self.run
        purpose = f"read the metadata of series {series} for objects referencing ours"
        items: list[tuple[Wanted, int, Origin]] = []
        for instance in run.executor.read_metadata(reader, study, series, purpose):
            summary = instance.summary
            if summary is None:
                LOGGER.info("%s", instance.error)
                continue
            uid = summary.sop_instance
            if uid in run.state.wanted or summary.sop_class not in classes:
                continue
            if not _references_any(summary.references, targets):
                continue
            run.dependent_uids.add(uid)
            wanted = Wanted(
                uid,
                sop_class=summary.sop_class,
                study=summary.study or study,
                series=summary.series or series,
            )
            items.append((wanted, 0, Origin(class_label(summary.sop_class), None)))
        if items:
            run.want(items)

    # -- elsewhere: retrieve the candidates and read them ----------------------------------

    def _by_candidates(
        self, study: str, modalities: set[str], targets: set[str], patient_id: str | None
    ) -> None:
        run = self.run
        rows = run.state.series_in(study, None)
        if rows is None:
            root = run.state.capabilities.query_root or Root.STUDY
            listing = series_listing(study, len(targets), root, patient_id)
            run.find(listing)
            rows = run.state.series_in(study, None) or ()
        methods = run.options.methods(run.state.capabilities)
        if not methods:
            run.executor.note("dependents not searched: the server offers no retrieve service")
            return
        classes = {c for m in modalities for c in REFERRER_CLASSES[m]}

        def accept(summary: ObjectSummary) -> bool:
            return summary.sop_class in classes and _references_any(summary.references, targets)

        self.held_back = run.claim(self.held_back, accept)  # read in an earlier round
        transport = run.executor.transport
        reader = transport if isinstance(transport, ReadsMetadata) else None
        for row in rows:
            if row.modality not in modalities or not row.series or row.series in self.series_read:
                continue
            self.series_read.add(row.series)
            why = metadata_first(row.modality, run.state.capabilities) if reader else None
            if reader is not None and why is not None:
                run.executor.note(why)
                self._by_metadata(reader, study, row.series, classes, targets)
                continue
            step = series_read(
                methods[0],
                study,
                row.series,
                row.modality,
                row.count,
                len(targets),
                run.state.capabilities.query_root or Root.STUDY,
                patient_id,
            )
            run.retrieve(step, accept=accept, hold=self.held_back)
