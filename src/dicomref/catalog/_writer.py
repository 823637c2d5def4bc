"""Writing files and their references in batches, one transaction per batch.

A batch replaces the rows of its paths: it deletes whatever rows those paths had (their
references go with them, ON DELETE CASCADE), inserts the new file rows, then the references
of the files that have any.  So a batch is idempotent, a process killed between batches
leaves a consistent catalog, and two scans writing the same path cannot clash.

The hot inserts are compiled once and run as DB-API ``executemany`` over plain tuples
(positional drivers such as sqlite3) or dicts (named ones): a few microseconds a row.
Patients, studies and series are inserted with ON CONFLICT DO NOTHING, once per key per
writer (an in-memory set remembers what is already there), sorted by key.

On PostgreSQL, files and references go in with ``COPY`` instead, and a file's rows are
upserted on its path rather than deleted and inserted again (see :mod:`._copy`): a replayed
batch changes no row, and concurrent writers of one path do not collide.

Writers in several processes of one scan share a :class:`Turn`: a writer whose batch is full
writes it if the turn is free, and otherwise queues on (reading more files meanwhile) until
it has :data:`PATIENCE` batches queued; only then does it wait.  Writers never meet in the
database's busy handler, which polls with sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Delete,
    Engine,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exc,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.dml import Insert

from dicomref._filenames import os_path, stored_path
from dicomref.catalog._engine import WRITE, wal_checkpoint
from dicomref.catalog._rows import ObjectRows, PatientRow, SeriesRow, StudyRow
from dicomref.catalog._schema import (
    FILE_COLUMNS,
    REF_COLUMNS,
    files,
    patients,
    refs,
    series,
    studies,
)

#: Files per transaction.
BATCH_FILES = 500
#: Reference rows per transaction (a structure set can hold thousands).
BATCH_REFS = 5_000
#: Bound parameters per IN list, well under every backend's limit.
IN_CHUNK = 500
#: Full batches a writer that shares its turn queues while another one writes.
PATIENCE = 4
#: Batches of up to this many files (a server's group commits) take statements made for a
#: few rows: one DELETE a path (not a list padded to IN_CHUNK); on PostgreSQL an upsert
#: of the rows themselves rather than COPY through a staging table (see :mod:`._copy`).
FEW = 32


class Known:
    """The patients, studies and series a writer knows the catalog holds: it upserts only
    the others.  A writer has its own; a server's writer, made anew for each group commit,
    keeps one across them (:meth:`forget` it when a write fails: another process may have
    pruned a row it names)."""

    __slots__ = ("patients", "series", "studies")

    def __init__(self) -> None:
        self.patients: set[str] = set()
        self.studies: set[str] = set()
        self.series: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.patients or self.studies or self.series)

    def forget(self) -> None:
        self.patients.clear()
        self.studies.clear()
        self.series.clear()


class Turn(Protocol):
    """A lock that writers of one scan share, so that they take turns instead of meeting in
    the database's busy handler (which sleeps); ``acquire(False)`` must not wait."""

    def acquire(self, block: bool = True, /) -> bool: ...
    def release(self) -> None: ...


class _Prepared:
    """An INSERT (or a DELETE) compiled once for the engine's dialect, run as executemany
    of row tuples."""

    def __init__(self, engine: Engine, insert: Insert | Delete, columns: Sequence[str]) -> None:
        compiled = insert.compile(dialect=engine.dialect, column_keys=list(columns))
        self.sql = str(compiled)
        self.columns = tuple(columns)
        order = compiled.positiontup if compiled.positional else None
        if order is not None and tuple(order) != self.columns:
            index = [self.columns.index(name) for name in order]
            self._convert: Callable[[tuple[Any, ...]], Any] | None = lambda row: tuple(
                row[i] for i in index
            )
        elif order is not None:
            self._convert = None
        else:
            names = self.columns
            self._convert = lambda row: dict(zip(names, row, strict=True))

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """executemany on the driver's cursor, in ``conn``'s transaction (through
        SQLAlchemy each statement cost ~30 us more: a server's group commit runs several
        for an object or two); driver errors come out as SQLAlchemy's."""
        if not rows:
            return
        params: list[Any] = list(rows) if self._convert is None else list(map(self._convert, rows))
        driver_error: type[Exception] = conn.dialect.loaded_dbapi.Error
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, params)
        except driver_error as error:
            raise exc.DBAPIError.instance(self.sql, params, error, driver_error) from error
        finally:
            cursor.close()


