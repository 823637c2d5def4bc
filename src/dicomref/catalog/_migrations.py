"""Schema migrations: an ordered list of steps; those a catalog lacks are applied in one
transaction.

Each step is recorded in ``schema_migrations`` (version, applied_at, description) in the
same transaction as its DDL, so a catalog is always at exactly one version.  A catalog whose
version is newer than :data:`LATEST` was written by a newer dicomref: we refuse to touch it.

The steps hold their own frozen DDL: version 1 creates the tables as they were then, not as
:mod:`._schema` describes them today.  Never edit a released step; add one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
)

from dicomref.catalog import _baseline
from dicomref.catalog._engine import WRITE, masked
from dicomref.catalog._lite_create import lay_down
from dicomref.catalog._schema import NAMING, schema_migrations
from dicomref.errors import CatalogError, CatalogVersionError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_metadata() -> MetaData:
    md = MetaData(naming_convention=NAMING)
    Table(
        "patients", md, Column("patient_id", Text, primary_key=True), Column("patient_name", Text)
    )
    Table(
        "studies",
        md,
        Column("study_uid", Text, primary_key=True),
        Column("patient_id", Text, ForeignKey("patients.patient_id")),
        Column("study_date", Text),
        Column("description", Text),
        Index(None, "patient_id"),
    )
    Table(
        "series",
        md,
        Column("series_uid", Text, primary_key=True),
        Column("study_uid", Text, ForeignKey("studies.study_uid"), nullable=False),
        Column("modality", Text),
        Column("description", Text),
        Column("series_number", Integer),
        Index(None, "study_uid"),
    )
    Table(
        "files",
        md,
        Column("id", Integer, primary_key=True),
        Column("path", Text, nullable=False, unique=True),
        Column("size", BigInteger, nullable=False),
        Column("mtime_ns", BigInteger, nullable=False),
        Column("sop_class", Text, nullable=False),
        Column("sop_instance", Text, nullable=False),
        Column("study_uid", Text, ForeignKey("studies.study_uid"), nullable=False),
        Column("series_uid", Text, ForeignKey("series.series_uid"), nullable=False),
        Column("patient_id", Text, ForeignKey("patients.patient_id")),
        Column("modality", Text),
        Column("frame_of_reference", Text),
        Column("instance_number", Integer),
        Column("number_of_frames", Integer),
        Column("image_position", Text),
        Column("image_orientation", Text),
        Column("transfer_syntax", Text),
        Index(None, "sop_instance"),
        Index(None, "study_uid"),
        Index(None, "series_uid"),
        Index(None, "patient_id"),
    )
    Table(
        "refs",
        md,
        Column("id", Integer, primary_key=True),
        Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
        Column("source_uid", Text, nullable=False),
        Column("target_uid", Text, nullable=False),
        Column("target_class", Text),
        Column("kind", Text, nullable=False),
        Column("paths", Text, nullable=False),
        Column("path_count", Integer, nullable=False),
        Column("study_hint", Text),
        Column("series_hint", Text),
        Column("frames", Text),
        Column("segments", Text),
        Column("is_instance", Boolean, nullable=False),
        Index(None, "file_id"),
        Index(None, "target_uid"),
    )
    return md


def _v1(conn: Connection) -> None:
    _v1_metadata().create_all(conn)


def _v2(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE files ADD COLUMN content_sha256 TEXT"))


def _v3(conn: Connection) -> None:
    md = MetaData(naming_convention=NAMING)
    Table(
        "node_capabilities",
        md,
        Column("node_key", Text, primary_key=True),
        Column("capabilities", Text, nullable=False),
        Column("measured_at", Text, nullable=False),
        Column("dicomref_version", Text, nullable=False),
    )
    md.create_all(conn)


def _v4(conn: Connection) -> None:
    for table, column in (
        ("patients", "birth_date"),
        ("patients", "sex"),
        ("studies", "study_time"),
        ("studies", "accession_number"),
        ("studies", "study_id"),
    ):
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} TEXT"))
    # Files indexed before hold these values too: the next scan reads them again (a size
    # and time no file has) and fills the new columns (see _writer._insert_filling).
    conn.execute(text("UPDATE files SET mtime_ns = -1"))


#: v5: the sequences whose items name a study or a series whatever their class (as frozen
#: then; dicomref.extraction._rules.LEVEL_SEQUENCES holds today's list).
_V5_LEVELS = {
    "ReferencedStudySequence": "study",
    "RTReferencedStudySequence": "study",
    "StudiesContainingOtherReferencedInstancesSequence": "study",
    "CurrentRequestedProcedureEvidenceSequence": "study",
    "PertinentOtherEvidenceSequence": "study",
    "IdenticalDocumentsSequence": "study",
    "PredecessorDocumentsSequence": "study",
    "RTReferencedSeriesSequence": "series",
    "ReferencedSeriesSequence": "series",
    "ReferencedPatientSequence": "patient",
    "ReferencedPerformedProcedureStepSequence": "procedure_step",
    "ReferencedProcedureStepSequence": "procedure_step",
    "InstanceLevelReferencedPerformedProcedureStepSequence": "procedure_step",
    "ReferencedVisitSequence": "other",
}


def _v5_level(paths: str) -> str | None:
    """The kind every path of a refs row names by its innermost sequence, if one of v5's."""
    kinds = set()
    for path in paths.split("\n"):
        innermost = path.rsplit(".", 1)[-1].split("[", 1)[0]
        kinds.add(_V5_LEVELS.get(innermost))
    return kinds.pop() if len(kinds) == 1 else None


