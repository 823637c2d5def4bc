"""The stdlib-sqlite3 read path of a fetch (catalog._lite, catalog._deferred) against the
Catalog: the same answers on scanned catalogs, read-only, and SQLAlchemy loaded only when
something is written."""

from __future__ import annotations

import dataclasses
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dicomref.catalog import Catalog, _schema
from dicomref.catalog._deferred import DeferredCatalog, open_for_fetch
from dicomref.catalog._lite import SCHEMA_VERSION, LiteReader
from dicomref.catalog._lite_writer import FILE_COLUMNS, REF_COLUMNS, LiteWriter
from dicomref.catalog._migrations import LATEST
from dicomref.catalog._url import sqlite_file
from dicomref.errors import CatalogError
from dicomref.extraction import read_object
from dicomref.remote import Capabilities
from dicomref.sample import generate_sample


def test_the_lite_reader_is_written_for_the_latest_schema() -> None:
    """A new migration: check the SQL of catalog/_lite.py against it, then raise this."""
    assert SCHEMA_VERSION == LATEST


def _scanned(tmp_path: Path, seed: int) -> tuple[Path, list[str]]:
    """A catalog of two scanned sample patients, with duplicates (a copy under a name that
    is not UTF-8), capabilities of two nodes; and the UIDs to ask about."""
    first = generate_sample(tmp_path / "a", seed=seed, slices=6)
    generate_sample(tmp_path / "b", seed=seed + 1, slices=4)
    copies = tmp_path / "copies"
    copies.mkdir()
    for n, obj in enumerate(first.objects[:3]):
        name = f"copy{n}\udce9.dcm" if n == 0 else f"copy{n}.dcm"
        shutil.copyfile(obj.path, copies / name)
    path = tmp_path / "catalog.sqlite"
    with Catalog(f"sqlite:///{path}") as catalog:
        catalog.scan([tmp_path / "a", tmp_path / "b", copies], workers=1)
        catalog.save_capabilities("PACS@127.0.0.1:104", Capabilities(c_get=True, c_move=False))
        catalog.save_capabilities("OTHER@10.0.0.1:11112", Capabilities.unknown())
        uids = set()
        for summary in catalog.instances():
            uids |= {summary.sop_instance, summary.series, summary.study}
            uids |= {r.target for r in catalog.references_from(summary.sop_instance)}
    rng = random.Random(seed)
    asked = sorted(uids)
    asked += [u + " " for u in rng.sample(asked, 5)] + [u + "\0" for u in rng.sample(asked, 5)]
    asked += ["1.2.3.4.5", "", "PACS@127.0.0.1:104", "OTHER@10.0.0.1:11112", "X@h:1"]
    rng.shuffle(asked)
    return path, asked


@pytest.mark.parametrize("seed", [0, 7])
def test_both_paths_give_the_same_answers_and_the_reader_writes_nothing(
    tmp_path: Path, seed: int
) -> None:
    path, asked = _scanned(tmp_path, seed)
    before = path.read_bytes()
    reader = LiteReader.open(path)
    assert reader is not None
    with reader, Catalog(f"sqlite:///file:{path}?mode=ro&uri=true") as catalog:
        for uid in asked:
            assert reader.locate(uid) == catalog.locate(uid), uid
            assert reader.series_instances(uid) == catalog.series_instances(uid), uid
            assert reader.references_from(uid) == catalog.references_from(uid), uid
            assert reader.referrers(uid) == catalog.referrers(uid), uid
            assert reader.load_capabilities(uid) == catalog.load_capabilities(uid), uid
        assert any(reader.locate(uid) for uid in asked)
        assert any(reader.referrers(uid) for uid in asked)
        with pytest.raises(CatalogError, match="cannot read"):
            reader._rows("DELETE FROM files WHERE sop_instance = ?", asked[0])
    assert path.read_bytes() == before  # and no write-ahead frames either (the -shm file
    wal = path.with_name(path.name + "-wal")  # is SQLite's shared index of readers)
    assert not wal.exists() or wal.stat().st_size == 0


