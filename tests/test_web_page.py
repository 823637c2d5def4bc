"""Every route of the web page over HTTP (Starlette's TestClient), on a generated patient.

The browser tests (test_web_browser.py) drive the same pages in Chromium.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pydicom
import pytest
from starlette.testclient import TestClient

from backends import BOTH_BACKENDS
from dicomref.catalog import Catalog
from dicomref.check import run_checks
from dicomref.sample import Sample
from web_support import contoured_slice, delete_slice, page_app

# SQLite and PostgreSQL: the page builds its own queries over the catalog's tables.
pytestmark = BOTH_BACKENDS


@pytest.fixture
def client(scanned: Callable[[], Catalog]) -> Iterator[TestClient]:
    with scanned() as catalog, TestClient(page_app(catalog)) as c:
        yield c


def text_of(html: str) -> str:
    """The page's text, tags dropped, whitespace folded (entities left as they are)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def results(client: TestClient, **params: str) -> str:
    """The results section of the find page (not the recent scans under it)."""
    page = client.get("/", params=params)
    assert page.status_code == 200
    section: str = page.text.split('id="results"')[1].split('id="recent"')[0]
    return section


def test_find_by_id_name_accession_and_uid(client: TestClient, sample: Sample) -> None:
    study = sample.study_uids[0]
    for q in (sample.patient_id, "sample0", "DICOMREF SAMPLE", study):
        assert f"/studies/{study}" in results(client, q=q), q
    nobody = results(client, q="nobody-by-this-name")
    assert "0 studies found" in nobody and "/studies/" not in nobody


def test_find_by_modality_and_date(client: TestClient, sample: Sample) -> None:
    planning, follow_up = sample.study_uids
    rtplan = results(client, modality="RTPLAN")
    assert f"/studies/{planning}" in rtplan and f"/studies/{follow_up}" not in rtplan
    found = client.get("/api/search", params={"q": sample.patient_id}).json()["studies"]
    dates = {s["study_uid"]: s["study_date"] for s in found}
    first = dates[planning]
    iso = f"{first[:4]}-{first[4:6]}-{first[6:]}"
    one_day = results(client, **{"from": iso, "to": iso})
    assert f"/studies/{planning}" in one_day
    assert (f"/studies/{follow_up}" in one_day) == (dates[follow_up] == first)


def test_recent_scans_list_both_studies(client: TestClient, sample: Sample) -> None:
    home = client.get("/").text
    assert "Recently scanned" in home
    for study in sample.study_uids:
        assert f"/studies/{study}" in home
    recent = client.get("/api/search").json()["studies"]
    assert {s["study_uid"] for s in recent} == set(sample.study_uids)


def test_study_page_shows_the_rt_chain_in_order(client: TestClient, sample: Sample) -> None:
    page = client.get(f"/studies/{sample.study_uids[0]}")
    assert page.status_code == 200
    chain = page.text.split('id="chain"')[1].split('id="derived"')[0]
    ss, plan, dose = sample.structure_sets[0], sample.plans[0], sample.dose
    order = [chain.index(f"/objects/{o.sop_instance}") for o in (ss, plan, dose)]
    assert order == sorted(order)
    assert chain.index("CT #1") < order[0]
    assert "contours on" in chain and f"{len(sample.ct)} slices it names" in chain
    derived = page.text.split('id="derived"')[1].split('id="series"')[0]
    assert f"/objects/{sample.seg.sop_instance}" in derived
    assert f"/objects/{sample.kos.sop_instance}" in derived
    assert "No problems found." in page.text
    assert f"{len(sample.ct)} slices held" in text_of(chain)
    # each object named as people name it, with its date
    text = html.unescape(text_of(chain))
    assert "Structure set 'SET0' (3 ROIs) · RTSTRUCT #2 'STRUCTURE SETS' · instance 1" in text
    date = str(pydicom.dcmread(plan.path, stop_before_pixels=True).RTPlanDate)
    date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    assert f"Plan 'MAIN' (3 beams) · RTPLAN #3 'PLAN MAIN' · instance 1 · {date}" in text
    assert "Dose PHYSICAL GY (PLAN) · RTDOSE #5 'DOSE PLAN MAIN'" in text


def test_study_page_reports_a_deleted_slice(sample: Sample, catalog_url: str) -> None:
    gone = delete_slice(sample, contoured_slice(sample))
    with Catalog(catalog_url) as catalog, TestClient(page_app(catalog)) as c:
        catalog.scan([sample.root])
        page = c.get(f"/studies/{sample.study_uids[0]}").text
    findings = page.split('id="findings"')[1]
    assert "DANGLING_REFERENCE" in findings and gone in findings
    chain = page.split('id="chain"')[1].split('id="derived"')[0]
    assert "✗ missing contour image" in chain and f"/objects/{gone}" in chain
    assert "expected in CT #1 &#x27;PLANNING CT&#x27;" in chain


