"""How dicomref sets up every SQLite connection to a catalog, with the standard library
alone (the SQLAlchemy engine and the ``sqlite3`` writer of a fetch share it)."""

from __future__ import annotations

import sqlite3
import time
from typing import Final

BUSY_TIMEOUT_MS: Final = 30_000
#: SQLite page cache per connection, in KiB: large scans insert into indexes bigger than
#: the 2 MiB default, at random places (SOP Instance UIDs).
CACHE_KIB: Final = 16_384
#: Page size of a new SQLite catalog (an existing one keeps its own): rows of files and
#: references carry long UIDs and paths; 16 KiB pages (SQLite's default is 4) split less
#: often as a scan fills the indexes, measured ~10% faster on bench/scan.py.
PAGE_SIZE: Final = 16_384


def set_up(cursor: sqlite3.Cursor) -> None:
    """The settings of a catalog connection: page size (a new file only), busy timeout,
    write-ahead log, ``synchronous = NORMAL``, foreign keys, the page cache."""
    cursor.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before WAL: only a new file takes it
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    journal_to_wal(cursor)
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")


def journal_to_wal(cursor: sqlite3.Cursor) -> None:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the file.

    Turning a new file to WAL needs it to itself, and SQLite answers "database is locked"
    at once, without waiting ``busy_timeout``, when another connection is creating the
    same new catalog (measured: ~1 in 10 of four threads opening one new catalog at once).
    Retried every 10 ms within the busy timeout; a file already in WAL answers at once."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
