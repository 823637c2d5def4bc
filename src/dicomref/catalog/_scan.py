"""One scan: find files, skip the unchanged, read the rest, write in batches, drop the gone.

The catalog rows already under the scanned paths are loaded once, as a map path -> (size,
mtime_ns, id).  Each file found is looked up and popped: equal size and mtime means
unchanged (not read); what is left in the map at the end is gone from disk and removed,
except under folders that could not be listed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, and_, bindparam, delete, exists, func, select

from dicomref._filenames import printable_path
from dicomref.catalog._engine import WRITE
from dicomref.catalog._reading import ChunkReport, Failed, NotDicom, NotInstance, Reader, read_all
from dicomref.catalog._reports import ScanFailure, ScanProgress, ScanReport
from dicomref.catalog._schema import files, patients, series, studies
from dicomref.catalog._walk import is_dicomdir_name, stat_file, walk
from dicomref.catalog._writer import IN_CHUNK, Writer
from dicomref.errors import DicomReadError, UsageError

log = logging.getLogger(__name__)

DicomdirLister = Callable[[str], Sequence[str | os.PathLike[str]]]
ProgressCallback = Callable[[ScanProgress], None]

#: Least interval between two progress calls, in seconds.
PROGRESS_INTERVAL = 0.1

Existing = dict[str, tuple[int, int, int]]  # path -> (size, mtime_ns, id)


@dataclass
class _Targets:
    folders: list[str] = field(default_factory=list)
    dicomdirs: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def _absolute(path: str | os.PathLike[str]) -> str:
    """Absolute, normalised, symlinks kept: the path as the user sees the file."""
    # Not Path.resolve(): it would follow symlinks.
    return os.path.abspath(path)  # noqa: PTH100


def _targets(paths: Sequence[str | os.PathLike[str]]) -> _Targets:
    targets = _Targets()
    missing = []
    for given in paths:
        path = _absolute(given)
        if Path(path).is_dir():
            targets.folders.append(path)
        elif Path(path).is_file():
            (targets.dicomdirs if is_dicomdir_name(path) else targets.files).append(path)
        else:
            missing.append(os.fspath(given))
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(map(printable_path, missing))}")
    return targets


def _folder_prefix(folder: str) -> str:
    return folder if folder.endswith(os.sep) else folder + os.sep


def _rows_under(conn: Connection, prefix: str) -> Iterator[tuple[str, int, int, int]]:
    columns = (files.c.path, files.c.size, files.c.mtime_ns, files.c.id)
    if conn.dialect.name == "sqlite":
        # BINARY collation: a range on the unique index, exact and fast.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        query = select(*columns).where(and_(files.c.path >= prefix, files.c.path < upper))
    else:
        # Collations may order "/" anywhere: match the prefix itself.
        query = select(*columns).where(files.c.path.startswith(prefix, autoescape=True))
    for path, size, mtime_ns, file_id in conn.execute(query):
        if path.startswith(prefix):
            yield path, size, mtime_ns, file_id


def _rows_at(conn: Connection, paths: Sequence[str]) -> Iterator[tuple[str, int, int, int]]:
    query = select(files.c.path, files.c.size, files.c.mtime_ns, files.c.id).where(
        files.c.path.in_(bindparam("paths", expanding=True))
    )
    for start in range(0, len(paths), IN_CHUNK):
        chunk = list(paths[start : start + IN_CHUNK])
        for row in conn.execute(query, {"paths": chunk}):
            yield row[0], row[1], row[2], row[3]


def prune_orphans(conn: Connection) -> None:
    """Delete series, studies and patients that no file names any more."""
    conn.execute(delete(series).where(~exists().where(files.c.series_uid == series.c.series_uid)))
    conn.execute(
        delete(studies).where(
            ~exists().where(files.c.study_uid == studies.c.study_uid),
            ~exists().where(series.c.study_uid == studies.c.study_uid),
        )
    )
    conn.execute(
        delete(patients).where(
            ~exists().where(files.c.patient_id == patients.c.patient_id),
            ~exists().where(studies.c.patient_id == patients.c.patient_id),
        )
    )


def count_duplicates(conn: Connection) -> int:
    held_twice = (
        select(files.c.sop_instance)
        .group_by(files.c.sop_instance)
        .having(func.count() > 1)
        .subquery()
    )
    return int(conn.scalar(select(func.count()).select_from(held_twice)) or 0)


class Scan:
    """State of one scan; :meth:`run` does it."""

    def __init__(
        self,
        engine: Engine,
        *,
        reader: Reader,
        lister: DicomdirLister,
        workers: int,
        progress: ProgressCallback | None,
    ) -> None:
        self._engine = engine
        self._reader = reader
        self._lister = lister
        self._workers = workers
        self._progress = progress
        self._last_progress = 0.0
        self._writer = Writer(engine)
        self._existing: Existing = {}
        self._had_rows = False  # whether any of the scanned paths had rows before the scan
        self._seen: set[str] = set()
        self._unlisted: list[str] = []  # folders (and files) that could not be listed or stat'ed
        self._failures: list[ScanFailure] = []
        self._not_dicom: list[str] = []
        self.files = 0
        self.done = 0
        self.total: int | None = None
        self.indexed = 0
        self.unchanged = 0
        self.not_instances = 0
        self._references = 0  # written by workers

    # -- progress and failures -------------------------------------------------------------

    def _tick(self, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self._progress(ScanProgress(self.files, self.done, self.total))

    def _fail(self, path: str, message: str) -> None:
        self._failures.append(ScanFailure(path, message))

    def _unreadable(self, path: str, error: OSError) -> None:
        self._unlisted.append(path)
        self._fail(path, f"{printable_path(path)}: cannot list or read: {error.strerror or error}")

    # -- finding files ---------------------------------------------------------------------

    def _load_existing(self, targets: _Targets, listed: Sequence[str]) -> None:
        with self._engine.connect() as conn:
            for folder in targets.folders:
                for path, size, mtime_ns, file_id in _rows_under(conn, _folder_prefix(folder)):
                    self._existing[path] = (size, mtime_ns, file_id)
            singles = [*targets.files, *listed]
            for path, size, mtime_ns, file_id in _rows_at(conn, singles):
                self._existing[path] = (size, mtime_ns, file_id)
        self._had_rows = bool(self._existing)

    def _list_dicomdirs(self, dicomdirs: Sequence[str]) -> list[str]:
        listed: list[str] = []
        for dicomdir in dicomdirs:
            try:
                listed.extend(_absolute(p) for p in self._lister(dicomdir))
            except DicomReadError as error:
                self._fail(dicomdir, str(error))
            except OSError as error:
                self._unreadable(dicomdir, error)
        return listed

    def _found(self, targets: _Targets, listed: Sequence[str]) -> Iterator[str]:
        yield from targets.files
        yield from listed
        for folder in targets.folders:
            yield from walk(folder, self._unreadable)

    @staticmethod
    def _unchanged(path: str, old: tuple[int, int, int]) -> bool:
        try:
            size, mtime_ns = stat_file(path)
        except OSError:
            return False  # reading it will say what is wrong
        return old[0] == size and old[1] == mtime_ns

    def _candidates(
        self, targets: _Targets, listed: Sequence[str]
    ) -> Iterator[tuple[str, tuple[int, int, int] | None]]:
        """Each file found, once, with its catalog row (None: not indexed yet).  DICOMDIRs
        are counted here as not instances (a row they had is forgotten), never yielded."""
        for path in self._found(targets, listed):
            if path in self._seen:
                continue
            self._seen.add(path)
            self.files += 1
            old = self._existing.pop(path, None)
            if not is_dicomdir_name(path):
                yield path, old
                continue
            self.not_instances += 1
            self.done += 1
            if old is not None:
                self._writer.forget(path)
            self._tick()

    def _to_read(self, targets: _Targets, listed: Sequence[str]) -> Iterator[str]:
        """Paths that need reading; counts the rest on the way."""
        for path, old in self._candidates(targets, listed):
            if old is not None and self._unchanged(path, old):
                self.unchanged += 1
                self.done += 1
            else:
                yield path
            self._tick()
        self.total = self.files
        self._tick(force=True)

    # -- the scan --------------------------------------------------------------------------

    def _count_chunk(self, report: ChunkReport) -> None:
        """Count a chunk read and written elsewhere (a worker process, a cluster task)."""
        for failure in report.failed:
            self._fail(failure.path, failure.error)
        self._not_dicom.extend(other.path for other in report.not_dicom)
        self.not_instances += report.not_instances
        self.indexed += report.indexed
        self._references += report.references
        self.done += report.done
        self._tick()

    def _read_and_write(self, targets: _Targets, listed: Sequence[str]) -> None:
        """Read the files found that need reading and write their rows (a cluster scan
        does this its own way: :class:`~._cluster.ClusterScan`)."""
        to_read = self._to_read(targets, listed)
        for outcome in read_all(self._reader, to_read, self._workers, self._engine):
            if isinstance(outcome, Failed):
                self._fail(outcome.path, outcome.error)
                self._writer.forget(outcome.path)
            elif isinstance(outcome, NotInstance):
                self.not_instances += 1
                self._writer.forget(outcome.path)
            elif isinstance(outcome, NotDicom):
                self._not_dicom.append(outcome.path)
                self._writer.forget(outcome.path)
            elif isinstance(outcome, ChunkReport):  # read and written by a worker
                self._count_chunk(outcome)
                continue
            else:
                self._writer.add(outcome)
                self.indexed += 1
            self.done += 1
            self._tick()

    def _remove_gone(self) -> int:
        """Drop rows of files no longer found (not those under unlistable folders), then
        the series, studies and patients left without files; one transaction."""

        def kept(path: str) -> bool:
            return any(path == p or path.startswith(_folder_prefix(p)) for p in self._unlisted)

        gone = [file_id for path, (_, _, file_id) in self._existing.items() if not kept(path)]
        if not gone and not self._had_rows:
            return 0  # no row was there to replace or remove: none can be left orphaned
        query = delete(files).where(files.c.id.in_(bindparam("ids", expanding=True)))
        with self._engine.connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                for start in range(0, len(gone), IN_CHUNK):
                    conn.execute(query, {"ids": gone[start : start + IN_CHUNK]})
                prune_orphans(conn)
        return len(gone)

    def run(self, paths: Sequence[str | os.PathLike[str]]) -> ScanReport:
        started = time.perf_counter()
        targets = _targets(paths)
        for dicomdir in targets.dicomdirs:  # the DICOMDIR itself is a file seen, not indexed
            self._seen.add(dicomdir)
            self.files += 1
            self.not_instances += 1
            self.done += 1
        listed = self._list_dicomdirs(targets.dicomdirs)
        self._load_existing(targets, listed)
        self._tick(force=True)
        self._read_and_write(targets, listed)
        self._writer.flush()
        removed = self._remove_gone()
        with self._engine.connect() as conn:
            duplicates = count_duplicates(conn)
        self._tick(force=True)
        report = ScanReport(
            files=self.files,
            indexed=self.indexed,
            unchanged=self.unchanged,
            not_instances=self.not_instances,
            not_dicom=tuple(sorted(self._not_dicom)),
            skipped=self.unchanged + self.not_instances + len(self._not_dicom),
            removed=removed,
            failed=tuple(self._failures),
            references=self._references + self._writer.refs_written,
            duplicates=duplicates,
            seconds=time.perf_counter() - started,
        )
        log.info(
            "scanned %d files in %.1f s: %d indexed, %d unchanged, %d not instances, "
            "%d not DICOM, %d failed, %d removed",
            report.files,
            report.seconds,
            report.indexed,
            report.unchanged,
            report.not_instances,
            len(report.not_dicom),
            len(report.failed),
            report.removed,
        )
        return report