class _InPaths:
    """A statement on a list of paths (``… WHERE files.path IN (…)``), run as driver SQL
    compiled once, for lists of :data:`IN_CHUNK` paths (shorter lists repeat their last
    path), where the driver takes positional parameters (sqlite3): SQLAlchemy would render
    the list anew at each run, and a forked worker would compile it again.  Through
    SQLAlchemy otherwise.  Paths go in and (``paths_first``: as the first column of each
    row) come out as the file system has them, as through SQLAlchemy."""

    def __init__(
        self,
        engine: Engine,
        make: Callable[[BindParameter[Any]], Delete | Select[Any]],
        *,
        paths_first: bool = False,
    ) -> None:
        self._paths_first = paths_first
        self._statement = make(bindparam("paths", expanding=True))
        self._sql: str | None = None
        if engine.dialect.positional:
            statement = make(bindparam("paths", value=[""] * IN_CHUNK, expanding=True))
            compiled = statement.compile(
                dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
            )
            self._sql = str(compiled)

    def run(self, conn: Connection, paths: Sequence[str]) -> Iterable[Sequence[Any]]:
        """Run on up to IN_CHUNK paths."""
        if self._sql is None:
            return conn.execute(self._statement, {"paths": list(paths)})
        stored = [stored_path(p) for p in paths]
        padded = [*stored, *[stored[-1]] * (IN_CHUNK - len(stored))]
        result = conn.exec_driver_sql(self._sql, tuple(padded))
        if not self._paths_first:
            return result
        return [(os_path(row[0]), *row[1:]) for row in result]


def _insert_ignoring(engine: Engine, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING for the dialects we support."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # ~40 ms to import: only when used

        return postgresql.insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return table.insert()  # other backends: plain insert (the caches avoid most conflicts)


def _fills(table: Table, excluded: Any, fill: Sequence[str]) -> ColumnElement[bool]:
    """True where the new row has a value for a column the existing row lacks: only then is
    the row updated (a replay rewrites nothing)."""
    return or_(*(and_(table.c[n].is_(None), excluded[n].is_not(None)) for n in fill))


def _insert_filling(engine: Engine, table: Table, fill: Sequence[str]) -> Insert:
    """INSERT … ON CONFLICT DO UPDATE that fills the ``fill`` columns where the existing row
    has none (a row written before they existed, or from a file that lacked them), and
    changes nothing else: the first file of a study still decides its values.  A row that
    needs no filling is not touched."""
    keys = [c.name for c in table.primary_key.columns]
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=keys,
            set_={name: func.coalesce(table.c[name], pg.excluded[name]) for name in fill},
            where=_fills(table, pg.excluded, fill),
        )
    if engine.dialect.name == "sqlite":
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(
            index_elements=keys,
            set_={name: func.coalesce(table.c[name], lite.excluded[name]) for name in fill},
            where=_fills(table, lite.excluded, fill),
        )
    return table.insert()


#: Where the columns only RT objects fill (a label, counts, dose) begin in a file row, and
#: their values in a row that has none.
_UNNAMED = FILE_COLUMNS.index("label")
_NO_NAME = (None,) * (len(FILE_COLUMNS) - _UNNAMED)


