"""A scan killed with SIGKILL leaves a consistent catalog; the next scan completes the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from backends import BOTH_BACKENDS
from dicomref.catalog import Catalog
from dicomref.catalog._schema import files
from test_catalog_support import fake_reader, make_patient, summary, uid, write_fake

__all__ = ["fake_reader"]

FILES = 1500

SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import test_catalog_support as support
    from dicomref.catalog import Catalog, _catalog, _writer

    def slow_read(path):
        time.sleep(0.002)
        return support.fake_read(path)

    _catalog._file_readers = lambda: (slow_read, support.fake_dicomdir_files)
    _writer.BATCH_FILES = 50
    Catalog({url!r}).scan([{root!r}], workers=2)
    """
)


def _files_in(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(files)) or 0)
    finally:
        engine.dispose()


def _state(cat: Catalog) -> tuple[set[tuple[str, str]], set[tuple[str, str]], dict[str, int]]:
    held = {(s.path, s.sop_instance) for s in cat.instances()}
    refs = {
        (r.source, r.target) for s in cat.instances() for r in cat.references_from(s.sop_instance)
    }
    return held, refs, cat.counts()


@pytest.mark.slow
@pytest.mark.usefixtures("fake_reader")
@BOTH_BACKENDS
def test_a_scan_killed_midway_is_completed_by_the_next(
    tmp_path: Path, make_catalog_url: Callable[[str], str]
) -> None:
    data = tmp_path / "data"
    for n in range(3):
        make_patient(data / f"patient{n}", slices=20, series_no=n)
    for i in range(FILES - 63):
        s = summary(data / f"ct/{i // 200:02d}/{i:05d}.dcm", uid(30, i), number=i)
        write_fake(Path(s.path), s)
    url = make_catalog_url("killed")
    Catalog(url).close()
    script = SCRIPT.format(tests=str(Path(__file__).parent), url=url, root=str(data))
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while _files_in(url) < 300:
            assert proc.poll() is None, "the scan ended before it could be killed"
            assert time.monotonic() < deadline, "the scan wrote nothing in 60 s"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the scanner and its workers
        proc.wait()
    written = _files_in(url)
    assert 300 <= written < FILES

    engine = create_engine(url)
    if engine.dialect.name == "sqlite":  # PostgreSQL enforces its foreign keys itself
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    engine.dispose()

    with Catalog(url) as cat:
        report = cat.scan([data])
        assert (report.unchanged, report.indexed, report.failed) == (written, FILES - written, ())
        resumed = _state(cat)
    with Catalog(make_catalog_url("clean")) as cat:
        cat.scan([data])
        assert _state(cat) == resumed
