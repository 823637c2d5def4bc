"""Fixtures shared across the suite: generated patients, catalogs over them, and the
session's PostgreSQL server.

Catalog back ends: ``catalog_url`` is a SQLite file unless the test is parametrized with
``catalog_backend`` (``@BOTH_BACKENDS`` from backends.py on a test, or ``pytestmark =
BOTH_BACKENDS`` in a module): then it runs once on SQLite and once on a fresh database of
``postgres_server``, a throwaway PostgreSQL cluster started once per test session (per
xdist worker).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dicomref.catalog import Catalog
from dicomref.sample import Sample, generate_sample
from servers import OrthancServer, PostgresServer, ServerUnavailableError, running, unavailable

SMALL_SLICES = 12


@pytest.fixture(scope="session")
def pristine_sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """A small generated patient, shared read-only by every test of the session."""
    return generate_sample(tmp_path_factory.mktemp("pristine") / "patient", slices=SMALL_SLICES)


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    """A small generated patient of this test's own, free to change."""
    return generate_sample(tmp_path / "patient", slices=SMALL_SLICES)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; skipped where PostgreSQL is not installed
    (a failure when CI is "true")."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    try:
        server.start()
    except ServerUnavailableError as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def orthanc_dicomweb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """Orthanc with its DICOMweb plugin (Debian's orthanc-dicomweb), empty, one per test
    module: its base URL is ``.dicomweb_url``; store test files with ``.upload(paths)``.
    Needs the private network namespace (scripts/in-netns.sh); skipped where it cannot run (a
    failure when CI is "true")."""
    workdir = tmp_path_factory.mktemp("orthanc-dicomweb")
    with running(OrthancServer(workdir, dicomweb=True)) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server, dropped after the test."""
    url = postgres_server.new_database("test")
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def catalog_backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" unless the test is parametrized with BOTH_BACKENDS."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def catalog_url(catalog_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A catalog URL nobody else uses: a SQLite file, or a new PostgreSQL database."""
    if catalog_backend == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'catalog.sqlite'}"


@pytest.fixture
def make_catalog_url(
    catalog_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], str]]:
    """``make_catalog_url(name)``: the URL of another new catalog on the test's back end (a
    SQLite file ``name``.sqlite, or a new PostgreSQL database dropped after the test)."""
    made: list[str] = []
    server: PostgresServer | None = None
    if catalog_backend == "postgresql":
        server = request.getfixturevalue("postgres_server")

    def make(name: str) -> str:
        if server is None:
            return f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        url = server.new_database(name)
        made.append(url.rsplit("/", 1)[1])
        return url

    yield make
    for database in made:
        assert server is not None
        server.drop_database(database)


@pytest.fixture
def scanned(sample: Sample, catalog_url: str) -> Callable[[], Catalog]:
    """Returns a function that (re)scans this test's sample and opens the catalog."""

    def open_scanned() -> Catalog:
        catalog = Catalog(catalog_url)
        catalog.scan([sample.root])
        return catalog

    return open_scanned


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
