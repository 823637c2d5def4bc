"""Cohort fetches over DICOMweb (issue 11.3: ``--query`` is "a C-FIND / QIDO selecting the
starts"): ``dicomref fetch URL --query Modality=RTPLAN`` against Orthanc's DICOMweb plugin
and dicomref's own DICOMweb server (plain and strict), each loaded with the three patients of
tests/test_fetch_cohort.py.  The output folder must hold exactly the union of the plans'
closures (read with pydicom), each object once, and ``--json`` must say per start what it
needed, in QIDO-RS and WADO-RS only.  Run inside scripts/in-netns.sh.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomref.sample import Sample, generate_sample
from dicomweb_support import web_served
from servers import OrthancServer
from test_fetch_cohort import arrived, check_store, cli, closure, plans

WEB_SERVERS = ["orthanc", "serve", "serve_strict"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    root = tmp_path_factory.mktemp("cohort")
    return [generate_sample(root / f"p{seed}", slices=6, seed=seed) for seed in range(3)]


@pytest.fixture(scope="module")
def orthanc(orthanc_dicomweb: OrthancServer, cohort: list[Sample]) -> str:
    orthanc_dicomweb.upload([o.path for s in cohort for o in s.objects])
    return orthanc_dicomweb.dicomweb_url


def _served(
    tmp_path_factory: pytest.TempPathFactory, cohort: list[Sample], *, strict: bool
) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('serve') / 'catalog.sqlite'}"
    with web_served([s.root for s in cohort], url, strict=strict) as web:
        yield web.url


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, cohort: list[Sample]) -> Iterator[str]:
    yield from _served(tmp_path_factory, cohort, strict=False)


@pytest.fixture(scope="module")
def serve_strict(tmp_path_factory: pytest.TempPathFactory, cohort: list[Sample]) -> Iterator[str]:
    yield from _served(tmp_path_factory, cohort, strict=True)


@pytest.fixture
def url(request: pytest.FixtureRequest) -> str:
    found: str = request.getfixturevalue(request.param)
    return found


@pytest.mark.parametrize("url", WEB_SERVERS, indirect=True)
def test_a_query_selects_the_plans_and_brings_the_union_of_their_closures(
    url: str, cohort: list[Sample], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    code, text = cli("fetch", url, "--query", "Modality=RTPLAN", "--out", out, "--db", db, "--json")
    assert code == 0, text
    data = json.loads(text)
    chosen = plans(cohort)
    union = set().union(*(closure(s, p) for s, p in chosen))
    check_store(out, union)
    assert arrived(data["steps"]) == len(union)
    by_uid = {r["uid"]: r for r in data["starts"]}
    assert set(by_uid) == {p.sop_instance for _, p in chosen}
    for sample, plan in chosen:
        assert set(by_uid[plan.sop_instance]["needed"]) == closure(sample, plan)
    assert set(data["requests"]) <= {"QIDO-RS", "WADO-RS"} and "connections" in data

    # one patient, two keys in one --query: its plans only
    again = tmp_path / "again"
    query = f"Modality=RTPLAN PatientID={cohort[1].patient_id}"
    db = f"sqlite:///{tmp_path / 'again.sqlite'}"
    code, text = cli("fetch", url, "--query", query, "--out", again, "--db", db, "--json")
    assert code == 0, text
    assert {r["uid"] for r in json.loads(text)["starts"]} == {
        p.sop_instance for p in cohort[1].plans
    }
    check_store(again, set().union(*(closure(cohort[1], p) for p in cohort[1].plans)))


@pytest.mark.parametrize("url", ["orthanc", "serve"], indirect=True)
def test_a_query_that_selects_nothing_says_so_with_exit_1(url: str, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    query = "Modality=RTPLAN PatientID=NOBODY"
    code, text = cli("fetch", url, "--query", query, "--out", tmp_path / "out", "--db", db)
    assert code == 1, text
    assert "Starts: 0 of 0 complete." in text and "QIDO-RS" in text
