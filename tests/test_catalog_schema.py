"""Opening catalogs: migrations, versions, SQLite settings, errors that name the database."""

from __future__ import annotations

import threading
from pathlib import Path

import pydicom
import pytest
from sqlalchemy import Connection, Engine, create_engine, insert, inspect, select, text

from dicomref.catalog import Catalog, _migrations, default_url
from dicomref.catalog._engine import masked, open_engine
from dicomref.catalog._migrations import LATEST, MIGRATIONS, migrate
from dicomref.catalog._schema import metadata, schema_migrations
from dicomref.errors import CatalogError, CatalogVersionError
from dicomref.sample import generate_sample
from test_catalog_support import db_url, summary, uid

__all__ = ["db_url"]


def _engine(url: str) -> Engine:
    return open_engine(url)


def _version(url: str) -> int:
    engine = _engine(url)
    with engine.connect() as conn:
        version = conn.scalar(select(schema_migrations.c.version).order_by(text("version DESC")))
    engine.dispose()
    return int(version or 0)


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len(MIGRATIONS) == LATEST


def test_a_new_catalog_is_at_the_latest_version_with_the_schema_the_code_uses(
    db_url: str,
) -> None:
    Catalog(db_url).close()
    assert _version(db_url) == LATEST
    engine = _engine(db_url)
    found = inspect(engine)
    for table in metadata.sorted_tables:
        assert {c["name"] for c in found.get_columns(table.name)} == set(table.c.keys())
        expected_indexes = {tuple(c.name for c in ix.columns) for ix in table.indexes}
        assert {tuple(ix["column_names"]) for ix in found.get_indexes(table.name)} >= (
            expected_indexes
        )
    fks = found.get_foreign_keys("refs")
    assert fks[0]["options"].get("ondelete") == "CASCADE"
    engine.dispose()


def test_a_version_1_catalog_is_migrated_and_keeps_its_rows(db_url: str, tmp_path: Path) -> None:
    engine = _engine(db_url)
    assert migrate(engine, db_url, target=1) == 1
    # Rows as dicomref with schema 1 wrote them.
    v1 = _migrations._v1_metadata()
    with engine.begin() as conn:
        conn.execute(insert(v1.tables["patients"]).values(patient_id="P1", patient_name="A^B"))
        conn.execute(insert(v1.tables["studies"]).values(study_uid=uid(1), patient_id="P1"))
        conn.execute(
            insert(v1.tables["series"]).values(series_uid=uid(2), study_uid=uid(1), modality="CT")
        )
        conn.execute(
            insert(v1.tables["files"]).values(
                path=str(tmp_path / "ct.dcm"),
                size=10,
                mtime_ns=5,
                sop_class="1.2.840.10008.5.1.4.1.1.2",
                sop_instance=uid(3),
                study_uid=uid(1),
                series_uid=uid(2),
                patient_id="P1",
            )
        )
    engine.dispose()
    assert _version(db_url) == 1
    with Catalog(db_url) as cat:
        assert _version(db_url) == LATEST
        [found] = cat.locate(uid(3))
        assert (found.path, found.patient_name, found.modality) == (
            str(tmp_path / "ct.dcm"),
            "A^B",
            None,
        )
        cat.add([summary(tmp_path / "a.dcm", uid(3)), summary(tmp_path / "b.dcm", uid(3), size=10)])
        assert cat.duplicates(compare=False)[0].sop_uid == uid(3)


def test_a_catalog_from_a_newer_dicomref_is_refused(db_url: str) -> None:
    Catalog(db_url).close()
    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            insert(schema_migrations).values(
                version=LATEST + 1, applied_at="2031-01-01T00:00:00+00:00", description="future"
            )
        )
    engine.dispose()
    with pytest.raises(CatalogVersionError, match=f"version {LATEST + 1}.*upgrade dicomref") as e:
        Catalog(db_url)
    assert masked(db_url) in str(e.value)


def test_a_database_that_is_not_a_catalog_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE files (name TEXT)"))
    engine.dispose()
    with pytest.raises(CatalogError, match="not a dicomref catalog"):
        Catalog(url)


def test_a_file_that_is_not_a_database_gives_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(CatalogError, match=r"junk\.sqlite.*not a usable SQLite database"):
        Catalog(f"sqlite:///{path}")


def test_a_catalog_in_a_missing_folder_gives_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"no/such/folder.*folder exists"):
        Catalog(f"sqlite:///{tmp_path / 'no/such/folder/c.sqlite'}")


