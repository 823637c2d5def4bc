"""Opening the database: the default URL, SQLite settings, write transactions, error mapping.

SQLite is set up on every new connection: 16 KiB pages (for a new file), WAL journal,
``synchronous=NORMAL`` (never OFF:
a crash may lose the last transactions, never corrupt the index), foreign keys on, and a
busy timeout so a second process waits for the writer instead of failing.  Python's
``sqlite3`` module is told to keep out of transaction control so that BEGIN is ours: DDL
then runs inside the migration's transaction, and writers take the lock up front
(``BEGIN IMMEDIATE``) instead of failing when they upgrade a read lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from dicomref.catalog._sqlite_setup import set_up
from dicomref.catalog._url import ENV_URL as ENV_URL  # where they were first: re-exported
from dicomref.catalog._url import default_url as default_url
from dicomref.errors import CatalogError

#: Execution option marking a connection whose transactions write.
WRITE = "dicomref_write"


def masked(url: str) -> str:
    """The URL with its password hidden, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<unparsable database URL>"


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _on_sqlite_begin)
    cursor = dbapi_connection.cursor()
    try:
        set_up(cursor)
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def wal_checkpoint(conn: Connection) -> None:
    """Copy what the SQLite write-ahead log holds into the database, without waiting for
    readers; the last connection to close does it anyway, but the caller may have a better
    moment.  Other databases: nothing to do."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def open_engine(url: str) -> Engine:
    """An engine for ``url``; raises CatalogError for a URL that cannot be used."""
    try:
        engine = create_engine(url)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
        raise CatalogError(
            f"cannot use catalog URL {masked(url)}: {error}. Give a URL such as "
            "sqlite:///path/to/catalog.sqlite or postgresql+psycopg://user@host/db "
            "(PostgreSQL needs: pip install 'dicomref[postgres]')"
        ) from error
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _advice(error: BaseException) -> str:
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return "another process is writing to the catalog; retry when it has finished"
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return "check that the folder exists and is writable, or choose another catalog (--db)"
    if "not a database" in text or "malformed" in text:
        return "the file is not a usable SQLite database; choose another catalog (--db)"
    if "unique" in text or "constraint" in text:
        return "another process may be indexing the same files at this moment: run the scan again"
    if "connect" in text or "password" in text or "authentication" in text:
        return "check the URL, that the server is running and that the credentials are right"
    return "check the catalog URL (--db or DICOMREF_DB) and that the database is reachable"


@contextmanager
def translating(url: str, action: str) -> Iterator[None]:
    """Turn database errors raised inside the block into CatalogError naming ``url``."""
    try:
        yield
    except (exc.SQLAlchemyError, sqlite3.Error) as error:
        cause = getattr(error, "orig", None) or error
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise CatalogError(
            f"catalog {masked(url)}: cannot {action}: {reason}; {_advice(cause)}"
        ) from error
