"""Write src/dicomref/catalog/_baseline.py anew: the SQLite schema the migration steps
build, frozen, with which a new SQLite catalog is created in one go.

Run it after adding a migration step (``tests/test_catalog_baseline.py`` fails until the
baseline and the steps agree again):

    .venv/bin/python scripts/catalog_baseline.py && .venv/bin/ruff format src/dicomref/catalog
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy import create_engine

from dicomref.catalog import _baseline
from dicomref.catalog._migrations import LATEST, MIGRATIONS, migrate

TARGET = Path(__file__).resolve().parent.parent / "src" / "dicomref" / "catalog" / "_baseline.py"
WIDTH = 88

HEAD = '''"""{doc}
"""

from __future__ import annotations

from typing import Final

VERSION: Final = {version}
"""The schema version :data:`STATEMENTS` create."""

STATEMENTS: Final = (
{statements})
"""``sqlite_master.sql`` of a catalog migrated step by step to :data:`VERSION`, in order
(the automatic indexes of primary keys and unique constraints come with their tables)."""

STEPS: Final = (
{steps})
"""The ``schema_migrations`` rows of those steps: (version, description)."""
'''


def stepwise_schema() -> list[str]:
    """The statements of a catalog migrated step by step to the latest version."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/catalog.sqlite"
        engine = create_engine(url)
        try:
            migrate(engine, url, baseline=False)
        finally:
            engine.dispose()
        with sqlite3.connect(f"{folder}/catalog.sqlite") as conn:
            rows = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                "ORDER BY rowid"
            ).fetchall()
    tables = [(name, sql) for kind, name, _, sql in rows if kind == "table"]
    indexes = sorted((name, table, sql) for kind, name, table, sql in rows if kind != "table")
    statements = []
    for table, sql in tables:  # each table, then its indexes by name (a stable order)
        statements.append(sql)
        statements += [sql for _, owner, sql in indexes if owner == table]
    return statements


def _pieces(statement: str) -> list[str]:
    """The statement cut after each newline and, in long lines, after a space."""
    pieces: list[str] = []
    for line in statement.splitlines(keepends=True):
        current = ""
        for word in re.findall(r"\S*\s*", line):
            if current and len(repr(current + word)) > WIDTH:
                pieces.append(current)
                current = ""
            current += word
        if current:
            pieces.append(current)
    return pieces


def render(statements: list[str]) -> str:
    body = []
    for statement in statements:
        pieces = _pieces(statement)
        if len(pieces) == 1:
            body.append(f"    {pieces[0]!r},\n")
            continue
        body.append("    (\n")
        body += [f"        {piece!r}\n" for piece in pieces]
        body.append("    ),\n")
    doc = (_baseline.__doc__ or "").strip()  # kept as it is written there
    steps = "".join(
        f"    (\n        {step.version},\n"
        + "".join(f"        {piece!r}\n" for piece in _pieces(step.description))
        + "    ),\n"
        for step in MIGRATIONS
    )
    return HEAD.format(doc=doc, version=LATEST, statements="".join(body), steps=steps)


if __name__ == "__main__":
    TARGET.write_text(render(stepwise_schema()))
    print(f"wrote {TARGET} (schema version {LATEST})")
