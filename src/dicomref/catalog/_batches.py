"""A cluster scan's unit of work, a batch of files, and the ledger of the batches written.

A batch is named by the SHA-256 of its files' paths, sizes and modification times, in order:
the same files unchanged give the same id, in any scan, from any client.  A task
(:func:`run_batch`, run on a cluster worker) reads the batch's files with the local scan's
reader and writes their rows with the local scan's :class:`~._writer.Writer`, the batch's
ledger row in the same transaction.  So a batch is in the ledger if and only if its rows are
all written, and a rerun (Dask runs a task again when its worker dies: at least once, never
exactly once) finds the row and writes nothing: the task first looks, then looks again
inside the write transaction, under the write lock (SQLite's ``BEGIN IMMEDIATE``, a
PostgreSQL advisory lock on the batch id), and rolls back if another run got there first.

Nothing here imports Dask: the task is a plain function of a plain value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, func, insert, select

from dicomref._filenames import stored_path
from dicomref.catalog._engine import open_engine, translating
from dicomref.catalog._reading import (
    ChunkReport,
    Failed,
    NotDicom,
    NotInstance,
    Reader,
    read_one,
)
from dicomref.catalog._schema import scan_batches
from dicomref.catalog._writer import IN_CHUNK, Statements, Writer


class Entry(NamedTuple):
    """A file of a batch as the client found it: ``size`` and ``mtime_ns`` -1 when it could
    not be stat'ed (reading it will say why)."""

    path: str
    size: int
    mtime_ns: int


def batch_id(entries: Sequence[Entry], salt: str = "") -> str:
    """The batch's name: SHA-256 (hex) of its paths (as the catalog stores them), sizes and
    modification times, in order, after ``salt``."""
    digest = hashlib.sha256(salt.encode())
    for path, size, mtime_ns in entries:
        digest.update(f"{stored_path(path)}\0{size}\0{mtime_ns}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class BatchTask:
    """What a worker is sent: the catalog's URL (password included: the workers write to
    it), the batch's id, the paths to read, and the reader."""

    url: str
    batch_id: str
    paths: tuple[str, ...]
    reader: Reader


@dataclass(frozen=True, slots=True)
class Recorded:
    """A ledger row read back: the counts, and the paths of the files that gave no rows."""

    report: ChunkReport
    not_instances: frozenset[str]

    def accounted(self) -> frozenset[str]:
        """Paths of the batch that hold no rows by design: failed, not DICOM, not instances."""
        failed = {f.path for f in self.report.failed}
        other = {n.path for n in self.report.not_dicom}
        return frozenset(failed | other | self.not_instances)


def _outcomes(
    failed: Iterable[Failed], not_dicom: Iterable[NotDicom], others: Iterable[str]
) -> str:
    # ensure_ascii (the default) keeps the surrogates of undecodable file names as escapes.
    return json.dumps(
        {
            "failed": [list(f) for f in failed],
            "not_dicom": [list(n) for n in not_dicom],
            "not_instances": list(others),
        }
    )


def _recorded(row: Any) -> Recorded:
    outcomes = json.loads(row.outcomes)
    report = ChunkReport(
        done=row.files,
        indexed=row.indexed,
        not_instances=row.not_instances,
        failed=tuple(Failed(p, e) for p, e in outcomes["failed"]),
        references=row.refs,
        not_dicom=tuple(NotDicom(p, r) for p, r in outcomes["not_dicom"]),
    )
    return Recorded(report, frozenset(outcomes["not_instances"]))


def recorded(conn: Connection, ids: Sequence[str]) -> dict[str, Recorded]:
    """The ledger rows of those of ``ids`` that are there."""
    query = select(scan_batches).where(
        scan_batches.c.batch_id.in_(bindparam("ids", expanding=True))
    )
    found: dict[str, Recorded] = {}
    for start in range(0, len(ids), IN_CHUNK):
        for row in conn.execute(query, {"ids": list(ids[start : start + IN_CHUNK])}):
            found[row.batch_id] = _recorded(row)
    return found


def ledger_size(conn: Connection) -> int:
    """How many batches the ledger holds."""
    return int(conn.scalar(select(func.count()).select_from(scan_batches)) or 0)


# -- the task, on a worker -------------------------------------------------------------------

#: Per worker process: an engine and compiled statements per catalog URL (a worker serves
#: many tasks; opening the catalog for each would cost more than reading a small batch).
_OPEN: dict[str, tuple[Engine, Statements]] = {}


def _catalog(url: str) -> tuple[Engine, Statements]:
    if url not in _OPEN:  # two threads of a worker may both open it: one is kept
        engine = open_engine(url)
        _OPEN.setdefault(url, (engine, Statements.of(engine)))
    return _OPEN[url]


class _AlreadyWritten(Exception):  # noqa: N818 - a signal to roll back, never seen outside
    """Another run of the batch committed first: roll this one back."""

    def __init__(self, found: Recorded) -> None:
        super().__init__("batch already in the ledger")
        self.found = found


def _lock(conn: Connection, batch: str) -> None:
    """Serialise the runs of one batch on PostgreSQL (SQLite writers hold the database)."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(batch[:16]), "big", signed=True)
        conn.execute(select(func.pg_advisory_xact_lock(key)))


def run_batch(task: BatchTask) -> ChunkReport:
    """Read the batch's files and write their rows and its ledger row in one transaction; a
    batch already in the ledger is not read again (its recorded report is returned)."""
    engine, statements = _catalog(task.url)
    with translating(task.url, "write a batch of the cluster scan"):
        with engine.connect() as conn:
            found = recorded(conn, [task.batch_id]).get(task.batch_id)
        if found is not None:
            return found.report
        writer = Writer(engine, statements=statements)
        failed: list[Failed] = []
        not_dicom: list[NotDicom] = []
        others: list[str] = []
        places = 0
        for path in task.paths:
            outcome = read_one(task.reader, path)
            if isinstance(outcome, Failed):
                failed.append(outcome)
                writer.forget(path)
            elif isinstance(outcome, NotInstance):
                others.append(path)
                writer.forget(path)
            elif isinstance(outcome, NotDicom):
                not_dicom.append(outcome)
                writer.forget(path)
            else:
                writer.add(outcome)
                places += sum(ref[5] for ref in outcome[4])  # path_count: as Reference objects
        indexed = len(task.paths) - len(failed) - len(not_dicom) - len(others)

        def ledger_row(conn: Connection) -> None:
            _lock(conn, task.batch_id)
            again = recorded(conn, [task.batch_id]).get(task.batch_id)
            if again is not None:
                raise _AlreadyWritten(again)
            conn.execute(
                insert(scan_batches).values(
                    batch_id=task.batch_id,
                    files=len(task.paths),
                    indexed=indexed,
                    not_instances=len(others),
                    refs=places,
                    outcomes=_outcomes(failed, not_dicom, others),
                    finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
                )
            )

        try:
            writer.flush(also=ledger_row)
        except _AlreadyWritten as done:
            return done.found.report
    return ChunkReport(
        len(task.paths),
        indexed,
        len(others),
        tuple(failed),
        places,
        tuple(not_dicom),
    )