def _stored_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A file row (path first) with its path as the catalog stores it."""
    path = row[0]
    stored = stored_path(path)
    return row if stored is path else (stored, *row[1:])


def _chunks(items: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Statements:
    """The writer's statements compiled for one engine.  Compiling them costs 2-15 ms,
    more than writing one object: a :class:`Writer` made per call (``Catalog.add`` from the
    server, once per received object) takes them ready-made, and :meth:`of` keeps them per
    dialect for the process (a library user's many catalogs, a fetch's first index).
    Immutable once built, so writers in several threads may share them."""

    _compiled: ClassVar[dict[tuple[str, str, object], Statements]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def of(cls, engine: Engine) -> Statements:
        """The statements for ``engine``'s dialect, compiled once per process."""
        dialect = engine.dialect
        key = (dialect.name, dialect.paramstyle, dialect.server_version_info)
        with cls._lock:
            found = cls._compiled.get(key)
        if found is None:
            found = cls(engine)
            with cls._lock:
                found = cls._compiled.setdefault(key, found)
        return found

    def __init__(self, engine: Engine) -> None:
        self.insert_file = _Prepared(engine, files.insert(), FILE_COLUMNS)
        self.insert_unnamed_file = _Prepared(engine, files.insert(), FILE_COLUMNS[:_UNNAMED])
        self.insert_ref = _Prepared(engine, refs.insert(), REF_COLUMNS)
        self.insert_patient = _Prepared(
            engine,
            _insert_filling(engine, patients, ("birth_date", "sex")),
            ("patient_id", "patient_name", "birth_date", "sex"),
        )
        self.insert_study = _Prepared(
            engine,
            _insert_filling(engine, studies, ("study_time", "accession_number", "study_id")),
            (
                "study_uid",
                "patient_id",
                "study_date",
                "description",
                "study_time",
                "accession_number",
                "study_id",
            ),
        )
        self.insert_series = _Prepared(
            engine,
            _insert_ignoring(engine, series),
            ("series_uid", "study_uid", "modality", "description", "series_number"),
        )
        self.delete_paths = _InPaths(engine, lambda p: delete(files).where(files.c.path.in_(p)))
        self.delete_path = _Prepared(
            engine, delete(files).where(files.c.path == bindparam("path")), ("path",)
        )
        self.ids_of = _InPaths(
            engine,
            lambda p: select(files.c.path, files.c.id).where(files.c.path.in_(p)),
            paths_first=True,
        )


Keep = Callable[[Connection, list[ObjectRows]], list[ObjectRows]]
"""Run first in each batch's transaction: which of the queued objects to write (the rest are
dropped).  A server's duplicate check (see :mod:`._held`)."""


