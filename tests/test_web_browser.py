"""The web page end to end in a real browser: Debian's Chromium driven by Playwright,
against a real uvicorn on 127.0.0.1 serving the page over a generated patient whose
contoured middle CT slice was deleted before the scan.

Starts a server: run inside the private network namespace,
``scripts/in-netns.sh .venv/bin/pytest tests/test_web_browser.py -q``.
Without Chromium the tests skip; with CI=true they fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, ViewportSize, expect, sync_playwright

from dicomref.catalog import Catalog
from dicomref.sample import Sample, generate_sample
from web_support import chromium, contoured_slice, delete_slice, page_app, serving

DOCS = Path(__file__).resolve().parent.parent / "docs"
WIDE: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Site:
    base: str
    sample: Sample
    gone: str  # the deleted slice


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("web")
    sample = generate_sample(folder / "patient", slices=24)
    gone = delete_slice(sample, contoured_slice(sample))
    with Catalog(f"sqlite:///{folder / 'catalog.sqlite'}") as catalog:
        catalog.scan([sample.root])
        with serving(page_app(catalog)) as base:
            yield Site(base, sample, gone)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


class Visit:
    """A page in a fresh context that records every request it makes."""

    def __init__(self, browser: Browser, viewport: ViewportSize) -> None:
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # Console errors: a request refused by the content security policy, a failed load.
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def close(self) -> None:
        self.context.close()

    def assert_only_local(self) -> None:
        assert self.requests
        for url in self.requests:
            assert urlsplit(url).hostname == "127.0.0.1", url
        assert not self.errors

    def wait_for_graph(self) -> int:
        self.page.wait_for_selector("#graph[data-state=drawn]", timeout=15000)
        return int(self.page.get_attribute("#graph", "data-draw-ms") or "0")

    def no_horizontal_overflow(self) -> None:
        widths = self.page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert widths[0] <= widths[1], widths


@pytest.fixture(params=["wide", "narrow"])
def visit(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Visit]:
    v = Visit(browser, WIDE if request.param == "wide" else NARROW)
    yield v
    v.close()


def test_search_finds_the_patient_and_opens_the_study(site: Site, visit: Visit) -> None:
    page = visit.page
    page.goto(site.base + "/")
    page.fill("form.find input[name=q]", site.sample.patient_id)
    page.click("form.find button")
    results = page.locator("#results")
    expect(results).to_contain_text("2 studies found")
    expect(results).to_contain_text("DICOMREF, SAMPLE0")
    visit.no_horizontal_overflow()
    results.get_by_role("link", name="PLANNING CT").click()
    page.wait_for_url(f"**/studies/{site.sample.study_uids[0]}")
    chain = page.locator("#chain")
    for text in (
        "CT #1 'PLANNING CT'",
        "Structure set 'SET0' (3 ROIs) · RTSTRUCT #2",
        "Plan 'MAIN' (3 beams) · RTPLAN #3",
        "Dose PHYSICAL GY (PLAN) · RTDOSE #5",
    ):
        expect(chain).to_contain_text(text)
    expect(chain).to_contain_text("✗ missing contour image")
    expect(page.locator("#findings")).to_contain_text("DANGLING_REFERENCE")
    visit.no_horizontal_overflow()
    visit.assert_only_local()


def node_labels(visit: Visit) -> dict[str, str]:
    """id -> label of every node Cytoscape drew."""
    drawn: dict[str, str] = visit.page.evaluate(
        "() => Object.fromEntries(window.dicomrefGraph.nodes().map(n => [n.id(), n.data('label')]))"
    )
    return drawn


def click_node(visit: Visit, node_id: str) -> None:
    """Click where Cytoscape drew the node (its rendered position within the canvas)."""
    box = visit.page.locator("#graph").bounding_box()
    assert box is not None
    x, y = visit.page.evaluate(
        "(id) => { const p = window.dicomrefGraph.getElementById(id).renderedPosition();"
        " return [p.x, p.y]; }",
        node_id,
    )
    visit.page.mouse.click(box["x"] + x, box["y"] + y)


def test_graph_of_a_plan(site: Site, visit: Visit) -> None:
    s = site.sample
    plan, ss, dose = s.plans[0], s.structure_sets[0], s.dose
    visit.page.goto(f"{site.base}/graph/{quote(plan.sop_instance)}?depth=2&direction=both")
    visit.wait_for_graph()
    drawn = node_labels(visit)
    # objects named as people name them, then their series, then their date
    assert drawn[f"object:{plan.sop_instance}"].startswith("Plan 'MAIN' (3 beams)\nRTPLAN #3")
    assert drawn[f"object:{ss.sop_instance}"].startswith("Structure set 'SET0' (3 ROIs)\n")
    assert drawn[f"object:{dose.sop_instance}"].startswith("Dose PHYSICAL GY (PLAN)\n")
    assert all(
        re.search(r"\n(instance \d+, )?\d{4}-\d\d-\d\d$", drawn[f"object:{o.sop_instance}"])
        for o in (plan, ss, dose)
    )
    held = len(s.ct) - 1
    assert drawn[f"series:{s.ct[0].series}"] == (
        f"CT #1 'PLANNING CT'\n{held} of {held} slices referenced, 1 missing"
    )
    assert drawn[f"missing:{site.gone}"] == "Missing CT Image\nexpected in CT #1 'PLANNING CT'"
    assert not any(f"object:{ct.sop_instance}" in drawn for ct in s.ct)
    expect(visit.page.locator("#graph-status")).to_contain_text("drawn in")
    visit.no_horizontal_overflow()
    if visit.page.viewport_size == WIDE:
        visit.page.screenshot(path=str(DOCS / "web-page.png"))
    # a series expands into its slices, and folds again
    click_node(visit, f"series:{s.ct[0].series}")
    visit.page.wait_for_function(
        "(id) => window.dicomrefGraph && window.dicomrefGraph.getElementById(id).length > 0",
        arg=f"group:{s.ct[0].series}",
    )
    expanded = node_labels(visit)
    assert sum(f"object:{ct.sop_instance}" in expanded for ct in s.ct) == held
    # clicking an object opens its page
    click_node(visit, f"object:{dose.sop_instance}")
    visit.page.wait_for_url(f"**/objects/{dose.sop_instance}")
    expect(visit.page.locator("h1")).to_contain_text("Dose PHYSICAL GY (PLAN)")
    visit.assert_only_local()


def test_missing_slice_page_names_its_expected_series(site: Site, visit: Visit) -> None:
    ss = site.sample.structure_sets[0]
    visit.page.goto(f"{site.base}/objects/{quote(ss.sop_instance)}")
    visit.page.locator(f"a[href='/objects/{site.gone}']").first.click()
    visit.page.wait_for_url(f"**/objects/{site.gone}")
    expect(visit.page.locator("h1")).to_contain_text("Missing object")
    expect(visit.page.locator("main")).to_contain_text(site.sample.ct[0].series)
    visit.no_horizontal_overflow()
    visit.assert_only_local()


def test_object_page_links_and_fits(site: Site, visit: Visit) -> None:
    plan = site.sample.plans[0]
    visit.page.goto(f"{site.base}/objects/{quote(plan.sop_instance)}")
    main = visit.page.locator("main")
    expect(main).to_contain_text(plan.sop_instance)
    expect(visit.page.locator("h1")).to_contain_text("Plan 'MAIN' (3 beams)")
    expect(main.locator("dt:text-is('Beams') + dd")).to_have_text("3")
    metadata = visit.page.get_by_role("link", name="metadata (JSON)")
    assert metadata.get_attribute("href") == (
        f"/dicom-web/studies/{plan.study}/series/{plan.series}"
        f"/instances/{plan.sop_instance}/metadata"
    )
    visit.no_horizontal_overflow()
    visit.page.get_by_role("link", name="Reference graph").click()
    visit.wait_for_graph()
    visit.no_horizontal_overflow()
    visit.assert_only_local()


def test_serve_command_serves_the_page_next_to_dicomweb(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    """``dicomref serve --http-port``: the page at /, its object page's metadata link
    answered by DICOMweb from the same server."""
    from serve_support import ServeCommand

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with Catalog(url) as catalog:
        catalog.scan([site.sample.root])
    with ServeCommand(url, tmp_path / "serve.log", "--http-port", "0") as command:
        assert command.http_port
        base = f"http://127.0.0.1:{command.http_port}"
        assert f"web page on {base}/" in (tmp_path / "serve.log").read_text()
        visit = Visit(browser, WIDE)
        try:
            visit.page.goto(base + "/")
            expect(visit.page.locator("#recent")).to_contain_text("PLANNING CT")
            plan = site.sample.plans[0]
            visit.page.goto(f"{base}/objects/{quote(plan.sop_instance)}")
            visit.assert_only_local()
            with visit.page.expect_response("**/metadata") as answer:
                visit.page.get_by_role("link", name="metadata (JSON)").click()
            assert answer.value.status == 200
            assert plan.sop_instance in answer.value.text()
            # (Chromium then asks DICOMweb for a favicon: a 404 that is not the page's)
            assert all(urlsplit(u).hostname == "127.0.0.1" for u in visit.requests)
        finally:
            visit.close()
        assert command.stop() == 0
