"""Fixtures shared across the suite: generated patients and catalogs over them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from dicomref.catalog import Catalog
from dicomref.sample import Sample, generate_sample

SMALL_SLICES = 12


@pytest.fixture(scope="session")
def pristine_sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """A small generated patient, shared read-only by every test of the session."""
    return generate_sample(tmp_path_factory.mktemp("pristine") / "patient", slices=SMALL_SLICES)


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    """A small generated patient of this test's own, free to change."""
    return generate_sample(tmp_path / "patient", slices=SMALL_SLICES)


@pytest.fixture
def catalog_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.sqlite'}"


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
