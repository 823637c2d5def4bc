"""The web page for tests: a catalog over a generated patient, the page's Starlette app,
a real uvicorn serving it on loopback, and Debian's Chromium for Playwright."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from dicomref.catalog import Catalog
from dicomref.sample import Sample
from dicomref.server.page import page_routes
from servers import free_port, unavailable

#: Debian's chromium package (Playwright's own browser download is not reachable).
CHROMIUM = "/usr/bin/chromium"


def page_app(catalog: Catalog) -> Starlette:
    return Starlette(routes=page_routes(catalog))


def contoured_slice(sample: Sample) -> int:
    """The index of a CT slice structure set 0 draws a contour on (the middle one)."""
    return len(sample.ct) // 2


def delete_slice(sample: Sample, index: int) -> str:
    """Delete CT slice ``index`` of study 1; returns its SOP Instance UID."""
    ct = sample.ct[index]
    Path(ct.path).unlink()
    return ct.sop_instance


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """A real uvicorn serving ``app`` on 127.0.0.1 in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="page-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def chromium() -> str:
    """Debian's Chromium; skips the test where it is missing (a failure when CI=true)."""
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        unavailable(f"{CHROMIUM} not found: apt-get install chromium (the web page tests)")
    return found
