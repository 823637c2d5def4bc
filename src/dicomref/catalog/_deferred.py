"""A catalog for a fetch: lookups at once with ``sqlite3``, writes in the background.

``dicomref fetch`` opens its catalog with :func:`open_for_fetch`.  On a SQLite catalog at
the schema version this code reads (:class:`~._lite.LiteReader`), that gives a
:class:`DeferredCatalog`:

- the lookups (node capabilities, where objects were indexed, what references them, a
  series' files) are answered by the standard library's ``sqlite3``, read-only, so the
  first request goes out without SQLAlchemy (~0.2 s of imports);
- the writes (indexing what arrived, the node's capabilities) go to one writer thread,
  in order, while the fetch goes on; there :class:`~._lite_writer.LiteWriter` writes them
  with ``sqlite3`` too (the rows the Catalog writes), so a fetch on an existing SQLite
  catalog never loads SQLAlchemy (~0.2 s of CPU, which on loopback would compete with the
  receiving for the interpreter).  Nor does one on a catalog to create: the writer thread
  creates it with ``sqlite3`` from the frozen schema (:mod:`._lite_create`) on the first
  write, or, where that baseline is not the schema the writer knows, opens the
  :class:`~dicomref.catalog.Catalog`, which creates and migrates it.
  :meth:`DeferredCatalog.close` waits for the writes, and raises the first that failed as
  it was (a CatalogError);
- :meth:`DeferredCatalog.index_files` (objects an interrupted fetch left in the store) waits
  for the writes before it and runs in the caller's thread, as the Catalog's does.

A lookup reads what is committed: an object whose indexing is still queued is not found
by it, which is why a fetch looks first at what it holds in memory (the objects it read
and fetched), then at the store, and only then at the catalog.

A SQLite catalog that does not exist yet is read as empty, and created by the first write.
Any other URL (PostgreSQL, a catalog to migrate, one in a folder that does not exist) gets
the Catalog itself, which says at once what is wrong.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TypeVar

from dicomref.catalog._lite import LiteReader
from dicomref.catalog._lite_writer import LiteWriter
from dicomref.catalog._url import default_url, sqlite_file
from dicomref.model import ObjectSummary, Reference
from dicomref.remote.planner._capabilities import Capabilities

if TYPE_CHECKING:
    from dicomref.catalog._catalog import Catalog
    from dicomref.catalog._files import IndexedFiles

LOGGER = logging.getLogger(__name__)

T = TypeVar("T")


class FetchCatalog(Protocol):
    """What a fetch asks of its catalog: the :class:`~dicomref.catalog.Catalog` has it all,
    and so has :class:`DeferredCatalog`."""

    def locate(self, sop_uid: str) -> list[ObjectSummary]: ...

    def series_instances(self, series_uid: str) -> list[ObjectSummary]: ...

    def references_from(self, sop_uid: str) -> list[Reference]: ...

    def referrers(self, target_uid: str) -> list[Reference]: ...

    def load_capabilities(self, node_key: str) -> Capabilities | None: ...

    def save_capabilities(self, node_key: str, caps: Capabilities) -> None: ...

    def add(self, summaries: Iterable[ObjectSummary]) -> object: ...

    def index_files(
        self, paths: Iterable[str | os.PathLike[str]], *, workers: int | None = None
    ) -> IndexedFiles: ...


class Writes(Protocol):
    """What the writer thread writes through: the Catalog, or a :class:`LiteWriter`."""

    def add(self, summaries: Iterable[ObjectSummary]) -> object: ...

    def save_capabilities(self, node_key: str, caps: Capabilities) -> None: ...


class DeferredCatalog:
    """Reads through a :class:`LiteReader`, writes through a Catalog opened by a writer
    thread on the first write (see the module's docstring).  A context manager."""

    def __init__(
        self, url: str, reader: LiteReader, path: Path | None = None, *, new: bool = False
    ) -> None:
        self.url = url
        self._reader = reader
        self._path = path
        """The catalog's file, where its writes go through :class:`LiteWriter` (None: only
        through the Catalog)."""
        self._new = new
        """The file is to be created by the first write (:func:`._lite_create.create`)."""
        self._lite: LiteWriter | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()
        self._opening = threading.Lock()  # held while SQLAlchemy loads: not self._lock
        self._pending: list[Future[object]] = []

    def __repr__(self) -> str:
        return f"DeferredCatalog({self.url!r})"

    # -- reading: sqlite3, in the caller's thread --------------------------------------------

    def locate(self, sop_uid: str) -> list[ObjectSummary]:
        return self._reader.locate(sop_uid)

    def series_instances(self, series_uid: str) -> list[ObjectSummary]:
        return self._reader.series_instances(series_uid)

    def references_from(self, sop_uid: str) -> list[Reference]:
        return self._reader.references_from(sop_uid)

    def referrers(self, target_uid: str) -> list[Reference]:
        return self._reader.referrers(target_uid)

    def load_capabilities(self, node_key: str) -> Capabilities | None:
        return self._reader.load_capabilities(node_key)

    # -- writing: the Catalog, in the writer thread -------------------------------------------

    def add(self, summaries: Iterable[ObjectSummary]) -> None:
        """Index these objects (queued: written in order by the writer thread)."""
        batch = list(summaries)
        if batch:
            self._submit(lambda catalog: catalog.add(batch))

    def save_capabilities(self, node_key: str, caps: Capabilities) -> None:
        """Keep ``caps`` for ``node_key`` (queued)."""
        self._submit(lambda catalog: catalog.save_capabilities(node_key, caps))

    def index_files(
        self, paths: Iterable[str | os.PathLike[str]], *, workers: int | None = None
    ) -> IndexedFiles:
        """As the Catalog's, in this thread (it may fork readers), after the queued writes."""
        self.wait()
        return self._open().index_files(paths, workers=workers)

    def wait(self) -> None:
        """Wait for the queued writes; raise the first that failed."""
        with self._lock:
            pending, self._pending = self._pending, []
        errors = [e for e in (f.exception() for f in pending) if e is not None]
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Wait for the queued writes, release everything, raise the first write that failed."""
        try:
            self.wait()
        finally:
            with self._lock:
                writer, self._writer = self._writer, None
            if writer is not None:
                writer.shutdown(wait=True)
            if self._catalog is not None:
                self._catalog.close()
            if self._lite is not None:
                self._lite.close()
            self._reader.close()

    def __enter__(self) -> DeferredCatalog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        try:  # the error on the way out says more than a write that failed before it
            self.close()
        except Exception as error:  # noqa: BLE001 - logged; the error in flight is raised
            LOGGER.error("the catalog %s was not fully written: %s", self.url, error)

    def _submit(self, write: Callable[[Writes], object]) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="dicomref-catalog")
            self._pending.append(self._writer.submit(lambda: write(self._writes())))

    def _writes(self) -> Writes:
        """Where the queued writes go (in the writer thread): ``sqlite3`` for an existing
        catalog and for one it creates from the baseline, else the Catalog."""
        if self._path is None:
            return self._open()
        if self._lite is None:
            if self._new:
                from dicomref.catalog._lite_create import create

                self._new = False
                if not create(self._path):
                    self._path = None  # another version, made meanwhile: the Catalog's
                    return self._open()
            self._lite = LiteWriter(self._path)
        return self._lite

    def _open(self) -> Catalog:
        """The Catalog (SQLAlchemy), opened by whichever thread needs it first."""
        with self._opening:
            if self._catalog is None:
                from dicomref.catalog._catalog import Catalog

                self._catalog = Catalog(self.url)
            return self._catalog


def open_for_fetch(url: str | None = None) -> DeferredCatalog | Catalog:
    """The catalog at ``url`` (default: :func:`~._url.default_url`) for a fetch: a
    :class:`DeferredCatalog` where the standard library can read it, else the Catalog."""
    url = url or default_url()
    path = sqlite_file(url)
    if path is not None and not path.exists() and path.parent.is_dir():
        # a new catalog: read as empty, created from the baseline by the first write
        return DeferredCatalog(url, LiteReader.of_nothing(path), path, new=True)
    reader = LiteReader.open(path) if path is not None else None
    if reader is not None:
        return DeferredCatalog(url, reader, path)
    from dicomref.catalog._catalog import Catalog

    return Catalog(url)