def test_the_reader_declines_what_it_was_not_written_for(tmp_path: Path) -> None:
    assert LiteReader.open(tmp_path / "absent.sqlite") is None
    (tmp_path / "text.sqlite").write_text("not a database")
    assert LiteReader.open(tmp_path / "text.sqlite") is None
    newer = tmp_path / "newer.sqlite"
    Catalog(f"sqlite:///{newer}").close()
    with sqlite3.connect(newer) as conn:
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, 'x', 'a future step')", (LATEST + 1,)
        )
    assert LiteReader.open(newer) is None
    assert sqlite_file("sqlite:///rel/c.sqlite") == Path("rel/c.sqlite")
    assert sqlite_file(f"sqlite:///{newer}") == newer
    for other in ("sqlite://", "sqlite:///:memory:", f"sqlite:///{newer}?mode=ro"):
        assert sqlite_file(other) is None
    assert sqlite_file("postgresql+psycopg://u@h/db") is None
    # what the reader declines, the Catalog opens (and migrates, or refuses at once)
    with pytest.raises(CatalogError, match="understands versions up to"):
        open_for_fetch(f"sqlite:///{newer}")
    with pytest.raises(CatalogError):
        open_for_fetch(f"sqlite:///{tmp_path / 'no' / 'such' / 'c.sqlite'}")


def test_a_catalog_not_created_yet_is_read_empty_and_created_by_the_first_write(
    tmp_path: Path,
) -> None:
    new = tmp_path / "new.sqlite"
    with open_for_fetch(f"sqlite:///{new}") as fresh:
        assert isinstance(fresh, DeferredCatalog)
        assert fresh.locate("1.2.3") == [] and fresh.referrers("1.2.3") == []
        assert fresh.load_capabilities("A@127.0.0.1:104") is None
        assert not new.exists()
        fresh.save_capabilities("A@127.0.0.1:104", Capabilities(c_get=True))
    with Catalog(f"sqlite:///{new}") as catalog:
        saved = catalog.load_capabilities("A@127.0.0.1:104")
        assert saved is not None and saved.c_get is True


def test_a_deferred_catalog_reads_at_once_and_writes_in_order(tmp_path: Path) -> None:
    path, _ = _scanned(tmp_path, 3)
    sample = generate_sample(tmp_path / "c", seed=11, slices=2)
    summaries = [read_object(o.path.absolute()) for o in sample.objects]
    url = f"sqlite:///{path}"
    with open_for_fetch(url) as deferred:
        assert isinstance(deferred, DeferredCatalog)
        assert deferred.locate(sample.plans[0].sop_instance) == []
        deferred.add(summaries)
        caps = Capabilities(c_get=False, c_move=True)
        deferred.save_capabilities("NEW@127.0.0.1:4242", caps)
        deferred.wait()
        found = deferred.locate(sample.plans[0].sop_instance)
        assert [s.path for s in found] == [str(sample.plans[0].path)]
        assert deferred.load_capabilities("NEW@127.0.0.1:4242") == caps
        indexed = deferred.index_files([sample.dose.path])
        assert (indexed.indexed, indexed.unchanged) == (0, 1)
    with Catalog(url) as catalog:
        assert catalog.get(sample.plans[0].sop_instance).references


def test_a_failed_write_is_raised_at_close_or_logged_under_another_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, _ = _scanned(tmp_path, 5)
    with Catalog(f"sqlite:///{path}") as catalog:
        summary = next(iter(catalog.instances()))
    with sqlite3.connect(path) as conn:  # a trigger that refuses any new file row
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON files BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    moved = dataclasses.replace(summary, path=str(tmp_path / "elsewhere.dcm"))
    deferred = open_for_fetch(f"sqlite:///{path}")
    assert isinstance(deferred, DeferredCatalog)
    deferred.add([moved])
    with pytest.raises(CatalogError, match="no"):
        deferred.close()
    deferred = open_for_fetch(f"sqlite:///{path}")
    assert isinstance(deferred, DeferredCatalog)
    with pytest.raises(KeyError), deferred:
        deferred.add([moved])
        raise KeyError("the fetch's own error")
    assert "was not fully written" in caplog.text


