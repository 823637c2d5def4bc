"""dicomref's DICOMweb client against dicomref's own DICOMweb server (``serve
--http-port``): the seed's case fetched exactly, with the server cutting every search at a
few rows (``Warning: 299``: the client reads on with ``offset``)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from dicomref._dicomweb._node import WebNode
from dicomref.catalog import Catalog
from dicomref.extraction import read_object
from dicomref.remote import fetch, locate, probe
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


def test_a_server_without_relational_search_is_walked_by_study_and_series(
    tmp_path: Path,
) -> None:
    """dicomref's DICOMweb server in strict mode searches only within a study and series
    (as AWS HealthImaging: no instance search outside a series): ``/instances``,
    ``/series`` and ``/studies/{s}/instances`` answer 400.  The probe says so, locate finds
    unhinted objects by walking studies and series, and the subset case with its dose is
    fetched exactly; nothing is sent twice to a search the server refused."""
    sample = generate_sample(tmp_path / "sample", slices=8, seed=2)
    named = trim_structure_set(sample.structure_sets[0].path, middle(sample.ct, 4))
    served = f"sqlite:///{tmp_path / 'served.sqlite'}"
    with web_served([sample.root], served, strict=True) as web:
        node = WebNode(web.url)
        refused = httpx.get(
            f"{web.url}/instances", params={"SOPInstanceUID": sample.dose.sop_instance}
        )
        assert refused.status_code == 400 and "within a series" in refused.text
        caps = probe(node).capabilities
        assert caps.image_query_without_parents is False
        assert caps.series_query_without_study is False
        assert caps.study_image_query is False
        located = locate(node, [sample.dose.sop_instance, sample.ct[0].sop_instance])
        assert [o.key.series if o.key else None for o in located.objects] == [
            sample.dose.series,
            sample.ct[0].series,
        ]
        # the plan's chain: its structure set searched in its study (refused: learnt, the
        # study walked by its series), the slices straight from their series
        with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
            chain = fetch(
                node,
                [sample.plans[0].path],
                out=ManagedStore(tmp_path / "chain", fsync=False),
                catalog=catalog,
            )
            learnt = catalog.load_capabilities(str(node))
        chained = named | {sample.structure_sets[0].sop_instance}
        assert held(tmp_path / "chain") == chained and chain.missing == ()
        assert learnt is not None and learnt.study_image_query is False
        failed = [line for line in chain.steps if "failed" in line]
        assert len(failed) == 1 and "QIDO-RS IMAGE" in failed[0], chain.steps
        # with its dependents: the study's series listed (the dose's search needs them)
        report = fetch(
            node,
            [sample.plans[0].path],
            out=ManagedStore(tmp_path / "out", fsync=False),
            with_dependents=True,
        )
        exact = chained | {sample.dose.sop_instance}
        assert held(tmp_path / "out") == exact
        assert report.missing == () and report.refused == 0
        assert not [line for line in report.steps if "failed" in line], report.steps


def test_unhinted_objects_on_a_strict_server_send_a_refused_search_once(
    tmp_path: Path,
) -> None:
    """With nothing known of the server, the search by SOP Instance UID in a study is a bet:
    the first refusal ends its phase, so the other objects' searches of that kind are never
    sent; the reasons are worded in DICOMweb's terms."""
    sample = generate_sample(tmp_path / "sample", slices=4, seed=2)
    uids = [o.sop_instance for o in (sample.dose, sample.ct[0], sample.structure_sets[0])]
    with web_served([sample.root], f"sqlite:///{tmp_path / 'served.sqlite'}", strict=True) as web:
        located = locate(WebNode(web.url), uids)
    assert all(o.key is not None for o in located.objects), located.objects
    in_study = [s for s in located.steps if "by SOP UID -> failed" in s]
    assert len(in_study) == 1, located.steps
    assert not [s for s in located.steps if "C-FIND" in s], located.steps
    assert located.capabilities.study_image_query is False
