"""How long the web page takes to draw the reference graph of a structure set in a browser.

Generates a patient whose planning CT has ``--slices`` slices (default 200), scans it,
serves the page with uvicorn on 127.0.0.1 and opens the graph page of structure set 0
(depth 2, both directions: its slices, its plan, the dose, the SEG and KOS that share
them) in Debian's Chromium, ``--repeat`` times.  The time is the page's own: from the
script's request for the graph JSON to the end of the layout and the next frame
(``#graph[data-draw-ms]``), the server's work included.  The baseline, measured in the
same run, is the same patient with 20 slices: the ratio shows what 10x the slices costs
(ideal: about 1x, since a series is drawn as one node).  Target: under 1000 ms.

    scripts/in-netns.sh .venv/bin/python bench/graph_draw.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import uvicorn
from playwright.sync_api import Browser, sync_playwright
from starlette.applications import Starlette

from dicomref.catalog import Catalog
from dicomref.sample import generate_sample
from dicomref.server.page import page_routes

CHROMIUM = "/usr/bin/chromium"
BASELINE_SLICES = 20


@contextmanager
def serving(catalog: Catalog) -> Iterator[str]:
    """The page over ``catalog`` on 127.0.0.1 (a free port), in a thread."""
    config = uvicorn.Config(
        Starlette(routes=page_routes(catalog)),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def draw_times(browser: Browser, folder: Path, slices: int, repeat: int) -> tuple[list[int], int]:
    """Draw times (ms) of structure set 0's graph, and how many nodes were drawn."""
    sample = generate_sample(folder / f"patient{slices}", slices=slices)
    with Catalog(f"sqlite:///{folder / f'catalog{slices}.sqlite'}") as catalog:
        catalog.scan([sample.root])
        uid = quote(sample.structure_sets[0].sop_instance)
        with serving(catalog) as base:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            times, nodes = [], 0
            for _ in range(repeat + 1):  # the first load warms caches: not counted
                page.goto(f"{base}/graph/{uid}?depth=2&direction=both")
                page.wait_for_selector("#graph[data-state=drawn]", timeout=30000)
                times.append(int(page.get_attribute("#graph", "data-draw-ms") or "0"))
                nodes = page.evaluate("() => window.dicomrefGraph.nodes().length")
            page.close()
    return times[1:], nodes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        base_times, base_nodes = draw_times(browser, Path(tmp), BASELINE_SLICES, args.repeat)
        times, nodes = draw_times(browser, Path(tmp), args.slices, args.repeat)
        browser.close()
    base, measured = statistics.median(base_times), statistics.median(times)
    print(f"structure set on {BASELINE_SLICES} slices: median {base:.0f} ms ({base_nodes} nodes)")
    print(
        f"structure set on {args.slices} slices: median {measured:.0f} ms, "
        f"max {max(times)} ms ({nodes} nodes)"
    )
    verdict = "met" if max(times) < 1000 else "MISSED"
    print(f"ratio {measured / base:.2f}x; target under 1000 ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