def test_object_page_is_show_as_html(client: TestClient, sample: Sample) -> None:
    plan, ss = sample.plans[0], sample.structure_sets[0]
    page = client.get(f"/objects/{plan.sop_instance}")
    assert page.status_code == 200
    text = text_of(page.text)
    for uid in (plan.sop_instance, plan.study, plan.series, ss.sop_instance):
        assert uid in text
    assert str(plan.path) in text
    metadata = (
        f"/dicom-web/studies/{plan.study}/series/{plan.series}"
        f"/instances/{plan.sop_instance}/metadata"
    )
    assert f'href="{metadata}"' in page.text
    assert f'href="/objects/{sample.dose.sop_instance}"' in page.text  # a referrer
    assert f'href="/graph/{plan.sop_instance}?depth=2&amp;direction=both"' in page.text
    head = pydicom.dcmread(plan.path, stop_before_pixels=True)
    assert "<h1>Plan &#x27;MAIN&#x27; (3 beams) <small>" in page.text
    date, time = head.RTPlanDate, head.RTPlanTime
    assert f"Date {date[:4]}-{date[4:6]}-{date[6:]} {time[:2]}:{time[2:4]}:{time[4:6]}" in text
    assert f"Label {head.RTPlanLabel}" in text and f"Beams {len(head.BeamSequence)}" in text
    dose = text_of(client.get(f"/objects/{sample.dose.sop_instance}").text)
    assert "Dose PHYSICAL GY, summation type PLAN" in dose
    structures = text_of(client.get(f"/objects/{ss.sop_instance}").text)
    assert "Label SET0" in structures and "ROIs 3" in structures


def test_object_page_of_a_missing_object(sample: Sample, catalog_url: str) -> None:
    gone = delete_slice(sample, contoured_slice(sample))
    with Catalog(catalog_url) as catalog, TestClient(page_app(catalog)) as c:
        catalog.scan([sample.root])
        page = c.get(f"/objects/{gone}")
    assert page.status_code == 200
    assert "Missing object" in page.text
    assert f'href="/objects/{sample.structure_sets[0].sop_instance}"' in page.text
    assert "expected in series" in text_of(page.text) and sample.ct[0].series in page.text


def test_unknown_uids_are_404(client: TestClient) -> None:
    for url in ("/objects/1.2.3.4", "/studies/1.2.3.4", "/api/graph/1.2.3.4"):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert "1.2.3.4" in answer.text


def graph(client: TestClient, uid: str, **params: Any) -> dict[str, Any]:
    answer = client.get(f"/api/graph/{uid}", params=params)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def nodes_by_kind(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n["data"] for n in data["nodes"] if n["data"]["kind"] == kind]


def test_graph_of_a_plan_folds_the_slices_into_their_series(
    client: TestClient, sample: Sample
) -> None:
    plan, ss, dose = sample.plans[0], sample.structure_sets[0], sample.dose
    data = graph(client, plan.sop_instance, depth=2, direction="both")
    objects = {n["uid"] for n in nodes_by_kind(data, "object")}
    assert {plan.sop_instance, ss.sop_instance, dose.sop_instance} <= objects
    assert not {ct.sop_instance for ct in sample.ct} & objects
    (series,) = nodes_by_kind(data, "series")
    assert series["uid"] == sample.ct[0].series
    assert (
        series["label"]
        == f"CT #1 'PLANNING CT'\n{len(sample.ct)} of {len(sample.ct)} slices referenced"
    )
    assert (
        series["expandable"] and series["href"] == f"/studies/{plan.study}#series-{series['uid']}"
    )
    root = next(n for n in nodes_by_kind(data, "object") if n["root"])
    assert root["uid"] == plan.sop_instance and root["label"].startswith(
        "Plan 'MAIN' (3 beams)\nRTPLAN #3"
    )
    assert plan.sop_instance in root["title"] and root["href"] == f"/objects/{plan.sop_instance}"
    from_ss = [
        e["data"] for e in data["edges"] if e["data"]["source"] == f"object:{ss.sop_instance}"
    ]
    assert {e["label"] for e in from_ss if e["target"] == series["id"]} == {
        f"contour image \N{MULTIPLICATION SIGN}{len(sample.ct)}"
    }


def test_expanding_the_series_shows_its_slices_in_a_group(
    client: TestClient, sample: Sample
) -> None:
    ss = sample.structure_sets[0]
    series = sample.ct[0].series
    data = graph(client, ss.sop_instance, depth=1, direction="forward", expand=series)
    (group,) = nodes_by_kind(data, "group")
    assert group["uid"] == series and group["collapsible"]
    slices = [n for n in nodes_by_kind(data, "object") if n.get("parent") == group["id"]]
    assert {n["uid"] for n in slices} == {ct.sop_instance for ct in sample.ct}
    assert not nodes_by_kind(data, "series")


