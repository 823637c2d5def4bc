"""The :class:`Catalog`: the local index of DICOM files and the references between them."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Connection, exc

from dicomref.catalog import _nodes, _queries
from dicomref.catalog._engine import WRITE, default_url, masked, open_engine, translating
from dicomref.catalog._files import IndexedFiles, index_files
from dicomref.catalog._migrations import migrate
from dicomref.catalog._reading import Reader
from dicomref.catalog._reports import DuplicateGroup, ScanProgress, ScanReport, SeriesSummary
from dicomref.catalog._rows import ObjectRows, to_rows
from dicomref.catalog._scan import DicomdirLister, Scan
from dicomref.catalog._writer import Keep, Known, Statements, Writer
from dicomref.errors import NotInCatalogError, UsageError
from dicomref.model import Kind, ObjectSummary, Reference
from dicomref.remote.planner._capabilities import Capabilities

if TYPE_CHECKING:
    from dicomref.extraction import ReadLimits

log = logging.getLogger(__name__)


def bare(uid: str) -> str:
    """``uid`` without the padding some writers and tools leave on it (spaces, NULs): UIDs
    are stored bare, so lookups match whatever the caller copied."""
    return uid.strip(" \0")


def _file_readers() -> tuple[Reader, DicomdirLister]:
    # Imported when a scan needs it: queries need no pydicom.
    from dicomref.extraction import dicomdir_files, read_object_apart

    return read_object_apart, dicomdir_files


def _cpus() -> int:
    """CPUs this process may run on (a container's share, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class Catalog:
    """The local index: which file holds which object, and what references what.

    Opening a catalog creates the database if needed and migrates it to the schema this
    code uses; a catalog written by a newer dicomref raises CatalogVersionError.  Database
    errors come out as :class:`~dicomref.errors.CatalogError` naming the catalog.

    Usable as a context manager; :meth:`close` releases the connections.
    """

    def __init__(self, url: str | None = None) -> None:
        self._url = url or default_url()
        self._engine = open_engine(self._url)
        self._reader = (
            self._engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._engine.dialect.name == "postgresql"
            else self._engine
        )
        self._statements: Statements | None = None
        #: The patients, studies and series :meth:`add_unless_held` wrote or found.
        self._received = Known()
        try:
            with translating(self._url, "open and migrate the catalog"):
                migrate(self._engine, self._url)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def url(self) -> str:
        """The database URL as given, password included (``repr()`` masks it)."""
        return self._url

    def __repr__(self) -> str:
        return f"Catalog({masked(self._url)!r})"

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _read(self) -> Connection:
        """A connection for reading: on PostgreSQL in autocommit mode, which saves the BEGIN
        and ROLLBACK round trips of a transaction (under READ COMMITTED each statement
        sees its own snapshot either way): locate measured 636 → 242 us.  Never write
        through it (see :meth:`_write`)."""
        return self._reader.connect()

    def _write(self) -> Connection:
        """A connection whose ``begin()`` is a real transaction (set WRITE on it)."""
        return self._engine.connect()

    # -- writing ---------------------------------------------------------------------------

    def scan(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        workers: int | None = None,
        progress: Callable[[ScanProgress], None] | None = None,
        limits: ReadLimits | None = None,
        cluster: str | None = None,
    ) -> ScanReport:
        """Index files, folders (recursively) and DICOMDIRs; incremental, parallel.

        A file whose size and modification time match its catalog row is not read again;
        changed files are re-read and their rows replaced; files gone from a scanned folder
        are removed.  A DICOMDIR given here (a file named DICOMDIR, in any case) indexes the
        files it lists; one met in a folder counts as not an instance (its files are
        reached by the walk).  Files that cannot
        be read are listed in the report and the scan goes on.  ``workers`` processes read
        files and write their rows, in turns (default: one per CPU); ``progress`` is called at
        most every 0.1 s.  ``limits`` bounds what reading one file may take (default:
        :class:`~dicomref.extraction.ReadLimits`'s); a file past them fails alone.

        With ``cluster`` (a Dask scheduler's address, ``tcp://host:8786``; needs
        ``dicomref[cluster]``), the files are read and written by the cluster's workers, in
        batches recorded in the catalog's ledger: a rerun skips the batches done
        (``workers`` is then unused; the workers must reach the files by the same paths, and
        the catalog by its URL).  Raises ClusterError when the cluster cannot be used.

        Raises UsageError for a path that does not exist (before anything is done).
        """
        if workers is not None and workers < 1:
            raise UsageError(f"workers must be at least 1, not {workers}")
        reader, lister = _file_readers()
        if limits is not None:
            from dicomref.extraction import read_object_apart

            reader = functools.partial(read_object_apart, limits=limits)
        scan: Scan
        if cluster is not None:
            from dicomref.catalog._cluster import ClusterScan

            scan = ClusterScan(
                self._engine, self._url, cluster, reader=reader, lister=lister, progress=progress
            )
        else:
            scan = Scan(
                self._engine,
                reader=reader,
                lister=lister,
                workers=workers or _cpus(),
                progress=progress,
            )
        with translating(self._url, "write the scan to the catalog"):
            return scan.run(paths)

    def index_files(
        self, paths: Iterable[str | os.PathLike[str]], *, workers: int | None = None
    ) -> IndexedFiles:
        """Index these files (not folders), reading only those new or changed since their
        row; nothing else is touched (no row removed).  What fetch does with the objects it
        finds in its store.  Files that cannot be indexed are listed, not raised."""
        reader, _ = _file_readers()
        with translating(self._url, "index files in the catalog"):
            return index_files(self._engine, reader, paths, workers or _cpus())

    def add(self, summaries: Iterable[ObjectSummary]) -> int:
        """Index objects already read (by fetch or serve); returns how many were written.

        Rows of the same paths are replaced.  Nothing is removed.
        """
        with translating(self._url, "add objects to the catalog"):
            if self._statements is None:
                self._statements = Statements.of(self._engine)
            writer = Writer(self._engine, statements=self._statements)
            for summary in summaries:
                writer.add(to_rows(summary))
            writer.flush()
            return writer.files_written

    def add_unless_held(
        self, summaries: Sequence[ObjectSummary], unless_held: Sequence[bool]
    ) -> list[bool]:
        """Index objects received by a server, in one transaction; per summary, whether it
        was written.  A summary whose ``unless_held`` is true is skipped when a file at
        another path holds its SOP Instance UID already.  The check runs inside the write,
        under a lock per UID, so that processes sharing the catalog (several ``serve`` on
        one PostgreSQL database) never both index one object.
        """
        from dicomref.catalog._held import unless_held as keep_unheld

        if len(summaries) != len(unless_held):
            raise ValueError("add_unless_held: one unless_held flag per summary")
        checked = {s.path for s, check in zip(summaries, unless_held, strict=True) if check}
        rows = [to_rows(summary) for summary in summaries]
        held: set[str] = set()
        with translating(self._url, "add objects to the catalog"):
            if self._statements is None:
                self._statements = Statements.of(self._engine)
            try:
                self._add_rows(rows, keep_unheld(checked, held))
            except exc.IntegrityError:
                if not self._received:
                    raise
                # Taken as written, a patient, study or series may have been pruned by
                # another process (a scan): written again from scratch, once.
                self._received.forget()
                held.clear()
                self._add_rows(rows, keep_unheld(checked, held))
        return [s.path not in held for s in summaries]

    def _add_rows(self, rows: Sequence[ObjectRows], keep: Keep) -> None:
        """One transaction of :meth:`add_unless_held`."""
        writer = Writer(self._engine, statements=self._statements, keep=keep, known=self._received)
        for row in rows:
            writer.add(row)
        writer.flush()

    # -- reading ---------------------------------------------------------------------------

    def locate(self, sop_uid: str) -> list[ObjectSummary]:
        """Every indexed file holding ``sop_uid``, oldest row first; [] if none.

        The summaries carry no references (``references == ()``): use :meth:`get` or
        :meth:`references_from` for those.
        """
        with translating(self._url, "read the catalog"), self._read() as conn:
            return [summary for _, summary in _queries.locate(conn, bare(sop_uid))]

    def get(self, sop_uid: str) -> ObjectSummary:
        """The first file holding ``sop_uid``, with its references.

        Raises NotInCatalogError when no indexed file holds it.
        """
        with translating(self._url, "read the catalog"), self._read() as conn:
            found = _queries.locate(conn, bare(sop_uid))
            if not found:
                raise NotInCatalogError(sop_uid)
            file_id, summary = found[0]
            references = tuple(_queries.references_of_file(conn, file_id))
        return dataclasses.replace(summary, references=references)

    def references_from(self, sop_uid: str) -> list[Reference]:
        """What the object ``sop_uid`` references (every file holding it; each once).

        [] when no indexed file holds ``sop_uid`` (or it references nothing).
        """
        with translating(self._url, "read the catalog"), self._read() as conn:
            return _queries.references_from(conn, bare(sop_uid))

    def referrers(self, target_uid: str) -> list[Reference]:
        """References to ``target_uid`` from indexed files (each once); held or not."""
        with translating(self._url, "read the catalog"), self._read() as conn:
            return _queries.referrers(conn, bare(target_uid))

    def dangling(self) -> list[Reference]:
        """References to stored objects (``instance`` True) that no indexed file holds."""
        with translating(self._url, "read the catalog"), self._read() as conn:
            return _queries.dangling(conn)

    def references_of_kind(self, *kinds: Kind) -> list[Reference]:
        """Every indexed reference of one of ``kinds`` (each once), in the order indexed."""
        with translating(self._url, "read the catalog"), self._read() as conn:
            return _queries.references_of_kind(conn, kinds)

    def duplicates(self, *, compare: bool = True) -> list[DuplicateGroup]:
        """SOP Instance UIDs held by more than one file, in UID order.

        With ``compare`` (the default) the files of each group are compared: sizes first,
        then SHA-256 of their bytes, cached in the catalog while the file is unchanged.
        """
        with translating(self._url, "read the catalog"), self._read() as conn:
            rows = list(_queries.duplicate_rows(conn))
        hashes: dict[int, str] = {}  # computed now: cached below, if the catalog lets us
        groups = _queries.duplicates(rows, compare=compare, hashes=hashes)
        if hashes:
            try:
                with self._write() as conn:
                    conn.execution_options(**{WRITE: True})
                    with conn.begin():
                        _queries.store_hashes(conn, hashes)
            except exc.DBAPIError as error:  # a read-only or busy catalog: compare again later
                log.debug("content hashes not cached in %s: %s", masked(self._url), error)
        return groups

    def series_instances(self, series_uid: str) -> list[ObjectSummary]:
        """The files of a series (without references), by instance number then path."""
        with translating(self._url, "read the catalog"), self._read() as conn:
            return _queries.series_instances(conn, bare(series_uid))

    def study_series(self, study_uid: str) -> list[SeriesSummary]:
        """The series of a study as its indexed files say, by series number."""
        with translating(self._url, "read the catalog"), self._read() as conn:
            return _queries.study_series(conn, bare(study_uid))

    def instances(
        self, *, sop_class: str | None = None, modality: str | None = None
    ) -> Iterator[ObjectSummary]:
        """Every indexed file (without references), optionally of one class or modality.

        Streams in pages: no connection is held between pages, so the caller may query
        the catalog while iterating.
        """
        after = 0
        while True:
            with translating(self._url, "read the catalog"), self._read() as conn:
                page = _queries.instances_page(conn, after, sop_class, modality)
            for _, summary in page:
                yield summary
            if len(page) < _queries.PAGE:
                return
            after = page[-1][0]

    def counts(self) -> dict[str, int]:
        """Rows per kind: patients, studies, series, instances (distinct UIDs), files,
        references."""
        with translating(self._url, "read the catalog"), self._read() as conn:
            return _queries.counts(conn)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for read queries the methods here do not offer, built over
        :mod:`dicomref.catalog.schema` (the Q/R server's C-FIND matching).

        Database errors raised inside the block become CatalogError; do not write through it.
        """
        with translating(self._url, "read the catalog"), self._read() as conn:
            yield conn

    # -- servers ---------------------------------------------------------------------------

    def save_capabilities(self, node_key: str, caps: Capabilities) -> None:
        """Keep what the probe measured on ``node_key`` (``AE@host:port``), replacing the
        last measurement."""
        with translating(self._url, "save the capabilities of a server"), self._write() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                _nodes.save_capabilities(conn, node_key, caps)

    def load_capabilities(self, node_key: str) -> Capabilities | None:
        """What the probe last measured on ``node_key``, or None if it was never probed."""
        with translating(self._url, "read the catalog"), self._read() as conn:
            return _nodes.load_capabilities(conn, node_key)
