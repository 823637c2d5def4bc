"""The page's routes: HTML pages, the JSON the page's script reads, the static assets.

Handlers are plain functions: Starlette runs them in its thread pool, where the
catalog's synchronous queries belong.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dicomref.errors import CatalogError, NotInCatalogError, UsageError
from dicomref.graph import Direction
from dicomref.model import to_json
from dicomref.server.page._find import Search, dicom_date, recent, search
from dicomref.server.page._find_page import render_find
from dicomref.server.page._graph_page import DEPTHS, graph_elements, render_graph_page
from dicomref.server.page._html import esc, layout, uid
from dicomref.server.page._object_page import render_object
from dicomref.server.page._study import load_study
from dicomref.server.page._study_page import render_study

if TYPE_CHECKING:
    from dicomref.catalog import Catalog

STATIC = Path(__file__).resolve().parent / "static"


#: Pages load nothing but what this server serves (the page is meant for closed networks,
#: and a value read from a file can never run as script).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _error(status: int, title: str, message: str) -> HTMLResponse:
    body = f'<h1>{esc(title)}</h1><p class="error">{message}</p><p><a href="/">Find</a></p>'
    return _page(layout(title, body), status)


Handler = Callable[[Request], Response]


def _guarded(handler: Handler) -> Handler:
    """``handler``, answering 503 with the catalog's message when the catalog cannot be read
    (a JSON body for the /api routes)."""

    @functools.wraps(handler)
    def guarded(request: Request) -> Response:
        try:
            return handler(request)
        except NotInCatalogError:
            raise
        except CatalogError as exc:
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": str(exc)}, status_code=503)
            return _error(503, "The catalog cannot be read", esc(str(exc)))

    return guarded


def _graph_params(request: Request) -> tuple[int, Direction, list[str]]:
    raw_depth = request.query_params.get("depth", "2")
    try:
        depth = int(raw_depth)
    except ValueError:
        depth = 0
    if depth not in DEPTHS:
        raise UsageError(f"depth must be {DEPTHS.start} to {DEPTHS.stop - 1}, not {raw_depth!r}")
    raw_direction = request.query_params.get("direction", Direction.BOTH.value)
    try:
        direction = Direction(raw_direction)
    except ValueError:
        choices = ", ".join(d.value for d in Direction)
        raise UsageError(f"direction must be one of {choices}, not {raw_direction!r}") from None
    expand = [s for s in request.query_params.getlist("expand") if s]
    return depth, direction, expand


def _search_params(request: Request) -> Search:
    q = request.query_params
    return Search(
        text=q.get("q", "").strip(),
        date_from=dicom_date(q.get("from", "")),
        date_to=dicom_date(q.get("to", "")),
        modality=q.get("modality", "").strip().upper(),
    )


def page_routes(catalog: Catalog) -> list[BaseRoute]:
    """The web page's routes over ``catalog`` (read only): mount them in any Starlette app."""

    def find(request: Request) -> Response:
        asked = _search_params(request)
        found = None if asked.empty else search(catalog, asked)
        return _page(render_find(asked, found, recent(catalog)))

    def study(request: Request) -> Response:
        study_uid = request.path_params["uid"].strip()
        data = load_study(catalog, study_uid)
        if data is None:
            return _error(
                404,
                "Study not in the catalog",
                f"No scanned file belongs to study {uid(study_uid)}: scan the folder that "
                "holds it, or search for the patient.",
            )
        return _page(render_study(data))

    def obj(request: Request) -> Response:
        from dicomref.show import view_object

        sop_uid = request.path_params["uid"].strip()
        try:
            view = view_object(catalog, sop_uid)
        except NotInCatalogError:
            return _error(
                404,
                "Object not in the catalog",
                f"No scanned file holds {uid(sop_uid)} and none references it: scan the "
                "folder that holds it, or fetch it.",
            )
        return _page(render_object(view))

    def graph(request: Request) -> Response:
        sop_uid = request.path_params["uid"].strip()
        try:
            depth, direction, _ = _graph_params(request)
        except UsageError as exc:
            return _error(400, "Cannot draw this graph", esc(str(exc)))
        return _page(render_graph_page(sop_uid, depth, direction))

    def graph_json(request: Request) -> Response:
        sop_uid = request.path_params["uid"].strip()
        try:
            depth, direction, expand = _graph_params(request)
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            elements = graph_elements(catalog, sop_uid, depth, direction, expand)
        except NotInCatalogError:
            message = f"no scanned file holds or references {sop_uid}"
            return JSONResponse({"error": message}, status_code=404)
        return JSONResponse(elements)

    def search_json(request: Request) -> Response:
        asked = _search_params(request)
        found: Any = recent(catalog) if asked.empty else search(catalog, asked)
        return JSONResponse({"studies": to_json(found)})

    return [
        Route("/", _guarded(find), methods=["GET"], name="find"),
        Route("/studies/{uid:str}", _guarded(study), methods=["GET"], name="study"),
        Route("/objects/{uid:str}", _guarded(obj), methods=["GET"], name="object"),
        Route("/graph/{uid:str}", _guarded(graph), methods=["GET"], name="graph"),
        Route("/api/graph/{uid:str}", _guarded(graph_json), methods=["GET"], name="graph_json"),
        Route("/api/search", _guarded(search_json), methods=["GET"], name="search_json"),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
