"""What the probe measured on each server, kept in ``node_capabilities`` (one row per node).

The node key is ``AE@host:port`` (``str(Node)``): the same server reached under another AE
title or address is another node, since servers answer per calling/called AE pair.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects import sqlite

from dicomref.catalog._schema import node_capabilities
from dicomref.errors import CatalogError, UsageError
from dicomref.remote.planner._capabilities import Capabilities


def _dicomref_version() -> str:
    from dicomref import __version__  # the package is fully imported by the time we write

    return __version__


def save_capabilities(conn: Connection, node_key: str, caps: Capabilities) -> None:
    """Replace the row of ``node_key`` (call inside a write transaction): one upsert on the
    key, so two processes saving the same node at once do not collide."""
    measured_at = caps.measured_at or datetime.now(UTC).isoformat(timespec="seconds")
    values = {
        "node_key": node_key,
        "capabilities": caps.to_json(),
        "measured_at": measured_at,
        "dicomref_version": _dicomref_version(),
    }
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # ~40 ms to import: only when used

        pg = postgresql.insert(node_capabilities).values(values)
        conn.execute(pg.on_conflict_do_update(index_elements=["node_key"], set_=pg.excluded))
        return
    if conn.dialect.name == "sqlite":
        lite = sqlite.insert(node_capabilities).values(values)
        conn.execute(lite.on_conflict_do_update(index_elements=["node_key"], set_=lite.excluded))
        return
    conn.execute(delete(node_capabilities).where(node_capabilities.c.node_key == node_key))
    conn.execute(insert(node_capabilities).values(values))


def load_capabilities(conn: Connection, node_key: str) -> Capabilities | None:
    """The capabilities last saved for ``node_key``, or None if it was never probed."""
    row = conn.execute(
        select(node_capabilities.c.capabilities, node_capabilities.c.dicomref_version).where(
            node_capabilities.c.node_key == node_key
        )
    ).first()
    if row is None:
        return None
    try:
        return Capabilities.from_json(row.capabilities)
    except UsageError as exc:
        raise CatalogError(
            f"the capabilities cached for {node_key} (measured by dicomref "
            f"{row.dicomref_version}) cannot be read: {exc}; probe it again "
            f"(dicomref probe {node_key})"
        ) from exc
