"""The catalog back ends a test can run on.

``catalog_url`` (tests/conftest.py) is a SQLite file unless the test is parametrized with
``catalog_backend``: ``@BOTH_BACKENDS`` on a test, or ``pytestmark = BOTH_BACKENDS`` in a
module, runs it once on SQLite and once on a fresh database of the session's throwaway
PostgreSQL server (``postgres_server``, tests/servers/_postgres.py).
"""

from __future__ import annotations

import pytest

BACKENDS = ("sqlite", "postgresql")
BOTH_BACKENDS = pytest.mark.parametrize("catalog_backend", BACKENDS, indirect=True)
