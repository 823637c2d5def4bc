"""A new SQLite catalog in one go: the schema the migration steps build, frozen.

Creating a catalog step by step costs ~20 ms of SQLAlchemy DDL and inspection, paid by
the first command on every new catalog (a cold fetch included).  A new SQLite catalog is
instead created by running :data:`STATEMENTS`, the ``sqlite_master`` text of a catalog the
steps brought to :data:`VERSION` (a few ms); the steps after :data:`VERSION`, if any, are
then applied as usual.  ``tests/test_catalog_baseline.py`` builds a catalog both ways and
checks that they match statement for statement.  Written by
``scripts/catalog_baseline.py``: run it again after adding a step.  PostgreSQL catalogs
are created step by step.
"""

from __future__ import annotations

from typing import Final

VERSION: Final = 7
"""The schema version :data:`STATEMENTS` create."""

STATEMENTS: Final = (
    (
        "CREATE TABLE schema_migrations (\n"
        "\tversion INTEGER NOT NULL, \n"
        "\tapplied_at TEXT NOT NULL, \n"
        "\tdescription TEXT NOT NULL, \n"
        "\tCONSTRAINT pk_schema_migrations PRIMARY KEY (version)\n"
        ")"
    ),
    (
        "CREATE TABLE patients (\n"
        "\tpatient_id TEXT NOT NULL, \n"
        "\tpatient_name TEXT, birth_date TEXT, sex TEXT, \n"
        "\tCONSTRAINT pk_patients PRIMARY KEY (patient_id)\n"
        ")"
    ),
    (
        "CREATE TABLE studies (\n"
        "\tstudy_uid TEXT NOT NULL, \n"
        "\tpatient_id TEXT, \n"
        "\tstudy_date TEXT, \n"
        "\tdescription TEXT, study_time TEXT, accession_number TEXT, study_id TEXT, \n"
        "\tCONSTRAINT pk_studies PRIMARY KEY (study_uid), \n"
        "\tCONSTRAINT fk_studies_patient_id_patients FOREIGN KEY(patient_id) REFERENCES "
        "patients (patient_id)\n"
        ")"
    ),
    "CREATE INDEX ix_studies_patient_id ON studies (patient_id)",
    (
        "CREATE TABLE series (\n"
        "\tseries_uid TEXT NOT NULL, \n"
        "\tstudy_uid TEXT NOT NULL, \n"
        "\tmodality TEXT, \n"
        "\tdescription TEXT, \n"
        "\tseries_number INTEGER, \n"
        "\tCONSTRAINT pk_series PRIMARY KEY (series_uid), \n"
        "\tCONSTRAINT fk_series_study_uid_studies FOREIGN KEY(study_uid) REFERENCES studies "
        "(study_uid)\n"
        ")"
    ),
    "CREATE INDEX ix_series_study_uid ON series (study_uid)",
    (
        "CREATE TABLE files (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tpath TEXT NOT NULL, \n"
        "\tsize BIGINT NOT NULL, \n"
        "\tmtime_ns BIGINT NOT NULL, \n"
        "\tsop_class TEXT NOT NULL, \n"
        "\tsop_instance TEXT NOT NULL, \n"
        "\tstudy_uid TEXT NOT NULL, \n"
        "\tseries_uid TEXT NOT NULL, \n"
        "\tpatient_id TEXT, \n"
        "\tmodality TEXT, \n"
        "\tframe_of_reference TEXT, \n"
        "\tinstance_number INTEGER, \n"
        "\tnumber_of_frames INTEGER, \n"
        "\timage_position TEXT, \n"
        "\timage_orientation TEXT, \n"
        "\ttransfer_syntax TEXT, content_sha256 TEXT, content_date TEXT, content_time TEXT, "
        "label TEXT, roi_count INTEGER, beam_count INTEGER, applicator_count INTEGER, "
        "dose_type TEXT, dose_units TEXT, dose_summation TEXT, \n"
        "\tCONSTRAINT pk_files PRIMARY KEY (id), \n"
        "\tCONSTRAINT uq_files_path UNIQUE (path), \n"
        "\tCONSTRAINT fk_files_study_uid_studies FOREIGN KEY(study_uid) REFERENCES studies "
        "(study_uid), \n"
        "\tCONSTRAINT fk_files_series_uid_series FOREIGN KEY(series_uid) REFERENCES series "
        "(series_uid), \n"
        "\tCONSTRAINT fk_files_patient_id_patients FOREIGN KEY(patient_id) REFERENCES patients "
        "(patient_id)\n"
        ")"
    ),
    "CREATE INDEX ix_files_patient_id ON files (patient_id)",
    "CREATE INDEX ix_files_series_uid ON files (series_uid)",
    "CREATE INDEX ix_files_sop_instance ON files (sop_instance)",
    "CREATE INDEX ix_files_study_uid ON files (study_uid)",
    (
        "CREATE TABLE refs (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tfile_id INTEGER NOT NULL, \n"
        "\tsource_uid TEXT NOT NULL, \n"
        "\ttarget_uid TEXT NOT NULL, \n"
        "\ttarget_class TEXT, \n"
        "\tkind TEXT NOT NULL, \n"
        "\tpaths TEXT NOT NULL, \n"
        "\tpath_count INTEGER NOT NULL, \n"
        "\tstudy_hint TEXT, \n"
        "\tseries_hint TEXT, \n"
        "\tframes TEXT, \n"
        "\tsegments TEXT, \n"
        "\tis_instance BOOLEAN NOT NULL, \n"
        "\tCONSTRAINT pk_refs PRIMARY KEY (id), \n"
        "\tCONSTRAINT fk_refs_file_id_files FOREIGN KEY(file_id) REFERENCES files (id) ON "
        "DELETE CASCADE\n"
        ")"
    ),
    "CREATE INDEX ix_refs_file_id ON refs (file_id)",
    "CREATE INDEX ix_refs_target_uid ON refs (target_uid)",
    (
        "CREATE TABLE node_capabilities (\n"
        "\tnode_key TEXT NOT NULL, \n"
        "\tcapabilities TEXT NOT NULL, \n"
        "\tmeasured_at TEXT NOT NULL, \n"
        "\tdicomref_version TEXT NOT NULL, \n"
        "\tCONSTRAINT pk_node_capabilities PRIMARY KEY (node_key)\n"
        ")"
    ),
    (
        "CREATE TABLE scan_batches (\n"
        "\tbatch_id TEXT NOT NULL, \n"
        "\tfiles INTEGER NOT NULL, \n"
        '\t"indexed" INTEGER NOT NULL, \n'
        "\tnot_instances INTEGER NOT NULL, \n"
        "\trefs INTEGER NOT NULL, \n"
        "\toutcomes TEXT NOT NULL, \n"
        "\tfinished_at TEXT NOT NULL, \n"
        "\tCONSTRAINT pk_scan_batches PRIMARY KEY (batch_id)\n"
        ")"
    ),
)
"""``sqlite_master.sql`` of a catalog migrated step by step to :data:`VERSION`, in order
(the automatic indexes of primary keys and unique constraints come with their tables)."""

STEPS: Final = (
    (1, "patients, studies, series, files and references"),
    (2, "files.content_sha256: content hashes cached for duplicate groups"),
    (3, "node_capabilities: what each server's probe measured"),
    (
        4,
        "patients.birth_date and sex, studies.study_time, accession_number and study_id: the "
        "keys PACS users query by (the next scan reads every file again to fill them)",
    ),
    (
        5,
        "references in study and series items read by their place, whatever SOP class they "
        "claim (Varian/Brainlab structure sets): no longer objects to fetch or dangling",
    ),
    (
        6,
        "scan_batches: the ledger of a cluster scan, one row per batch written (its id a hash "
        "of the batch's paths, sizes and times): a rerun skips the batches already done",
    ),
    (
        7,
        "files.content_date and content_time, label, roi_count, beam_count, applicator_count, "
        "dose_type, dose_units and dose_summation: what people name RT objects by (the next "
        "scan reads every file again to fill them)",
    ),
)
"""The ``schema_migrations`` rows of those steps: (version, description)."""
