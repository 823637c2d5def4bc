"""What the probe measured, kept in the catalog per node (schema version 3)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select, text, update

from dicomref import __version__
from dicomref.catalog import Catalog, _migrations
from dicomref.catalog._engine import open_engine
from dicomref.catalog._migrations import migrate
from dicomref.catalog._schema import node_capabilities, schema_migrations
from dicomref.errors import CatalogError
from dicomref.remote.planner._capabilities import Capabilities
from test_catalog_support import db_url, uid

__all__ = ["db_url"]

NODE = "ORTHANC@127.0.0.1:4242"
MEASURED = Capabilities.conservative().learned(
    image_query_without_parents=True, sequence_return_keys=None
)


def test_capabilities_are_saved_and_loaded_equal(db_url: str) -> None:
    caps = dataclasses.replace(MEASURED, measured_at="2024-05-01T10:00:00+00:00")
    with Catalog(db_url) as catalog:
        assert catalog.load_capabilities(NODE) is None
        catalog.save_capabilities(NODE, caps)
        assert catalog.load_capabilities(NODE) == caps
        assert catalog.load_capabilities("OTHER@127.0.0.1:4242") is None
    with Catalog(db_url) as reopened:
        assert reopened.load_capabilities(NODE) == caps


def test_a_new_measurement_replaces_the_last(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        catalog.save_capabilities(
            NODE, dataclasses.replace(MEASURED, measured_at="2024-05-01T10:00:00+00:00")
        )
        newer = dataclasses.replace(MEASURED, c_get=True, measured_at="2024-06-01T10:00:00+00:00")
        catalog.save_capabilities(NODE, newer)
        assert catalog.load_capabilities(NODE) == newer
    engine = open_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(node_capabilities)).all()
    engine.dispose()
    assert len(rows) == 1
    assert rows[0].measured_at == "2024-06-01T10:00:00+00:00"
    assert rows[0].dicomref_version == __version__


def test_unmeasured_capabilities_get_the_time_they_were_saved(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        catalog.save_capabilities(NODE, Capabilities.unknown())
        assert catalog.load_capabilities(NODE) == Capabilities.unknown()
    engine = open_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(select(node_capabilities.c.measured_at))
    engine.dispose()


def test_unreadable_cached_capabilities_are_a_catalog_error(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        catalog.save_capabilities(NODE, MEASURED)
        engine = open_engine(db_url)
        with engine.begin() as conn:
            conn.execute(update(node_capabilities).values(capabilities='{"echo": "yes"}'))
        engine.dispose()
        with pytest.raises(CatalogError, match=f"{NODE}.*dicomref probe {NODE}"):
            catalog.load_capabilities(NODE)


def test_a_version_2_catalog_gains_the_table_and_keeps_its_rows(
    db_url: str, tmp_path: Path
) -> None:
    engine = open_engine(db_url)
    assert migrate(engine, db_url, target=2) == 2
    v1 = _migrations._v1_metadata()  # version 2 only added files.content_sha256
    with engine.begin() as conn:
        conn.execute(insert(v1.tables["patients"]).values(patient_id="P1"))
        conn.execute(insert(v1.tables["studies"]).values(study_uid=uid(1), patient_id="P1"))
        conn.execute(insert(v1.tables["series"]).values(series_uid=uid(2), study_uid=uid(1)))
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
        conn.execute(text("UPDATE files SET content_sha256 = 'abc'"))
    assert "node_capabilities" not in inspect(engine).get_table_names()
    engine.dispose()

    with Catalog(db_url) as catalog:
        assert [s.path for s in catalog.locate(uid(3))] == [str(tmp_path / "ct.dcm")]
        catalog.save_capabilities(NODE, MEASURED)
        assert catalog.load_capabilities(NODE) == MEASURED
    engine = open_engine(db_url)
    with engine.connect() as conn:
        versions = conn.execute(select(schema_migrations.c.version)).scalars().all()
        assert conn.scalar(text("SELECT content_sha256 FROM files")) == "abc"
    assert 3 in versions
    columns = {c["name"] for c in inspect(engine).get_columns("node_capabilities")}
    assert columns == {"node_key", "capabilities", "measured_at", "dicomref_version"}
    engine.dispose()
