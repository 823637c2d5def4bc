"""dicomref's DICOMweb client against dicomref's own DICOMweb server (``serve
--http-port``): the seed's case fetched exactly, with the server cutting every search at a
few rows (``Warning: 299``: the client reads on with ``offset``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomref._dicomweb._node import WebNode
from dicomref.extraction import read_object
from dicomref.remote import fetch, locate
from dicomref.sample import Sample, generate_sample
from dicomref.server.dicomweb import DicomWebLimits
from dicomref.store import ManagedStore
from dicomweb_support import web_served
from subset_case import middle, trim_structure_set


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return generate_sample(tmp_path_factory.mktemp("sample"), slices=8, seed=0)


def held(folder: Path) -> set[str]:
    return {read_object(p).sop_instance for p in folder.rglob("*.dcm") if ".holding" not in str(p)}


def test_the_seed_case_from_our_own_server_with_searches_cut_short(
    sample: Sample, tmp_path: Path
) -> None:
    named = trim_structure_set(sample.structure_sets[0].path, middle(sample.ct, 4))
    limits = DicomWebLimits(max_results=2)
    with web_served([sample.root], f"sqlite:///{tmp_path / 'served.sqlite'}", limits=limits) as web:
        node = WebNode(web.url)
        report = fetch(
            node,
            [sample.plans[0].path],
            out=ManagedStore(tmp_path / "out", fsync=False),
            with_dependents=True,
        )
        exact = named | {sample.structure_sets[0].sop_instance, sample.dose.sop_instance}
        assert held(tmp_path / "out") == exact
        assert report.missing == () and report.refused == 0
        # a study of 7 series, listed 2 rows at a time
        located = locate(node, [o.sop_instance for o in sample.ct])
        assert all(o.key is not None for o in located.objects)
