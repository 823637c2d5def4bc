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
from typing import Final

from sqlalchemy import Connection, bindparam, select, text

from dicomref._filenames import os_path
from dicomref.catalog._rows import ObjectRows
from dicomref.catalog._schema import files

#: Every file holding one SOP Instance UID: compiled once, run once per UID checked (one
#: statement with an expanding IN list is rendered anew for every batch, which measured as a
#: quarter of the server's indexer thread with 4 associations storing at once).
_HOLDERS: Final = select(files.c.path).where(files.c.sop_instance == bindparam("uid"))
#: On PostgreSQL, where each statement is a round trip: the holders of every UID at once.
_HOLDERS_OF_ALL: Final = text(
    "SELECT sop_instance, path FROM files WHERE sop_instance = ANY(CAST(:uids AS text[]))"
)
#: Advisory locks on the UIDs' hashes, taken in hash order (the sorted subquery feeds them).
_LOCK: Final = text(
    "SELECT count(pg_advisory_xact_lock(key)) FROM "
    "(SELECT hashtextextended(uid, 0) AS key FROM unnest(CAST(:uids AS text[])) AS uid "
    "ORDER BY 1) AS keys"
)


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
        holders: dict[str, set[str]] = {uid: set() for uid in uids}
        if conn.dialect.name == "postgresql":
            conn.execute(_LOCK, {"uids": uids})
            for uid, path in conn.execute(_HOLDERS_OF_ALL, {"uids": uids}):
                holders[uid].add(os_path(path))
        else:
            for uid in uids:
                holders[uid].update(str(p) for (p,) in conn.execute(_HOLDERS, {"uid": uid}))
        for r in checked:
            if holders[r[0][4]] - {r[0][0]}:
                held.add(r[0][0])
        return [r for r in objects if r[0][0] not in held]

    return keep
