"""Reading a SQLite catalog with the standard library's ``sqlite3``: the lookups a fetch makes.

A fetch asks the catalog a few things before its first request (what it learnt about the
node, where the objects it wants were indexed, which of them are still here); with
SQLAlchemy that costs ~0.2 s of imports before anything goes on the wire.  :class:`LiteReader`
answers those questions on a SQLite file with the same SQL as :mod:`._queries` (same
tables, same order, same value objects through :mod:`._rows`), over a read-only
connection: it never writes, and it never migrates.  It is used only when the file is at
exactly the schema version it was written for (:data:`SCHEMA_VERSION`; a test checks it is
the latest); otherwise the caller opens the :class:`~dicomref.catalog.Catalog`, which
migrates.  PostgreSQL catalogs always go through the Catalog.

``tests/test_catalog_lite.py`` checks that both answer alike on scanned catalogs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Any

from dicomref._filenames import os_path
from dicomref.catalog._rows import to_references, to_summary
from dicomref.errors import CatalogError, UsageError
from dicomref.model import ObjectSummary, Reference
from dicomref.remote.planner._capabilities import Capabilities

#: The schema version these queries are written for (``_migrations.LATEST`` when written).
SCHEMA_VERSION = 7

BUSY_TIMEOUT_S = 30.0

_SUMMARY = """
SELECT files.id, files.path, files.size, files.mtime_ns, files.sop_class,
       files.sop_instance, files.study_uid, files.series_uid, files.transfer_syntax,
       files.patient_id, patients.patient_name, files.modality, files.frame_of_reference,
       studies.study_date, studies.description AS study_description,
       series.description AS series_description, series.series_number,
       files.instance_number, files.number_of_frames, files.image_position,
       files.image_orientation, studies.study_time, studies.accession_number,
       studies.study_id, patients.birth_date, patients.sex, files.content_date,
       files.content_time, files.label, files.roi_count, files.beam_count,
       files.applicator_count, files.dose_type, files.dose_units, files.dose_summation
FROM files
LEFT OUTER JOIN patients ON files.patient_id = patients.patient_id
LEFT OUTER JOIN studies ON files.study_uid = studies.study_uid
LEFT OUTER JOIN series ON files.series_uid = series.series_uid
"""
_LOCATE = _SUMMARY + "WHERE files.sop_instance = ? ORDER BY files.id"
_SERIES = (
    _SUMMARY + "WHERE files.series_uid = ? "
    "ORDER BY files.instance_number IS NULL, files.instance_number, files.path"
)
_REFS_FROM = (
    "SELECT * FROM refs WHERE refs.file_id IN "
    "(SELECT files.id FROM files WHERE files.sop_instance = ?) ORDER BY refs.id"
)
_REFERRERS = "SELECT * FROM refs WHERE refs.target_uid = ? ORDER BY refs.id"
_CAPABILITIES = "SELECT capabilities, dicomref_version FROM node_capabilities WHERE node_key = ?"


def bare(uid: str) -> str:
    """``uid`` without padding (as :func:`dicomref.catalog._catalog.bare`)."""
    return uid.strip(" \0")


class LiteReader:
    """Read-only lookups on the SQLite catalog at ``path`` (see the module's docstring).

    Open it with :meth:`open`, which says None when this reader cannot answer for the
    file (missing, not a catalog, another schema version): use the Catalog then.
    """

    def __init__(self, connection: sqlite3.Connection | None, name: str) -> None:
        self._conn = connection
        self._name = name

    @classmethod
    def of_nothing(cls, path: Path) -> LiteReader:
        """The reader of a catalog not created yet at ``path``: it holds nothing, so every
        lookup is answered empty (the Catalog creates the file on the first write)."""
        return cls(None, str(path))

    @classmethod
    def open(cls, path: Path) -> LiteReader | None:
        """A reader of the catalog at ``path``, or None if it cannot answer for it."""
        if not path.is_file():
            return None
        try:
            conn = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=ro",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                check_same_thread=False,
            )
        except sqlite3.Error:
            return None
        conn.row_factory = sqlite3.Row
        try:
            (version,) = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        except sqlite3.Error:
            conn.close()
            return None
        if version != SCHEMA_VERSION:
            conn.close()
            return None
        return cls(conn, str(path))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def __enter__(self) -> LiteReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _rows(self, query: str, value: str) -> list[sqlite3.Row]:
        if self._conn is None:
            return []
        try:
            return self._conn.execute(query, (value,)).fetchall()
        except sqlite3.Error as error:
            raise CatalogError(
                f"catalog {self._name}: cannot read the catalog: {error}; check that the "
                "file is a dicomref catalog and readable (--db or DICOMREF_DB)"
            ) from error

    def _summaries(self, query: str, value: str) -> list[ObjectSummary]:
        return [to_summary(_with_os_path(row)) for row in self._rows(query, value)]

    def _references(self, query: str, value: str) -> list[Reference]:
        rows = self._rows(query, value)
        found = (r for row in rows for r in to_references(dict(zip(row.keys(), row, strict=True))))
        return list(dict.fromkeys(found))

    def locate(self, sop_uid: str) -> list[ObjectSummary]:
        """As :meth:`Catalog.locate <dicomref.catalog.Catalog.locate>`."""
        return self._summaries(_LOCATE, bare(sop_uid))

    def series_instances(self, series_uid: str) -> list[ObjectSummary]:
        """As :meth:`Catalog.series_instances <dicomref.catalog.Catalog.series_instances>`."""
        return self._summaries(_SERIES, bare(series_uid))

    def references_from(self, sop_uid: str) -> list[Reference]:
        """As :meth:`Catalog.references_from <dicomref.catalog.Catalog.references_from>`."""
        return self._references(_REFS_FROM, bare(sop_uid))

    def referrers(self, target_uid: str) -> list[Reference]:
        """As :meth:`Catalog.referrers <dicomref.catalog.Catalog.referrers>`."""
        return self._references(_REFERRERS, bare(target_uid))

    def load_capabilities(self, node_key: str) -> Capabilities | None:
        """As :meth:`Catalog.load_capabilities <dicomref.catalog.Catalog.load_capabilities>`."""
        rows = self._rows(_CAPABILITIES, node_key)
        if not rows:
            return None
        row = rows[0]
        try:
            return Capabilities.from_json(row["capabilities"])
        except UsageError as exc:
            raise CatalogError(
                f"the capabilities cached for {node_key} (measured by dicomref "
                f"{row['dicomref_version']}) cannot be read: {exc}; probe it again "
                f"(dicomref probe {node_key})"
            ) from exc


def _with_os_path(row: sqlite3.Row) -> dict[str, Any]:
    """The row as a mapping, its stored path turned back into the file's name."""
    mapping = dict(zip(row.keys(), row, strict=True))
    mapping["path"] = os_path(mapping["path"])
    return mapping