def test_graph_marks_a_deleted_slice_missing_in_its_series(
    sample: Sample, catalog_url: str
) -> None:
    gone = delete_slice(sample, contoured_slice(sample))
    with Catalog(catalog_url) as catalog, TestClient(page_app(catalog)) as c:
        catalog.scan([sample.root])
        data = graph(c, sample.structure_sets[0].sop_instance, depth=1, direction="forward")
    (missing,) = nodes_by_kind(data, "missing")
    assert missing["uid"] == gone and missing["missing"]
    assert missing["label"] == "Missing CT Image\nexpected in CT #1 'PLANNING CT'"
    (series,) = nodes_by_kind(data, "series")
    held = len(sample.ct) - 1
    assert series["label"].endswith(f"{held} of {held} slices referenced, 1 missing")


def test_graph_parameters_are_checked(client: TestClient, sample: Sample) -> None:
    uid = sample.plans[0].sop_instance
    for params in ({"depth": "0"}, {"depth": "x"}, {"direction": "sideways"}):
        assert client.get(f"/api/graph/{uid}", params=params).status_code == 400
        assert client.get(f"/graph/{uid}", params=params).status_code == 400


def test_graph_page_loads_only_its_own_assets(client: TestClient, sample: Sample) -> None:
    page = client.get(f"/graph/{sample.plans[0].sop_instance}", params={"depth": 3})
    assert page.status_code == 200
    assert 'data-depth="3"' in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/vendor/cytoscape.min.js" in assets and "/static/graph.js" in assets
    for asset in assets:
        assert asset.startswith(("/", "#")) or asset == "data:,", asset
        if asset.startswith("/static/"):
            answer = client.get(asset)
            assert answer.status_code == 200 and answer.content, asset


@pytest.mark.parametrize(
    ("asset", "media"),
    [
        ("page.css", "text/css"),
        ("graph.js", "javascript"),
        ("vendor/cytoscape.min.js", "javascript"),
        ("vendor/cytoscape-dagre.min.js", "javascript"),
        ("vendor/NOTICE.md", "markdown"),
    ],
)
def test_static_assets(client: TestClient, asset: str, media: str) -> None:
    answer = client.get(f"/static/{asset}")
    assert answer.status_code == 200
    assert media in answer.headers["content-type"]


def test_no_page_names_another_host(client: TestClient, sample: Sample) -> None:
    """Offline: no page, script or style sheet loads anything from another host."""
    pages = [
        "/",
        f"/studies/{sample.study_uids[0]}",
        f"/objects/{sample.plans[0].sop_instance}",
        f"/graph/{sample.plans[0].sop_instance}",
        "/static/graph.js",
        "/static/page.css",
    ]
    for url in pages:
        body = client.get(url).text
        assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", body), url


def test_values_from_files_are_escaped(client: TestClient, sample: Sample) -> None:
    evil = "<script>alert(1)</script>"
    page = client.get("/", params={"q": evil})
    assert evil not in page.text and "&lt;script&gt;" in page.text


def test_study_findings_are_checks_findings_for_the_study(sample: Sample, catalog_url: str) -> None:
    """A dose in another frame of reference, a Varian-style study reference, a deleted
    slice: the study page says what ``dicomref check`` says of the study's files (all but
    CONTOUR_OFF_SLICE, which reads the files), in the same words."""
    dose = pydicom.dcmread(sample.dose.path)
    dose.FrameOfReferenceUID = "1.2.826.0.1.3680043.10.543.999"
    dose.save_as(sample.dose.path)
    ss = pydicom.dcmread(sample.structure_sets[0].path)
    study_item = ss.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    study_item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ss.save_as(sample.structure_sets[0].path)
    delete_slice(sample, contoured_slice(sample))
    with Catalog(catalog_url) as catalog, TestClient(page_app(catalog)) as c:
        catalog.scan([sample.root])
        expected = [
            f
            for f in run_checks(catalog)
            if f.code != "CONTOUR_OFF_SLICE" and f.source in study_objects(sample, 0)
        ]
        page = c.get(f"/studies/{sample.study_uids[0]}").text
    findings = page.split('id="findings"')[1]
    assert {f.code for f in expected} == {
        "DANGLING_REFERENCE",
        "FRAME_OF_REFERENCE_MISMATCH",
        "NONCONFORMING_REFERENCE",
    }
    assert findings.count("<li>") == len(expected)
    for f in expected:
        assert html.escape(f.message) in findings, f.message


def study_objects(sample: Sample, study: int) -> set[str]:
    return {o.sop_instance for o in sample.objects if o.study == sample.study_uids[study]}


def test_pages_forbid_loading_from_elsewhere(client: TestClient, sample: Sample) -> None:
    for url in ("/", f"/studies/{sample.study_uids[0]}", "/objects/1.2.3.4"):
        policy = client.get(url).headers["content-security-policy"]
        assert "default-src 'self'" in policy and "object-src 'none'" in policy, url
