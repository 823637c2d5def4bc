"""A new SQLite catalog is created from the frozen baseline: the same schema as the steps."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine

from dicomref.catalog import Catalog, _baseline, _lite_create, _migrations
from dicomref.catalog._migrations import LATEST, MIGRATIONS, migrate


def _schema(path: Path) -> tuple[set[tuple[str, str, str, str | None]], list[tuple[int, str]]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        steps = conn.execute(
            "SELECT version, description FROM schema_migrations ORDER BY version"
        ).fetchall()
    return set(rows), steps


def _migrated(path: Path, *, baseline: bool) -> Path:
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    try:
        assert migrate(engine, url, baseline=baseline) == LATEST
    finally:
        engine.dispose()
    return path


def test_the_baseline_builds_what_the_steps_build(tmp_path: Path) -> None:
    stepwise = _schema(_migrated(tmp_path / "steps.sqlite", baseline=False))
    frozen = _schema(_migrated(tmp_path / "baseline.sqlite", baseline=True))
    assert frozen[0] == stepwise[0], "run scripts/catalog_baseline.py after adding a step"
    assert frozen[1] == stepwise[1] == [(m.version, m.description) for m in MIGRATIONS]
    assert _baseline.VERSION <= LATEST


def test_the_standard_library_creates_what_the_steps_build(tmp_path: Path) -> None:
    stepwise = _schema(_migrated(tmp_path / "steps.sqlite", baseline=False))
    path = tmp_path / "lite.sqlite"
    assert _lite_create.create(path) is True
    assert _schema(path) == stepwise
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA page_size").fetchone() == (16_384,)
    assert _lite_create.create(path) is True  # there already: left as it is
    assert _schema(path) == stepwise


def test_creators_racing_on_one_new_file_make_one_catalog(tmp_path: Path) -> None:
    for round_ in range(10):
        path = tmp_path / f"{round_}.sqlite"
        said: list[bool] = []

        def create(path: Path = path, said: list[bool] = said) -> None:
            said.append(_lite_create.create(path))

        threads = [threading.Thread(target=create) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert said == [True] * 4
        assert [v for v, _ in _schema(path)[1]] == list(range(1, LATEST + 1))


def test_a_file_that_is_not_a_catalog_is_left_to_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    assert _lite_create.create(path) is False
    old = tmp_path / "old.sqlite"
    url = f"sqlite:///{old}"
    engine = create_engine(url)
    migrate(engine, url, target=2)
    engine.dispose()
    assert _lite_create.create(old) is False  # to be migrated: by the Catalog


def test_the_baseline_records_the_steps_it_covers() -> None:
    covered = [(m.version, m.description) for m in MIGRATIONS if m.version <= _baseline.VERSION]
    assert list(_baseline.STEPS) == covered


def test_a_new_catalog_does_not_run_the_steps_the_baseline_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[int] = []

    def watched(step: _migrations.Migration) -> _migrations.Migration:
        def apply(conn: Connection) -> None:
            ran.append(step.version)
            step.apply(conn)

        return _migrations.Migration(step.version, step.description, apply)

    monkeypatch.setattr(_migrations, "MIGRATIONS", tuple(watched(m) for m in MIGRATIONS))
    Catalog(f"sqlite:///{tmp_path / 'new.sqlite'}").close()
    assert ran == [v for v in range(1, LATEST + 1) if v > _baseline.VERSION]
    ran.clear()
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(url)
    migrate(engine, url, target=2)  # below the baseline: the steps, as before
    engine.dispose()
    assert ran == [1, 2]
    Catalog(url).close()  # and an existing catalog goes on step by step
    assert ran == list(range(1, LATEST + 1))


def test_a_step_that_fails_leaves_the_catalog_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    engine = create_engine(url)
    migrate(engine, url, target=2)

    def broken(conn: Connection) -> None:
        raise RuntimeError("a step that fails")

    last = MIGRATIONS[-1]
    failing = (*MIGRATIONS[:-1], _migrations.Migration(last.version, last.description, broken))
    monkeypatch.setattr(_migrations, "MIGRATIONS", failing)
    with pytest.raises(RuntimeError):
        migrate(engine, url)
    engine.dispose()
    _, steps = _schema(tmp_path / "c.sqlite")
    assert [version for version, _ in steps] == [1, 2]
