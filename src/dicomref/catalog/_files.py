"""Indexing given files, and nothing else: the objects a fetch finds already in its store.

A fetch that was stopped (killed, a server gone) leaves objects in its store that it may
not have indexed yet; the next fetch reuses them, so it indexes them first.  Unlike a
scan, this walks no folder, removes no row and counts no duplicates: it says nothing about
files it was not given.  Files whose size and modification time match their row are not
read; the others are read with the scan's reader and written in batches (by worker
processes past :data:`~._reading.SMALL_SCAN` files, as a scan does).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine

from dicomref._filenames import printable_path
from dicomref.catalog._reading import ChunkReport, Failed, NotDicom, NotInstance, Reader, read_all
from dicomref.catalog._reports import ScanFailure
from dicomref.catalog._scan import _absolute, _rows_at
from dicomref.catalog._walk import stat_file
from dicomref.catalog._writer import Writer


@dataclass(frozen=True, slots=True)
class IndexedFiles:
    """What :meth:`~dicomref.catalog.Catalog.index_files` did: files read and indexed,
    files already indexed as they are, and files that could not be indexed (with why)."""

    indexed: int
    unchanged: int
    failed: tuple[ScanFailure, ...] = ()


def index_files(
    engine: Engine, reader: Reader, paths: Iterable[str | os.PathLike[str]], workers: int
) -> IndexedFiles:
    """Index ``paths`` (files) into the catalog of ``engine``; see the module docstring."""
    given = list(dict.fromkeys(_absolute(p) for p in paths))
    with engine.connect() as conn:
        known = {path: (size, mtime) for path, size, mtime, _ in _rows_at(conn, given)}
    to_read = [p for p in given if not _unchanged(p, known.get(p))]
    writer = Writer(engine)
    indexed = 0
    failed: list[ScanFailure] = []
    for outcome in read_all(reader, iter(to_read), workers, engine):
        if isinstance(outcome, Failed):
            failed.append(ScanFailure(outcome.path, outcome.error))
            writer.forget(outcome.path)
        elif isinstance(outcome, NotInstance | NotDicom):
            why = outcome.reason if isinstance(outcome, NotDicom) else "not a composite instance"
            failed.append(ScanFailure(outcome.path, f"{printable_path(outcome.path)}: {why}"))
            writer.forget(outcome.path)
        elif isinstance(outcome, ChunkReport):  # read and written by a worker
            indexed += outcome.indexed
            failed += [ScanFailure(f.path, f.error) for f in outcome.failed]
            failed += [
                ScanFailure(n.path, f"{printable_path(n.path)}: {n.reason}")
                for n in outcome.not_dicom
            ]
        else:
            writer.add(outcome)
            indexed += 1
    writer.flush()
    return IndexedFiles(indexed, len(given) - len(to_read), tuple(failed))


def _unchanged(path: str, row: tuple[int, int] | None) -> bool:
    if row is None:
        return False
    try:
        return stat_file(path) == row
    except OSError:
        return False  # reading it will say what is wrong