class Writer:
    """Buffers rows and writes them in batches.  Call :meth:`flush` at the end.

    ``keep``, if given, chooses in each batch's transaction which objects to write;
    ``known``, the patients, studies and series to take as written already (shared with
    the caller, who keeps it across writers).
    """

    def __init__(
        self,
        engine: Engine,
        turn: Turn | None = None,
        statements: Statements | None = None,
        *,
        keep: Keep | None = None,
        known: Known | None = None,
    ) -> None:
        self._engine = engine
        self.turn = turn
        self._keep = keep
        st = statements or Statements.of(engine)
        self._insert_file = st.insert_file
        self._insert_unnamed_file = st.insert_unnamed_file
        self._insert_ref = st.insert_ref
        self._insert_patient = st.insert_patient
        self._insert_study = st.insert_study
        self._insert_series = st.insert_series
        self._delete_paths = st.delete_paths
        self._delete_path = st.delete_path
        self._ids_of = st.ids_of
        self._copy = engine.dialect.name == "postgresql"
        known = known if known is not None else Known()
        self._known_patients = known.patients
        self._known_studies = known.studies
        self._known_series = known.series
        self._objects: dict[str, ObjectRows] = {}
        self._forget: list[str] = []
        self._pending_refs = 0
        #: Totals written so far (committed); references count places, as Reference objects.
        self.files_written = 0
        self.refs_written = 0

    def add(self, rows: ObjectRows) -> None:
        """Queue one file's rows (replacing any earlier rows of the same path)."""
        self._objects[rows[0][0]] = rows
        self._pending_refs += len(rows[4])
        if len(self._objects) >= BATCH_FILES or self._pending_refs >= BATCH_REFS:
            self._flush_full()

    def forget(self, path: str) -> None:
        """Queue the removal of whatever rows ``path`` has (a file that no longer reads)."""
        self._forget.append(path)
        if len(self._forget) >= BATCH_FILES:
            self._flush_full()

    def _flush_full(self) -> None:
        """A batch is full: write it, or, while another writer has the turn, queue on up to
        :data:`PATIENCE` batches (waiting for the turn only then)."""
        if self.turn is None:
            self._write()
            return
        urgent = (
            len(self._objects) >= PATIENCE * BATCH_FILES
            or self._pending_refs >= PATIENCE * BATCH_REFS
            or len(self._forget) >= PATIENCE * BATCH_FILES
        )
        if self.turn.acquire(urgent):
            try:
                self._write()
            finally:
                self.turn.release()

    def flush(
        self, *, checkpoint: bool = False, also: Callable[[Connection], None] | None = None
    ) -> None:
        """Write everything queued in one transaction (waiting for the turn, if shared);
        with ``checkpoint``, then copy the SQLite write-ahead log into the database, in the
        same turn (so that no other writer's checkpoint is running).  ``also(conn)`` runs
        in that transaction, last (a cluster scan's ledger row), even with nothing queued."""
        if self.turn is not None:
            self.turn.acquire(True)
        try:
            self._write(also)
            if checkpoint:
                with self._engine.connect() as conn:
                    wal_checkpoint(conn)
        finally:
            if self.turn is not None:
                self.turn.release()

    def _write(self, also: Callable[[Connection], None] | None = None) -> None:
        if not self._objects and not self._forget and also is None:
            return
        objects = list(self._objects.values())
        new_patients: dict[str, PatientRow] = {}
        new_studies: dict[str, StudyRow] = {}
        new_series: dict[str, SeriesRow] = {}
        with self._engine.connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                if self._keep is not None:
                    objects = self._keep(conn, objects)
                for _, patient, study, series_row, _ in objects:
                    if patient is not None and patient[0] not in self._known_patients:
                        new_patients.setdefault(patient[0], patient)
                    if study[0] not in self._known_studies:
                        new_studies.setdefault(study[0], study)
                    if series_row[0] not in self._known_series:
                        new_series.setdefault(series_row[0], series_row)
                paths = [r[0][0] for r in objects]
                self._ensure(conn, new_patients, new_studies, new_series)
                if self._copy:
                    from dicomref.catalog import _copy  # psycopg: only for PostgreSQL

                    if len(objects) <= FEW:
                        _copy.write_few(conn, objects, self._forget)
                    else:
                        _copy.write_batch(conn, objects, self._forget)
                else:
                    self._delete(conn, paths + self._forget)
                    self._insert_files(conn, objects)
                    self._write_refs(conn, [r for r in objects if r[4]])
                if also is not None:
                    also(conn)
        ref_count = sum(ref[5] for r in objects for ref in r[4])  # path_count: places
        self._known_patients.update(new_patients)
        self._known_studies.update(new_studies)
        self._known_series.update(new_series)
        self.files_written += len(objects)
        self.refs_written += ref_count
        self._objects.clear()
        self._forget.clear()
        self._pending_refs = 0

    def _insert_files(self, conn: Connection, objects: list[ObjectRows]) -> None:
        """Insert the file rows: those without the fields only RT objects have (images,
        nearly all) without binding those columns (seven NULLs cost sqlite3 ~2 us a row,
        more than a tenth of writing it)."""
        named: list[tuple[Any, ...]] = []
        unnamed: list[tuple[Any, ...]] = []
        for r in objects:
            row = _stored_row(r[0])
            if row[_UNNAMED:] == _NO_NAME:
                unnamed.append(row[:_UNNAMED])
            else:
                named.append(row)
        self._insert_unnamed_file.run(conn, unnamed)
        self._insert_file.run(conn, named)

    def _delete(self, conn: Connection, paths: Sequence[str]) -> None:
        """Delete the rows of ``paths`` (references go with them)."""
        if len(paths) <= FEW:
            self._delete_path.run(conn, [(stored_path(p),) for p in paths])
            return
        for chunk in _chunks(paths):
            self._delete_paths.run(conn, chunk)

    def _ensure(
        self,
        conn: Connection,
        new_patients: dict[str, PatientRow],
        new_studies: dict[str, StudyRow],
        new_series: dict[str, SeriesRow],
    ) -> None:
        """Upsert the patients, studies and series, each sorted by key: concurrent writers
        then lock the same keys in the same order, and never deadlock."""
        self._insert_patient.run(conn, [new_patients[k] for k in sorted(new_patients)])
        self._insert_study.run(conn, [new_studies[k] for k in sorted(new_studies)])
        self._insert_series.run(conn, [new_series[k] for k in sorted(new_series)])

    def _write_refs(self, conn: Connection, with_refs: list[ObjectRows]) -> None:
        if not with_refs:
            return
        ids: dict[str, int] = {}
        for chunk in _chunks([r[0][0] for r in with_refs]):
            for row in self._ids_of.run(conn, chunk):
                ids[row[0]] = row[1]
        rows = [(ids[r[0][0]], *ref) for r in with_refs for ref in r[4]]
        self._insert_ref.run(conn, rows)