def test_a_fetch_loads_no_sqlalchemy_on_an_existing_catalog_or_a_new_one(
    tmp_path: Path,
) -> None:
    """Reads and writes with sqlite3; a catalog to create is created from the baseline."""
    path, asked = _scanned(tmp_path, 1)
    plan = generate_sample(tmp_path / "more", seed=9, slices=2).plans[0].path
    code = (
        "import sys\n"
        "from dicomref.catalog._deferred import open_for_fetch\n"
        "from dicomref.extraction import read_object\n"
        "from dicomref.remote.planner._capabilities import Capabilities\n"
        "def run(url):\n"
        "    catalog = open_for_fetch(url)\n"
        f"    for uid in {asked[:20]!r}:\n"
        "        catalog.locate(uid), catalog.referrers(uid), catalog.series_instances(uid)\n"
        "        catalog.references_from(uid), catalog.load_capabilities(uid)\n"
        f"    catalog.add([read_object({str(plan.absolute())!r})])\n"
        "    catalog.save_capabilities('A@b:1', Capabilities(c_get=True))\n"
        "    catalog.close()\n"
        "    print('sqlalchemy' in sys.modules)\n"
        f"run('sqlite:///{path}')\n"
        f"run('sqlite:///{tmp_path / 'new.sqlite'}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
    for written in (path, tmp_path / "new.sqlite"):  # and the Catalog reads what was written
        with Catalog(f"sqlite:///{written}") as catalog:
            assert catalog.locate(read_object(plan).sop_instance)
            assert catalog.load_capabilities("A@b:1") is not None


def test_the_writer_knows_the_schemas_columns() -> None:
    assert (FILE_COLUMNS, REF_COLUMNS) == (_schema.FILE_COLUMNS, _schema.REF_COLUMNS)


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row, a file's id replaced by its path (the order of inserts within a
    transaction is the writer's own business), in a stable order."""
    query = {
        "patients": "SELECT * FROM patients",
        "studies": "SELECT * FROM studies",
        "series": "SELECT * FROM series",
        "files": "SELECT * FROM files",
        "refs": "SELECT files.path, refs.* FROM refs JOIN files ON files.id = refs.file_id",
        "node_capabilities": "SELECT * FROM node_capabilities",
    }
    dump: dict[str, list[tuple[object, ...]]] = {}
    with sqlite3.connect(path) as conn:
        for table, sql in query.items():
            rows = conn.execute(sql).fetchall()
            if table == "files":
                rows = [row[1:] for row in rows]
            if table == "refs":
                rows = [(row[0], *row[3:]) for row in rows]  # path, then all but id, file_id
            dump[table] = sorted(rows, key=repr)
    return dump


@pytest.mark.parametrize("seed", [2, 8])
def test_both_writers_leave_the_same_rows(tmp_path: Path, seed: int) -> None:
    path, _ = _scanned(tmp_path, seed)
    paths = {name: tmp_path / f"by-{name}.sqlite" for name in ("catalog", "lite")}
    for target in paths.values():
        shutil.copyfile(path, target)
    rng = random.Random(seed)
    fresh = generate_sample(tmp_path / "fresh", seed=seed + 50, slices=3)
    new = [read_object(o.path.absolute()) for o in fresh.objects]
    with Catalog(f"sqlite:///{path}") as catalog:
        held = list(catalog.instances())
        again = [catalog.get(s.sop_instance) for s in rng.sample(held, 4)]
    no_birth = dataclasses.replace(
        new[0], path=str(tmp_path / "x.dcm"), patient_id="FILL", patient_birth_date=None
    )
    batches = [
        [no_birth, dataclasses.replace(new[1], patient_id=None, path=str(tmp_path / "y.dcm"))],
        [
            *new,
            *(dataclasses.replace(s, size=s.size + 1, study_time="101010") for s in again),
            dataclasses.replace(no_birth, patient_birth_date="19700101", patient_sex="O"),
            new[0],  # the same path twice in one batch: the last one counts
        ],
    ]
    caps = dataclasses.replace(Capabilities(c_get=True), measured_at="2026-01-01T00:00:00+00:00")
    with Catalog(f"sqlite:///{paths['catalog']}") as catalog:
        written = [catalog.add(batch) for batch in batches]
        catalog.save_capabilities("PACS@127.0.0.1:104", caps)
    lite = LiteWriter(paths["lite"])
    try:
        assert [lite.add(batch) for batch in batches] == written
        lite.save_capabilities("PACS@127.0.0.1:104", caps)
    finally:
        lite.close()
    assert _dump(paths["lite"]) == _dump(paths["catalog"])
    assert _dump(paths["lite"]) != _dump(path)


def test_the_writer_reports_a_locked_catalog(tmp_path: Path) -> None:
    path, _ = _scanned(tmp_path, 4)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    lite = LiteWriter(path)
    lite._conn.execute("PRAGMA busy_timeout = 50")
    try:
        with pytest.raises(CatalogError, match="cannot save the capabilities"):
            lite.save_capabilities("A@b:1", Capabilities())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    lite.save_capabilities("A@b:1", Capabilities())  # the connection is usable again
    lite.close()
