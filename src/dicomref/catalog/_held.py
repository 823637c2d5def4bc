"""The duplicate check of objects received by a server, made inside the write.

A server indexes a received object only if no other file holds its SOP Instance UID.  Made
on its own, before the write, that check lets two processes sharing a catalog both find the
UID free and both index it.  So it runs first in the writing transaction, after a lock on
each UID checked: on PostgreSQL a transaction-scoped advisory lock per UID, taken in one
order by every writer (no deadlock), held until commit; on SQLite the write transaction
itself is the lock (``BEGIN IMMEDIATE``: one writer at a time).  A second process then sees
the first one's row, or waits for its commit and sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Final

from sqlalchemy import Connection, exc

from dicomref._filenames import os_path
from dicomref.catalog._rows import ObjectRows

#: Every file holding one SOP Instance UID, run on the driver's cursor once per UID checked
#: (an expanding IN list is rendered anew for every batch, which measured as a quarter of
#: the server's indexer thread with 4 associations storing at once; and SQLAlchemy's own
#: execution costs ~30 us a statement).
_HOLDERS: Final = "SELECT path FROM files WHERE sop_instance = ?"
#: On PostgreSQL: advisory locks on the UIDs' hashes, taken in hash order (the sorted
#: subquery feeds them), then the holders of every UID at once (a statement of its own: it
#: takes its snapshot once the locks are held).  Not pipelined: psycopg's pipeline costs
#: more CPU (~80 us for the two) than the round trip it saves (~40 us of CPU for both).
_LOCK: Final = (
    "SELECT count(pg_advisory_xact_lock(key)) FROM "
    "(SELECT hashtextextended(uid, 0) AS key FROM unnest(CAST(%s AS text[])) AS uid "
    "ORDER BY 1) AS keys"
)
_HOLDERS_OF_ALL: Final = "SELECT sop_instance, path FROM files WHERE sop_instance = ANY(%s)"


def _holders(conn: Connection, uids: list[str]) -> dict[str, set[str]]:
    """The paths holding each of ``uids``, under the lock of each on PostgreSQL; driver
    errors come out as SQLAlchemy's."""
    holders: dict[str, set[str]] = {uid: set() for uid in uids}
    driver: Any = conn.connection.driver_connection
    driver_error: type[Exception] = conn.dialect.loaded_dbapi.Error
    sql = _HOLDERS
    try:
        if conn.dialect.name == "postgresql":
            with driver.cursor() as cur:
                sql = _LOCK
                cur.execute(_LOCK, (uids,))
                sql = _HOLDERS_OF_ALL
                cur.execute(_HOLDERS_OF_ALL, (uids,))
                for uid, path in cur.fetchall():
                    holders[uid].add(os_path(path))
            return holders
        cursor = driver.cursor()
        try:
            for uid in uids:
                for (path,) in cursor.execute(_HOLDERS, (uid,)):
                    holders[uid].add(os_path(path))
        finally:
            cursor.close()
    except driver_error as error:
        raise exc.DBAPIError.instance(sql, None, error, driver_error) from error
    return holders


def unless_held(
    checked_paths: Collection[str], held: set[str]
) -> Callable[[Connection, list[ObjectRows]], list[ObjectRows]]:
    """A writer's ``keep``: drops the objects at ``checked_paths`` whose SOP Instance UID a
    file at another path holds, adding their paths to ``held``."""

    def keep(conn: Connection, objects: list[ObjectRows]) -> list[ObjectRows]:
        checked = [r for r in objects if r[0][0] in checked_paths]
        uids = sorted({r[0][4] for r in checked})
        if not uids:
            return objects
        holders = _holders(conn, uids)
        for r in checked:
            if holders[r[0][4]] - {r[0][0]}:
                held.add(r[0][0])
        return [r for r in objects if r[0][0] not in held]

    return keep
