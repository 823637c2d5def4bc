"""The catalog's tables as the code reads and writes them (the latest schema version).

The tables are *created* by the migrations in :mod:`._migrations`, never from this
module: a test checks that migrating an empty database gives exactly these columns.

Identifiers are the natural keys (Patient ID, Study and Series Instance UIDs), so a row can
be written without first asking the database for an id.  ``files`` has one row per indexed
file; a SOP Instance UID held by several files has several rows (duplicates are facts).
What a file says about its study and series is kept on its own row as well, because real
data disagrees with itself; ``studies`` and ``series`` hold the first description seen.

``refs`` has one row per distinct reference of a file: the same target, role, hints, frames
and segments named from several places (a CT slice named by the contours of many ROIs) is
one row listing those places.  A structure set's thousands of contour references become
about a third as many rows, which is most of the cost of indexing one.  Each place is still
one :class:`~dicomref.model.Reference` when read back.  ``source_uid`` is the source file's
SOP Instance UID: look references up by source through ``files.sop_instance`` and
``refs.file_id``.

``files.path`` is a :class:`StoredPath`: a file name of any bytes (PEP 383 surrogates for
those that are not UTF-8) goes in and comes back exactly (see :mod:`dicomref._filenames`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
)

from dicomref._filenames import os_path, stored_path


class StoredPath(TypeDecorator[str]):
    """A file's path: TEXT in the database, any bytes on disk (see :mod:`dicomref._filenames`).

    Statements built with SQLAlchemy convert on their own; the writer's driver-level
    statements call :func:`~dicomref._filenames.stored_path` themselves.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else stored_path(value)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else os_path(value)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", Text, nullable=False),
    Column("description", Text, nullable=False),
)

patients = Table(
    "patients",
    metadata,
    Column("patient_id", Text, primary_key=True),
    Column("patient_name", Text),
    Column("birth_date", Text),  # v4
    Column("sex", Text),  # v4
)

studies = Table(
    "studies",
    metadata,
    Column("study_uid", Text, primary_key=True),
    Column("patient_id", Text, ForeignKey("patients.patient_id")),
    Column("study_date", Text),
    Column("description", Text),
    Column("study_time", Text),  # v4
    Column("accession_number", Text),  # v4
    Column("study_id", Text),  # v4
    Index(None, "patient_id"),
)

series = Table(
    "series",
    metadata,
    Column("series_uid", Text, primary_key=True),
    Column("study_uid", Text, ForeignKey("studies.study_uid"), nullable=False),
    Column("modality", Text),
    Column("description", Text),
    Column("series_number", Integer),
    Index(None, "study_uid"),
)

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", StoredPath, nullable=False, unique=True),
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
    # Backslash-separated decimal values, as in DICOM: "x\\y\\z" and six direction cosines.
    Column("image_position", Text),
    Column("image_orientation", Text),
    Column("transfer_syntax", Text),
    # Version 2: SHA-256 of the file's bytes, computed on demand for duplicate groups only.
    Column("content_sha256", Text),
    # Version 7: what people name objects by (see dicomref.model.ObjectSummary).
    Column("content_date", Text),
    Column("content_time", Text),
    Column("label", Text),
    Column("roi_count", Integer),
    Column("beam_count", Integer),
    Column("applicator_count", Integer),
    Column("dose_type", Text),
    Column("dose_units", Text),
    Column("dose_summation", Text),
    Index(None, "sop_instance"),
    Index(None, "study_uid"),
    Index(None, "series_uid"),
    Index(None, "patient_id"),
)

refs = Table(
    "refs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("source_uid", Text, nullable=False),
    Column("target_uid", Text, nullable=False),
    Column("target_class", Text),
    Column("kind", Text, nullable=False),
    # Every place in the source that makes this same reference, newline-separated, in order.
    Column("paths", Text, nullable=False),
    Column("path_count", Integer, nullable=False),
    Column("study_hint", Text),
    Column("series_hint", Text),
    Column("frames", Text),  # backslash-separated frame numbers, NULL for none
    Column("segments", Text),  # backslash-separated segment numbers, NULL for none
    Column("is_instance", Boolean, nullable=False),
    Index(None, "file_id"),
    Index(None, "target_uid"),
)

# Version 3: what the probe measured on each server, keyed by "AE@host:port".
node_capabilities = Table(
    "node_capabilities",
    metadata,
    Column("node_key", Text, primary_key=True),
    Column("capabilities", Text, nullable=False),  # Capabilities.to_json()
    Column("measured_at", Text, nullable=False),  # ISO 8601 UTC
    Column("dicomref_version", Text, nullable=False),  # the dicomref that measured
)

# Version 6: the ledger of a cluster scan (see dicomref.catalog._ledger): one row per batch
# written, in the batch's transaction; what the batch found besides indexed files is kept in
# ``outcomes`` (JSON) so that a rerun that skips it reports the same failures.
scan_batches = Table(
    "scan_batches",
    metadata,
    Column("batch_id", Text, primary_key=True),  # SHA-256 of paths, sizes and mtimes
    Column("files", Integer, nullable=False),
    Column("indexed", Integer, nullable=False),
    Column("not_instances", Integer, nullable=False),
    Column("refs", Integer, nullable=False),  # reference places written
    Column("outcomes", Text, nullable=False),  # {"failed": [[path, error]…], "not_dicom": […]}
    Column("finished_at", Text, nullable=False),  # ISO 8601 UTC
)

#: Columns of ``files`` written by a scan, in the order of a row tuple (see ``_rows``).
FILE_COLUMNS: tuple[str, ...] = (
    "path",
    "size",
    "mtime_ns",
    "sop_class",
    "sop_instance",
    "study_uid",
    "series_uid",
    "patient_id",
    "modality",
    "frame_of_reference",
    "instance_number",
    "number_of_frames",
    "image_position",
    "image_orientation",
    "transfer_syntax",
    "content_date",
    "content_time",
    "label",
    "roi_count",
    "beam_count",
    "applicator_count",
    "dose_type",
    "dose_units",
    "dose_summation",
)

#: Columns of ``refs`` in the order of a reference row tuple, ``file_id`` first.
REF_COLUMNS: tuple[str, ...] = (
    "file_id",
    "source_uid",
    "target_uid",
    "target_class",
    "kind",
    "paths",
    "path_count",
    "study_hint",
    "series_hint",
    "frames",
    "segments",
    "is_instance",
)

TABLES = (
    schema_migrations,
    patients,
    studies,
    series,
    files,
    refs,
    node_capabilities,
    scan_batches,
)