def _v5(conn: Connection) -> None:
    # Stored objects read from study or series items (Varian and Brainlab write RT Structure
    # Set Storage in RTReferencedStudySequence): the kind their place names, no instance.
    # Their files are read again by the next scan (a size and time no file has), which also
    # gives the references below those items the study or series hint they now carry.
    found = conn.execute(
        text("SELECT id, file_id, paths FROM refs WHERE is_instance = :yes"), {"yes": True}
    )
    fixed: dict[int, str] = {}
    files_to_read: set[int] = set()
    for ref_id, file_id, paths in found:
        kind = _v5_level(paths)
        if kind is not None:
            fixed[ref_id] = kind
            files_to_read.add(file_id)
    for ref_id, kind in fixed.items():
        conn.execute(
            text("UPDATE refs SET kind = :kind, is_instance = :no WHERE id = :id"),
            {"kind": kind, "no": False, "id": ref_id},
        )
    for file_id in files_to_read:
        conn.execute(text("UPDATE files SET mtime_ns = -1 WHERE id = :id"), {"id": file_id})
    if fixed:
        log.info(
            "catalog v5: %d references read again as studies or series (%d files to rescan)",
            len(fixed),
            len(files_to_read),
        )


def _v6(conn: Connection) -> None:
    md = MetaData(naming_convention=NAMING)
    Table(
        "scan_batches",
        md,
        Column("batch_id", Text, primary_key=True),
        Column("files", Integer, nullable=False),
        Column("indexed", Integer, nullable=False),
        Column("not_instances", Integer, nullable=False),
        Column("refs", Integer, nullable=False),
        Column("outcomes", Text, nullable=False),
        Column("finished_at", Text, nullable=False),
    )
    md.create_all(conn)


#: v7: the columns of what people name objects by (see dicomref.model.ObjectSummary).
_V7_FILE_COLUMNS = (
    ("content_date", "TEXT"),
    ("content_time", "TEXT"),
    ("label", "TEXT"),
    ("roi_count", "INTEGER"),
    ("beam_count", "INTEGER"),
    ("applicator_count", "INTEGER"),
    ("dose_type", "TEXT"),
    ("dose_units", "TEXT"),
    ("dose_summation", "TEXT"),
)