def test_unusable_urls_give_catalog_errors() -> None:
    with pytest.raises(CatalogError, match="cannot use catalog URL"):
        Catalog("nonsense-url")
    with pytest.raises(CatalogError, match="cannot use catalog URL"):
        Catalog("nosuchdialect://host/db")


def test_passwords_are_masked() -> None:
    assert "s3cret" not in masked("postgresql+psycopg://me:s3cret@host/db")
    assert masked("postgresql+psycopg://me:s3cret@host/db").startswith("postgresql+psycopg://me:")


def test_default_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DICOMREF_DB", "sqlite:///elsewhere.sqlite")
    assert default_url() == "sqlite:///elsewhere.sqlite"
    monkeypatch.delenv("DICOMREF_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = default_url()
    assert url == f"sqlite:///{tmp_path / 'data/dicomref/catalog.sqlite'}"
    assert (tmp_path / "data/dicomref").is_dir()


def test_sqlite_connections_are_set_up_for_safety(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    Catalog(url).close()
    engine = _engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000
    engine.dispose()


def _open_at_once(url: str, threads: int = 4) -> list[CatalogError]:
    """Open ``url`` from ``threads`` threads at once; the errors they met."""
    errors: list[CatalogError] = []

    def open_one() -> None:
        try:
            Catalog(url).close()
        except CatalogError as error:  # pragma: no cover - reported by the caller
            errors.append(error)

    started = [threading.Thread(target=open_one) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    return errors


def test_catalogs_opened_at_once_migrate_once(db_url: str) -> None:
    assert _open_at_once(db_url) == []
    engine = _engine(db_url)
    with engine.connect() as conn:
        versions = conn.execute(select(schema_migrations.c.version)).scalars().all()
    engine.dispose()
    assert sorted(versions) == list(range(1, LATEST + 1))


def test_version_4_fills_the_new_study_and_patient_keys_at_the_next_scan(
    db_url: str, tmp_path: Path
) -> None:
    """A catalog scanned before version 4 has no accession numbers; after the migration the
    next scan reads every file again and fills them (and the patient's sex and birth date)
    in the rows already there."""
    sample = generate_sample(tmp_path / "patient", slices=3)
    engine = _engine(db_url)
    migrate(engine, db_url, target=3)
    v1 = _migrations._v1_metadata()
    first = sample.objects[0]
    with engine.begin() as conn:  # what a version 3 scan wrote of the first study
        conn.execute(insert(v1.tables["patients"]).values(patient_id=sample.patient_id))
        conn.execute(
            insert(v1.tables["studies"]).values(study_uid=first.study, patient_id=sample.patient_id)
        )
        conn.execute(
            insert(v1.tables["series"]).values(series_uid=first.series, study_uid=first.study)
        )
        info = first.path.stat()
        conn.execute(
            insert(v1.tables["files"]).values(
                path=str(first.path),
                size=info.st_size,
                mtime_ns=info.st_mtime_ns,
                sop_class=first.sop_class,
                sop_instance=first.sop_instance,
                study_uid=first.study,
                series_uid=first.series,
                patient_id=sample.patient_id,
            )
        )
    engine.dispose()
    with Catalog(db_url) as cat:
        assert _version(db_url) == LATEST >= 4
        report = cat.scan([tmp_path / "patient"])
        assert (report.indexed, report.unchanged) == (len(sample.objects), 0)  # read again
        again = cat.scan([tmp_path / "patient"])
        assert again.unchanged == len(sample.objects)
        found = cat.locate(first.sop_instance)[0]
    head = pydicom.dcmread(first.path, stop_before_pixels=True)
    assert (found.accession_number, found.study_time, found.study_id) == (
        head.AccessionNumber,
        head.StudyTime,
        head.StudyID,
    )
    assert (found.patient_sex, found.patient_birth_date) == (head.PatientSex, head.PatientBirthDate)


def test_version_5_reads_study_items_as_studies(db_url: str, tmp_path: Path) -> None:
    """A catalog scanned before version 5 holds the Varian/Brainlab study item of a structure
    set as a structure set to fetch; the migration makes it the study, and the next scan
    reads that file again."""
    sample = generate_sample(tmp_path / "patient", slices=3)
    structure_set = sample.structure_sets[0]
    ds = pydicom.dcmread(structure_set.path)
    study_item = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    study_item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ds.save_as(structure_set.path)
    study = str(study_item.ReferencedSOPInstanceUID)
    with Catalog(db_url) as cat:
        cat.scan([tmp_path / "patient"])
        naming_it = {r.source for r in cat.referrers(study)}  # both structure sets of study 1
    engine = _engine(db_url)
    with engine.begin() as conn:  # what version 4 wrote for that item
        conn.execute(
            text(
                "UPDATE refs SET kind = 'structure_set', is_instance = :yes WHERE target_uid = :t"
            ),
            {"yes": True, "t": study},
        )
        conn.execute(text("DELETE FROM schema_migrations WHERE version >= 5"))
        conn.execute(text("DROP TABLE scan_batches"))  # v6, applied again
        _undo_v7(conn)
    migrate(engine, db_url, target=6)
    with engine.connect() as conn:
        stale = conn.execute(text("SELECT count(*) FROM files WHERE mtime_ns = -1")).scalar()
    engine.dispose()
    assert stale == len(naming_it) == 2  # read again at the next scan; the rest unchanged
    with Catalog(db_url) as cat:
        assert [r.target for r in cat.dangling()] == []
        [ref] = [r for r in cat.references_from(structure_set.sop_instance) if r.target == study]
        assert (ref.kind.value, ref.instance) == ("study", False)
        report = cat.scan([tmp_path / "patient"])
    assert _version(db_url) == LATEST
    assert report.indexed == len(sample.objects)  # version 7 has every file read again


def _undo_v7(conn: Connection) -> None:
    """Take a catalog back to version 6: version 7's columns dropped."""
    conn.execute(text("DELETE FROM schema_migrations WHERE version >= 7"))
    for column, _ in _migrations._V7_FILE_COLUMNS:
        conn.execute(text(f"ALTER TABLE files DROP COLUMN {column}"))


def test_version_7_fills_the_labels_at_the_next_scan(db_url: str, tmp_path: Path) -> None:
    """A catalog scanned before version 7 has no structure set labels, beams or dose units;
    after the migration those objects read as before (the new fields None), and the next
    scan reads every file again and fills them; the scan after that reads nothing."""
    # more files than a small batch (_writer.FEW): PostgreSQL writes them with COPY
    sample = generate_sample(tmp_path / "patient", slices=40, rows=16, columns=16)
    with Catalog(db_url) as cat:
        cat.scan([tmp_path / "patient"])
    engine = _engine(db_url)
    with engine.begin() as conn:
        _undo_v7(conn)
    engine.dispose()
    structure_set, plan, dose = sample.structure_sets[0], sample.plans[0], sample.dose
    with Catalog(db_url) as cat:
        assert _version(db_url) == LATEST
        before = cat.locate(structure_set.sop_instance)[0]
        assert (before.label, before.roi_count, before.content_date) == (None, None, None)
        assert before.series_description == "STRUCTURE SETS"  # what labels fall back on
        report = cat.scan([tmp_path / "patient"])
        assert (report.indexed, report.unchanged) == (len(sample.objects), 0)
        assert cat.scan([tmp_path / "patient"]).unchanged == len(sample.objects)
        found = {
            uid: cat.locate(uid)[0]
            for uid in (structure_set.sop_instance, plan.sop_instance, dose.sop_instance)
        }
    s, p, d = (found[o.sop_instance] for o in (structure_set, plan, dose))
    head = pydicom.dcmread(structure_set.path, stop_before_pixels=True)
    assert (s.label, s.roi_count) == (head.StructureSetLabel, len(head.StructureSetROISequence))
    assert (s.content_date, s.content_time) == (head.StructureSetDate, head.StructureSetTime)
    head = pydicom.dcmread(plan.path, stop_before_pixels=True)
    assert (p.label, p.beam_count, p.roi_count) == (head.RTPlanLabel, len(head.BeamSequence), None)
    head = pydicom.dcmread(dose.path, stop_before_pixels=True)
    assert (d.dose_type, d.dose_units, d.dose_summation) == (
        head.DoseType,
        head.DoseUnits,
        head.DoseSummationType,
    )


def test_new_sqlite_catalogs_opened_at_once_never_say_locked(tmp_path: Path) -> None:
    """Turning a new file to WAL answers "database is locked" at once while another
    connection creates it (it waits for no busy timeout): ~1 in 10 such races failed."""
    for round_ in range(20):
        assert _open_at_once(f"sqlite:///{tmp_path / f'{round_}.sqlite'}") == []
