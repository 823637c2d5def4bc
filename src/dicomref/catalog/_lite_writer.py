"""Writing a fetch's objects into a SQLite catalog with the standard library's ``sqlite3``.

A fetch writes little (the objects of one retrieve, once per retrieve; the node's
capabilities once), but through the :class:`~dicomref.catalog.Catalog` that costs
SQLAlchemy's import (~0.15-0.25 s of CPU) in the same interpreter that receives the
objects: on loopback, where receiving is CPU-bound, that import is paid in full.
:class:`LiteWriter` writes the same rows as the Catalog's ``add`` and
``save_capabilities`` (:class:`~._writer.Writer`'s SQL for SQLite: the patients, studies
and series upserted, filling only the columns a row lacks; each path's rows replaced, its
references with it; the references of each file), in one transaction per call, on a
catalog at the schema version :mod:`._lite` reads (it never creates or migrates one).

``tests/test_catalog_lite.py`` checks that both leave the same rows, column for column.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from dicomref._filenames import stored_path
from dicomref.catalog._lite import BUSY_TIMEOUT_S
from dicomref.catalog._rows import ObjectRows, to_rows
from dicomref.errors import CatalogError
from dicomref.model import ObjectSummary
from dicomref.remote.planner._capabilities import Capabilities

#: ``_schema.FILE_COLUMNS`` and ``REF_COLUMNS`` (a test checks they are the same).
FILE_COLUMNS: tuple[str, ...] = (
    "path",
    "size",
    "mtime_ns",
    "sop_class",
    "sop_instance",
    "study_uid",
    "series_uid",
    "patient_id",
    "modality",
    "frame_of_reference",
    "instance_number",
    "number_of_frames",
    "image_position",
    "image_orientation",
    "transfer_syntax",
    "content_date",
    "content_time",
    "label",
    "roi_count",
    "beam_count",
    "applicator_count",
    "dose_type",
    "dose_units",
    "dose_summation",
)
REF_COLUMNS: tuple[str, ...] = (
    "file_id",
    "source_uid",
    "target_uid",
    "target_class",
    "kind",
    "paths",
    "path_count",
    "study_hint",
    "series_hint",
    "frames",
    "segments",
    "is_instance",
)


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _filling(table: str, key: str, columns: tuple[str, ...], fill: tuple[str, ...]) -> str:
    """An upsert that fills the ``fill`` columns where the row has none, and changes
    nothing else (``_writer._insert_filling``)."""
    sets = ", ".join(f"{c} = coalesce({table}.{c}, excluded.{c})" for c in fill)
    where = " OR ".join(f"({table}.{c} IS NULL AND excluded.{c} IS NOT NULL)" for c in fill)
    return f"{_insert(table, columns)} ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {where}"


_PATIENT = _filling(
    "patients",
    "patient_id",
    ("patient_id", "patient_name", "birth_date", "sex"),
    ("birth_date", "sex"),
)
_STUDY = _filling(
    "studies",
    "study_uid",
    (
        "study_uid",
        "patient_id",
        "study_date",
        "description",
        "study_time",
        "accession_number",
        "study_id",
    ),
    ("study_time", "accession_number", "study_id"),
)
_SERIES = (
    _insert("series", ("series_uid", "study_uid", "modality", "description", "series_number"))
    + " ON CONFLICT DO NOTHING"
)
_DELETE = "DELETE FROM files WHERE path = ?"
_FILE = _insert("files", FILE_COLUMNS)
_ID = "SELECT id FROM files WHERE path = ?"
_REF = _insert("refs", REF_COLUMNS)
_CAPABILITIES = (
    _insert("node_capabilities", ("node_key", "capabilities", "measured_at", "dicomref_version"))
    + " ON CONFLICT (node_key) DO UPDATE SET capabilities = excluded.capabilities, "
    "measured_at = excluded.measured_at, dicomref_version = excluded.dicomref_version"
)


class LiteWriter:
    """Writes objects and capabilities into the SQLite catalog at ``path`` (one that
    :class:`~._lite.LiteReader` reads: created and migrated by the Catalog)."""

    def __init__(self, path: Path) -> None:
        self._name = str(path)
        self._conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA foreign_keys = ON")  # a file's references go with it

    def close(self) -> None:
        self._conn.close()

    def add(self, summaries: Iterable[ObjectSummary]) -> int:
        """As :meth:`Catalog.add <dicomref.catalog.Catalog.add>`: how many were written."""
        objects: dict[str, ObjectRows] = {}
        for summary in summaries:
            rows = to_rows(summary)
            objects[rows[0][0]] = rows
        if not objects:
            return 0
        patients: dict[str, tuple[object, ...]] = {}
        studies: dict[str, tuple[object, ...]] = {}
        series: dict[str, tuple[object, ...]] = {}
        for _, patient, study, series_row, _ in objects.values():
            if patient is not None:
                patients.setdefault(patient[0], patient)
            studies.setdefault(study[0], study)
            series.setdefault(series_row[0], series_row)
        with self._transaction("add objects to the catalog") as conn:
            conn.executemany(_PATIENT, [patients[k] for k in sorted(patients)])
            conn.executemany(_STUDY, [studies[k] for k in sorted(studies)])
            conn.executemany(_SERIES, [series[k] for k in sorted(series)])
            stored = [(stored_path(path), rows) for path, rows in objects.items()]
            conn.executemany(_DELETE, [(path,) for path, _ in stored])
            conn.executemany(_FILE, [(path, *rows[0][1:]) for path, rows in stored])
            for path, rows in stored:
                if rows[4]:
                    (file_id,) = conn.execute(_ID, (path,)).fetchone()
                    conn.executemany(_REF, [(file_id, *ref) for ref in rows[4]])
        return len(objects)

    def save_capabilities(self, node_key: str, caps: Capabilities) -> None:
        """As :meth:`Catalog.save_capabilities <dicomref.catalog.Catalog.save_capabilities>`."""
        from dicomref import __version__

        measured_at = caps.measured_at or datetime.now(UTC).isoformat(timespec="seconds")
        with self._transaction("save the capabilities of a server") as conn:
            conn.execute(_CAPABILITIES, (node_key, caps.to_json(), measured_at, __version__))

    def _transaction(self, action: str) -> _Transaction:
        return _Transaction(self._conn, self._name, action)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error); sqlite3 errors as CatalogError."""

    def __init__(self, conn: sqlite3.Connection, name: str, action: str) -> None:
        self._conn, self._name, self._action = conn, name, action

    def __enter__(self) -> sqlite3.Connection:
        self._guard(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        return self._conn

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self._guard(lambda: self._conn.execute("COMMIT"))
            return
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise self._error(exc) from exc

    def _guard(self, step: Callable[[], object]) -> None:
        try:
            step()
        except sqlite3.Error as error:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise self._error(error) from error

    def _error(self, error: sqlite3.Error) -> CatalogError:
        return CatalogError(
            f"catalog {self._name}: cannot {self._action}: {error}; another process may be "
            "writing to it (retry when it has finished), or check that it is writable"
        )