def _v7(conn: Connection) -> None:
    for column, kind in _V7_FILE_COLUMNS:
        conn.execute(text(f"ALTER TABLE files ADD COLUMN {column} {kind}"))
    # Files indexed before hold these values too: the next scan reads them again (a time
    # no file has) and writes them; until then they are NULL and labels say less.
    conn.execute(text("UPDATE files SET mtime_ns = -1"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "patients, studies, series, files and references", _v1),
    Migration(2, "files.content_sha256: content hashes cached for duplicate groups", _v2),
    Migration(3, "node_capabilities: what each server's probe measured", _v3),
    Migration(
        4,
        "patients.birth_date and sex, studies.study_time, accession_number and study_id: "
        "the keys PACS users query by (the next scan reads every file again to fill them)",
        _v4,
    ),
    Migration(
        5,
        "references in study and series items read by their place, whatever SOP class they "
        "claim (Varian/Brainlab structure sets): no longer objects to fetch or dangling",
        _v5,
    ),
    Migration(
        6,
        "scan_batches: the ledger of a cluster scan, one row per batch written (its id a hash "
        "of the batch's paths, sizes and times): a rerun skips the batches already done",
        _v6,
    ),
    Migration(
        7,
        "files.content_date and content_time, label, roi_count, beam_count, applicator_count, "
        "dose_type, dose_units and dose_summation: what people name RT objects by (the next "
        "scan reads every file again to fill them)",
        _v7,
    ),
)

#: The schema version this code reads and writes.
LATEST = MIGRATIONS[-1].version

_OWN_TABLES = frozenset({"patients", "studies", "series", "files", "refs"})
_PG_LOCK_KEY = 0x6469636F6D726566  # "dicomref": one migrator at a time per database


def current_version(conn: Connection) -> int:
    """The catalog's schema version; 0 for an empty database."""
    tables = set(inspect(conn).get_table_names())
    if schema_migrations.name not in tables:
        if tables & _OWN_TABLES:
            raise CatalogError(
                "the database holds tables named like dicomref's "
                f"({', '.join(sorted(tables & _OWN_TABLES))}) but no schema_migrations table: "
                "it is not a dicomref catalog; choose another (--db or DICOMREF_DB)"
            )
        return 0
    version = conn.scalar(select(func.max(schema_migrations.c.version)))
    return int(version or 0)


def _refuse_newer(version: int, url: str) -> None:
    if version > LATEST:
        raise CatalogVersionError(
            f"catalog {masked(url)} has schema version {version}, but this dicomref "
            f"understands versions up to {LATEST}: upgrade dicomref "
            "(pip install --upgrade dicomref), or use another catalog (--db or DICOMREF_DB)"
        )


def migrate(engine: Engine, url: str, *, target: int = LATEST, baseline: bool = True) -> int:
    """Bring the catalog to ``target`` (default: the latest version); return the version.

    The pending steps are applied in one transaction, each recorded in
    ``schema_migrations`` as it is applied; a step that fails rolls back every one of
    them, so the catalog stays at the version it had.  A new SQLite catalog (with
    ``baseline``) is created from :mod:`._baseline` instead of by the steps it covers
    (~3 ms instead of ~20 ms), their rows recorded as if they had run.  Safe to run from
    several processes at once: the transaction takes the write lock (SQLite ``BEGIN
    IMMEDIATE``, a PostgreSQL advisory lock) and re-reads the version inside it.
    """
    with engine.connect() as conn:
        version = current_version(conn)
        conn.rollback()
    _refuse_newer(version, url)
    if version >= target:
        return version
    applied: list[Migration] = []
    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
            version = current_version(conn)
            _refuse_newer(version, url)
            if version == 0 and baseline and conn.dialect.name == "sqlite":
                version = _create_from_baseline(conn, target)
            elif version == 0:
                schema_migrations.create(conn)
            for step in MIGRATIONS:
                if step.version > target or step.version <= version:
                    continue
                step.apply(conn)
                conn.execute(
                    insert(schema_migrations).values(
                        version=step.version,
                        applied_at=datetime.now(UTC).isoformat(timespec="seconds"),
                        description=step.description,
                    )
                )
                applied.append(step)
    for step in applied:
        log.info("catalog %s migrated to schema version %d", masked(url), step.version)
    return max(version, target)


def _create_from_baseline(conn: Connection, target: int) -> int:
    """A new SQLite catalog's schema from :mod:`._baseline` (when ``target`` is at least
    its version); the version it is then at (0 when the baseline was not used)."""
    if target < _baseline.VERSION:
        schema_migrations.create(conn)
        return 0
    version = lay_down(conn.exec_driver_sql)
    log.info("catalog created at schema version %d", version)
    return version
