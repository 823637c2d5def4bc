"""Writes are idempotent: a batch written again (after a failure, or by a second process at
the same time) leaves the catalog as one write does, on SQLite and on PostgreSQL.  On
PostgreSQL a replay rewrites no row at all (same ids, same row versions)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from dicomref.catalog import Catalog
from dicomref.catalog._engine import open_engine
from dicomref.catalog._rows import ObjectRows, to_rows
from dicomref.catalog._writer import Writer
from dicomref.model import Kind, ObjectSummary
from test_catalog_support import RTSTRUCT, db_url, ref, summary, uid

__all__ = ["db_url"]  # the fixture, imported for pytest

RS = uid(4, 1)


def _batch(root: Path, slices: int = 40) -> list[ObjectSummary]:
    cts = [summary(root / f"ct{i}.dcm", uid(3, i), number=i) for i in range(slices)]
    rs = summary(
        root / "rs.dcm",
        RS,
        series=uid(5),
        sop_class=RTSTRUCT,
        modality="RTSTRUCT",
        references=[
            *(ref(RS, uid(3, i), path=f"ROIContourSequence[{i % 3}]") for i in range(slices)),
            ref(RS, uid(3, 0), path="ROIContourSequence[9]"),  # a second place, same row
            ref(RS, uid(3, 999), Kind.CONTOUR_IMAGE, frames=(1, 2)),
        ],
    )
    other_patient = summary(root / "x.dcm", uid(8, 1), study=uid(8), series=uid(8, 2))
    return [*cts, rs, other_patient]


def _write(engine: Engine, rows: Sequence[ObjectRows], forget: Sequence[str] = ()) -> None:
    writer = Writer(engine)  # a new writer: no memory of what an earlier one wrote
    for r in rows:
        writer.add(r)
    for path in forget:
        writer.forget(path)
    writer.flush()


_CONTENT = {
    "patients": "SELECT * FROM patients ORDER BY patient_id",
    "studies": "SELECT * FROM studies ORDER BY study_uid",
    "series": "SELECT * FROM series ORDER BY series_uid",
    "files": "SELECT path, size, mtime_ns, sop_class, sop_instance, study_uid, series_uid, "
    "patient_id, modality, frame_of_reference, instance_number, number_of_frames, "
    "image_position, image_orientation, transfer_syntax, content_sha256 FROM files "
    "ORDER BY path",
    "refs": "SELECT f.path, r.source_uid, r.target_uid, r.target_class, r.kind, r.paths, "
    "r.path_count, r.study_hint, r.series_hint, r.frames, r.segments, r.is_instance "
    "FROM refs r JOIN files f ON f.id = r.file_id "
    "ORDER BY f.path, r.target_uid, r.kind, r.paths",
}
#: Row identities and versions: a replay on PostgreSQL rewrites nothing, so neither changes.
_VERSIONS = {
    "files": "SELECT id, xmin::text FROM files ORDER BY id",
    "refs": "SELECT id, file_id, xmin::text FROM refs ORDER BY id",
    "studies": "SELECT study_uid, xmin::text FROM studies ORDER BY study_uid",
    "series": "SELECT series_uid, xmin::text FROM series ORDER BY series_uid",
    "patients": "SELECT patient_id, xmin::text FROM patients ORDER BY patient_id",
}


def _snapshot(engine: Engine, queries: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(text(sql))] for name, sql in queries.items()}


@pytest.fixture
def engine(db_url: str) -> Engine:
    Catalog(db_url).close()  # creates and migrates
    engine = open_engine(db_url)
    return engine


def test_a_replayed_batch_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    rows = [to_rows(s) for s in _batch(tmp_path)]
    _write(engine, rows)
    before = _snapshot(engine, _CONTENT)
    assert len(before["files"]) == 42
    assert len(before["refs"]) == 41  # the second place of ct0 shares its row
    versions = _snapshot(engine, _VERSIONS) if engine.dialect.name == "postgresql" else None

    _write(engine, rows)
    _write(engine, list(reversed(rows)))

    assert _snapshot(engine, _CONTENT) == before
    if versions is not None:
        assert _snapshot(engine, _VERSIONS) == versions
    engine.dispose()


def test_a_batch_that_failed_is_written_whole_by_its_replay(engine: Engine, tmp_path: Path) -> None:
    rows = [to_rows(s) for s in _batch(tmp_path)]
    _write(engine, rows[:10])  # an earlier batch made it

    def fail(conn: Connection) -> None:
        raise OSError("the machine went away")

    writer = Writer(engine)
    for r in rows:
        writer.add(r)
    with pytest.raises(OSError, match="went away"):
        writer.flush(also=fail)  # the last statement of the transaction fails
    assert len(_snapshot(engine, _CONTENT)["files"]) == 10  # nothing of the batch stayed

    _write(engine, rows)
    replayed = _snapshot(engine, _CONTENT)
    _write(engine, rows)
    assert _snapshot(engine, _CONTENT) == replayed
    assert len(replayed["files"]) == 42
    assert len(replayed["refs"]) == 41
    engine.dispose()


def test_a_changed_file_replaces_its_rows_and_keeps_the_others(
    engine: Engine, tmp_path: Path
) -> None:
    objects = _batch(tmp_path)
    _write(engine, [to_rows(s) for s in objects])
    rs = next(s for s in objects if s.sop_instance == RS)
    fewer = dataclasses.replace(rs, references=rs.references[:2], size=7)
    _write(engine, [to_rows(fewer)], forget=[str(tmp_path / "x.dcm")])
    after = _snapshot(engine, _CONTENT)
    assert len(after["files"]) == 41
    assert [r[2] for r in after["refs"]] == [uid(3, 0), uid(3, 1)]
    assert next(f for f in after["files"] if f[4] == RS)[1] == 7
    same_refs_other_order = dataclasses.replace(fewer, references=tuple(reversed(fewer.references)))
    _write(engine, [to_rows(same_refs_other_order)])
    assert len(_snapshot(engine, _CONTENT)["refs"]) == 2
    engine.dispose()


def test_two_writers_of_the_same_batch_at_once_leave_one_row_each(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [to_rows(s) for s in _batch(tmp_path, slices=300)]
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def write(order: Sequence[ObjectRows]) -> None:
        start.wait()
        try:
            _write(engine, order)
        except Exception as exc:  # noqa: BLE001 - a thread cannot raise into the test
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(order,))
        for order in (rows, list(reversed(rows)), rows[::2] + rows[1::2])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    content = _snapshot(engine, _CONTENT)
    assert len(content["files"]) == 302
    assert len(content["refs"]) == 301
    engine.dispose()


def test_two_processes_saving_one_server_s_capabilities_at_once_leave_one_row(
    db_url: str,
) -> None:
    from dicomref.remote.planner._capabilities import Capabilities

    node = "PACS@127.0.0.1:104"
    catalogs = [Catalog(db_url), Catalog(db_url)]
    errors: list[BaseException] = []
    rounds = 20
    start = threading.Barrier(2)

    def save(catalog: Catalog, c_get: bool) -> None:
        for i in range(rounds):
            start.wait()
            caps = dataclasses.replace(
                Capabilities.conservative(), c_get=c_get, measured_at=f"2024-05-01T10:00:{i:02d}"
            )
            try:
                catalog.save_capabilities(node, caps)
            except Exception as exc:  # noqa: BLE001 - a thread cannot raise into the test
                errors.append(exc)

    threads = [
        threading.Thread(target=save, args=(catalog, flag))
        for catalog, flag in zip(catalogs, (True, False), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    saved = catalogs[0].load_capabilities(node)
    assert saved is not None and saved.measured_at == f"2024-05-01T10:00:{rounds - 1:02d}"
    for catalog in catalogs:
        catalog.close()
