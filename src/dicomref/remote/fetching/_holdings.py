"""What is already here before anything is asked of a server: rung 1 of the ladder.

Three sources, first hit wins: objects this run has read (start files, objects fetched
now), the output store (a rerun of an interrupted fetch skips what arrived), and the
catalog (an indexed file that is still there).  With a catalog, :meth:`Holdings.index_store`
first indexes the store's files the catalog lacks (those an interrupted fetch wrote but had
not indexed yet: reused unindexed, they would leave references dangling), and the catalog
then answers for the store; without one, the store's files are read once, headers only, on
first use.  Holding folders left by a fetch that was killed are removed there too.

The catalog also gives location hints for a bare UID: where the object was when it was
indexed (its file may be gone), or what the objects that reference it say.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from dicomref.errors import DicomReadError
from dicomref.extraction import read_object
from dicomref.model import ObjectSummary
from dicomref.remote.planner._wanted import Wanted
from dicomref.store import ManagedStore

if TYPE_CHECKING:
    from dicomref.catalog._deferred import FetchCatalog  # a Catalog or a DeferredCatalog
    from dicomref.catalog._files import IndexedFiles

LOGGER = logging.getLogger(__name__)


class Holdings:
    """Objects already held locally, with their references (for the closure)."""

    def __init__(self, store: ManagedStore, catalog: FetchCatalog | None) -> None:
        self.store = store
        self.catalog = catalog
        self._known: dict[str, ObjectSummary] = {}
        self._store_index: dict[str, ObjectSummary] | None = None
        self._series: dict[str, dict[str, list[ObjectSummary]]] = {}

    def add(self, summary: ObjectSummary) -> None:
        """An object read in this run (a start file, an object just fetched)."""
        self._known.setdefault(summary.sop_instance, summary)

    def lookup(self, uid: str, series: str | None = None) -> ObjectSummary | None:
        """The local copy of ``uid`` with its references, or None.

        With ``series`` (where a reference says the object is), the catalog is asked for
        that series' files once, and ``uid`` looked up among them: one query per series
        instead of one per object (a fetch wants hundreds of slices of a few series).
        """
        known = self._known.get(uid)
        if known is not None:
            return known
        stored = self._stored().get(uid)
        if stored is not None:
            return stored
        return self._catalogued(uid, series)

    def hints(self, uid: str) -> Wanted:
        """``uid`` with what the catalog knows of where it lives (nothing: no hints)."""
        return catalog_hints(self.catalog, uid)

    def index_store(self) -> IndexedFiles | None:
        """Index the store's objects in the catalog (only those it lacks or holds stale),
        after removing the holding folders of fetches that are no longer running; from
        then on the catalog answers for the store.  None without a catalog or a store."""
        if self.catalog is None or not self.store.root.is_dir():
            return None
        remove_stale_holdings(self.store.root)
        result = self.catalog.index_files(stored_files(self.store.root))
        for failure in result.failed:
            LOGGER.warning("ignoring an unreadable file in the store: %s", failure.error)
        self._store_index = {}  # the catalog answers for the store
        self._series.clear()
        return result

    def _catalogued(self, uid: str, series: str | None) -> ObjectSummary | None:
        if self.catalog is None:
            return None
        in_series = self._series_files(series).get(uid, []) if series else None
        for summary in self.catalog.locate(uid) if in_series is None else in_series:
            if Path(summary.path).is_file():
                references = tuple(self.catalog.references_from(uid))
                return dataclasses.replace(summary, references=references)
        return None

    def _series_files(self, series: str) -> dict[str, list[ObjectSummary]]:
        """The catalog's files of ``series`` by SOP Instance UID (read once per series)."""
        files = self._series.get(series)
        if files is None and self.catalog is not None:
            files = {}
            for summary in self.catalog.series_instances(series):
                files.setdefault(summary.sop_instance, []).append(summary)
            self._series[series] = files
        return files or {}

    def _stored(self) -> dict[str, ObjectSummary]:
        if self._store_index is None:
            self._store_index = {}
            if self.store.root.is_dir():
                for path in stored_files(self.store.root):
                    try:
                        summary = read_object(path)
                    except DicomReadError as exc:
                        LOGGER.warning("ignoring an unreadable file in the store: %s", exc)
                        continue
                    self._store_index.setdefault(summary.sop_instance, summary)
        return self._store_index


def stored_files(root: Path) -> list[Path]:
    """The objects in a store: its ``*.dcm`` files, not those under hidden names (holding
    folders, temporary ``.*.part`` files)."""
    found = []
    for path in sorted(root.rglob("*.dcm")):
        if not any(part.startswith(".") for part in path.relative_to(root).parts):
            found.append(path)
    return found


#: How a fetch names the folder it holds arrivals in: ``.holding-<pid>-<random>``.
HOLDING_PREFIX = ".holding-"


def holding_prefix() -> str:
    """The prefix of this process's holding folders (see :func:`remove_stale_holdings`)."""
    return f"{HOLDING_PREFIX}{os.getpid()}-"


def remove_stale_holdings(root: Path) -> None:
    """Remove the holding folders in ``root`` whose fetch process is gone (killed before
    it could remove them); those of running processes are left alone."""
    for folder in root.glob(f"{HOLDING_PREFIX}*"):
        pid = folder.name.removeprefix(HOLDING_PREFIX).partition("-")[0]
        if folder.is_dir() and not (pid.isdigit() and _running(int(pid))):
            LOGGER.info("removing %s, left by a fetch that was stopped", folder)
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def catalog_hints(catalog: FetchCatalog | None, uid: str) -> Wanted:
    """``uid`` with where the catalog last saw it (its file may be gone since), merged with
    what the indexed objects that reference it say; no hints without a catalog."""
    wanted = Wanted(uid)
    if catalog is None:
        return wanted
    for summary in catalog.locate(uid):
        wanted = wanted.merged(
            Wanted(
                uid,
                sop_class=summary.sop_class,
                study=summary.study,
                series=summary.series,
                patient_id=summary.patient_id,
                source_study=summary.study,
            )
        )
    for reference in catalog.referrers(uid):
        if not reference.instance:
            continue
        sources = catalog.locate(reference.source)
        source = sources[0] if sources else None
        wanted = wanted.merged(
            Wanted.from_reference(
                reference,
                source_study=source.study if source else None,
                patient_id=source.patient_id if source else None,
            )
        )
    return wanted
