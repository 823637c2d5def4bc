"""A new SQLite catalog created with the standard library, from the frozen baseline, so
that a first fetch on a new catalog never loads SQLAlchemy (~0.2 s of imports and CPU in
the process that receives the objects).

The writer thread of a fetch's :class:`~._deferred.DeferredCatalog` calls :func:`create`
on its first write.  It sets the connection up as the Catalog's engine does
(:mod:`._sqlite_setup`), then, in one ``BEGIN IMMEDIATE`` transaction, runs
:data:`._baseline.STATEMENTS` and records :data:`._baseline.STEPS`, unless the file holds
tables already (another process created it first).  Only when the baseline is the schema
the ``sqlite3`` reader and writer are written for; otherwise the Catalog creates it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from dicomref.catalog import _baseline
from dicomref.catalog._lite import SCHEMA_VERSION
from dicomref.catalog._sqlite_setup import BUSY_TIMEOUT_MS, set_up


def lay_down(execute: Callable[[str, tuple[object, ...]], object]) -> int:
    """Run :data:`._baseline.STATEMENTS` and record :data:`._baseline.STEPS` through
    ``execute(sql, parameters)`` (a ``sqlite3`` connection's ``execute``, or SQLAlchemy's
    ``exec_driver_sql``), in the caller's transaction; the version laid down."""
    for statement in _baseline.STATEMENTS:
        execute(statement, ())
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for version, description in _baseline.STEPS:
        execute(
            "INSERT INTO schema_migrations (version, applied_at, description) VALUES (?, ?, ?)",
            (version, now, description),
        )
    return _baseline.VERSION


def create(path: Path) -> bool:
    """Create the catalog at ``path`` from the baseline, unless a catalog is there
    already; whether the file is now a catalog at :data:`~._lite.SCHEMA_VERSION` (False:
    it holds something else, or another version: the Catalog must open it)."""
    if _baseline.VERSION != SCHEMA_VERSION:
        return False
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        set_up(conn.cursor())
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if not tables:
                version = lay_down(conn.execute)
            elif "schema_migrations" in tables:
                found = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
                version = int(found[0] or 0)
            else:
                version = -1
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()
    return version == SCHEMA_VERSION
