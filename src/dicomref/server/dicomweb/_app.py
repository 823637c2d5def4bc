"""The Starlette application: the routes of QIDO-RS, WADO-RS and STOW-RS under
``/dicom-web``, credentials checked in front of everything (:mod:`._auth`).

Handlers that read the catalog or files are plain functions: Starlette runs them, and the
iteration of their streamed answers, in its thread pool, so the event loop never waits on
a database or a disk.  STOW-RS reads the body on the event loop and stores each part from
a worker thread.  Errors become text answers naming what was wrong
(:class:`._problems.DicomWebError`); a catalog that cannot be read is 503.  Requests are
logged at INFO without their query strings (a filter may name a patient).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from dicomref._dicomweb._media import DICOM_JSON
from dicomref._dimse._levels import Level
from dicomref.catalog import Catalog
from dicomref.errors import CatalogError
from dicomref.server._store import StoreService
from dicomref.server.dicomweb import _instances, _qido
from dicomref.server.dicomweb._accept import dicom_syntaxes
from dicomref.server.dicomweb._auth import HttpCredentials, RequireCredentials
from dicomref.server.dicomweb._metadata import DEFAULT_CACHE_BYTES, MetadataCache, metadata_body
from dicomref.server.dicomweb._params import DEFAULT_MAX_RESULTS, parse_search
from dicomref.server.dicomweb._problems import DicomWebError
from dicomref.server.dicomweb._stow import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_PART,
    Stow,
    check_content_type,
    chunks_within,
)
from dicomref.server.dicomweb._urls import base_url
from dicomref.server.dicomweb._wado import AnswerCutError, Retrieve

LOGGER = logging.getLogger(__name__)
ROOT: Final = "/dicom-web"
DEFAULT_STALL_TIMEOUT: Final = 10.0
_JSON_TYPES: Final = ("application/dicom+json", "application/json", "*/*", "application/*")
_CUT: Final = (
    '299 dicomref "The number of results exceeded the maximum supported by the server. '
    'Additional results can be requested."'
)


@dataclass(frozen=True, slots=True)
class DicomWebLimits:
    """``max_results`` answers per search; STOW-RS bodies of at most ``max_body`` bytes and
    objects of at most ``max_part``; a client silent for ``stall_timeout`` seconds in the
    middle of a body is dropped; ``metadata_cache`` bytes of metadata JSON kept."""

    max_results: int = DEFAULT_MAX_RESULTS
    max_body: int = DEFAULT_MAX_BODY
    max_part: int = DEFAULT_MAX_PART
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    metadata_cache: int = DEFAULT_CACHE_BYTES


class _Service:
    """The handlers over one catalog (and store, when STOW-RS is allowed)."""

    def __init__(
        self,
        catalog: Catalog,
        storer: StoreService | None,
        limits: DicomWebLimits,
        *,
        strict: bool = False,
    ) -> None:
        self.catalog = catalog
        self.strict = strict
        self.stow = None if storer is None else Stow(storer, max_part=limits.max_part)
        self.limits = limits
        self.cache = MetadataCache(limits.metadata_cache)

    # -- QIDO-RS -------------------------------------------------------------------------

    def search(self, level: Level, request: Request) -> Response:
        _accepts_json(request)
        if self.strict:
            _hierarchical(level, request.path_params)
        fixed = [
            (keyword, request.path_params[name])
            for keyword, name in (("StudyInstanceUID", "study"), ("SeriesInstanceUID", "series"))
            if name in request.path_params
        ]
        found = parse_search(level, request.query_params.multi_items(), fixed)
        base = base_url(request.scope, ROOT)
        page = _qido.search(self.catalog, found, base, self.limits.max_results)
        headers = {}
        cut = found.limit is None or found.limit > self.limits.max_results
        if page.more and cut:
            headers["Warning"] = _CUT
        return Response(
            b"".join(_qido.encode(page.answers)), media_type=DICOM_JSON, headers=headers
        )

    # -- WADO-RS -------------------------------------------------------------------------

    def retrieve(self, request: Request) -> Response:
        syntaxes = dicom_syntaxes(request.headers.get("accept"))
        instances = self._named(request)
        answer = Retrieve(instances, syntaxes)
        return StreamingResponse(answer.body(), media_type=answer.media_type)

    def metadata(self, request: Request) -> Response:
        _accepts_json(request)
        instances = self._named(request)
        return StreamingResponse(metadata_body(self.cache, instances), media_type=DICOM_JSON)

    def _named(self, request: Request) -> list[_instances.Instance]:
        params = request.path_params
        return _instances.named(
            self.catalog, params["study"], params.get("series"), params.get("sop")
        )

    # -- STOW-RS -------------------------------------------------------------------------

    async def store(self, request: Request) -> Response:
        if self.stow is None:
            raise DicomWebError(
                405,
                "this server is read-only: STOW-RS needs 'dicomref serve --allow-stow' "
                "(and --store)",
                {"Allow": "GET"},
            )
        boundary = check_content_type(request.headers.get("content-type"))
        announced = request.headers.get("content-length")
        if announced is not None and announced.isdigit() and int(announced) > self.limits.max_body:
            raise DicomWebError(
                413, f"the body ({announced} bytes) is larger than {self.limits.max_body} bytes"
            )
        client = (request.client.host, request.client.port) if request.client else ("?", 0)
        stream = request.stream().__aiter__()
        stall = self.limits.stall_timeout

        async def next_chunk() -> bytes | None:
            try:
                with anyio.fail_after(stall):
                    return await stream.__anext__()
            except StopAsyncIteration:
                return None
            except TimeoutError:
                raise DicomWebError(
                    408, f"the body stalled: nothing received for {stall:g} seconds"
                ) from None

        def chunks() -> Iterator[bytes]:
            while (chunk := anyio.from_thread.run(next_chunk)) is not None:
                yield chunk

        stow = self.stow
        study = request.path_params.get("study")
        work = partial(
            stow.store, chunks_within(chunks(), self.limits.max_body), boundary, client, study
        )
        try:
            result = await anyio.to_thread.run_sync(work)
        except ClientDisconnect:
            LOGGER.warning("STOW-RS from %s: the client went away mid-body", client[0])
            return Response(status_code=400)
        LOGGER.info(
            "STOW-RS from %s: %d stored, %d failed",
            client[0],
            len(result.stored),
            len(result.failed),
        )
        body = result.answer(base_url(request.scope, ROOT))
        return JSONResponse(body, status_code=result.status, media_type=DICOM_JSON)


def _accepts_json(request: Request) -> None:
    accept = request.headers.get("accept")
    if not accept or not accept.strip():
        return
    wanted = [piece.split(";", 1)[0].strip().lower() for piece in accept.split(",")]
    if not any(media in _JSON_TYPES for media in wanted):
        raise DicomWebError(
            406, f"cannot answer Accept: {accept[:200]}; offered: application/dicom+json"
        )


def _hierarchical(level: Level, path: Mapping[str, str]) -> None:
    """Strict mode: a search must name every level above its own in its path, as a strictly
    hierarchical PACS (and AWS HealthImaging: no instance search outside a series) asks;
    400 otherwise, naming the resource that does answer."""
    if level is Level.SERIES and "study" not in path:
        raise DicomWebError(
            400, "this server searches series within a study only: /studies/{study}/series"
        )
    if level is Level.IMAGE and "series" not in path:
        raise DicomWebError(
            400,
            "this server searches instances within a series only: "
            "/studies/{study}/series/{series}/instances",
        )


def _routes(service: _Service) -> list[BaseRoute]:
    def search(level: Level) -> Any:
        return partial(service.search, level)

    series = "/studies/{study}/series/{series}"
    instance = series + "/instances/{sop}"
    return [
        Route("/studies", search(Level.STUDY), methods=["GET"]),
        Route("/studies", service.store, methods=["POST"]),
        Route("/series", search(Level.SERIES), methods=["GET"]),
        Route("/instances", search(Level.IMAGE), methods=["GET"]),
        Route("/studies/{study}", service.retrieve, methods=["GET"]),
        Route("/studies/{study}", service.store, methods=["POST"]),
        Route("/studies/{study}/metadata", service.metadata, methods=["GET"]),
        Route("/studies/{study}/series", search(Level.SERIES), methods=["GET"]),
        Route("/studies/{study}/instances", search(Level.IMAGE), methods=["GET"]),
        Route(series, service.retrieve, methods=["GET"]),
        Route(series + "/metadata", service.metadata, methods=["GET"]),
        Route(series + "/instances", search(Level.IMAGE), methods=["GET"]),
        Route(instance, service.retrieve, methods=["GET"]),
        Route(instance + "/metadata", service.metadata, methods=["GET"]),
    ]


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DicomWebError)
    LOGGER.info("DICOMweb %s %s: %d %s", request.method, request.url.path, exc.status, exc.message)
    return PlainTextResponse(exc.message + "\n", status_code=exc.status, headers=exc.headers)


async def _catalog_problem(request: Request, exc: Exception) -> Response:
    LOGGER.error(
        "DICOMweb %s %s: cannot read the catalog: %s", request.method, request.url.path, exc
    )
    return PlainTextResponse("the catalog cannot be read\n", status_code=503)


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return PlainTextResponse(
        f"{exc.detail}\n", status_code=exc.status_code, headers=dict(exc.headers or {})
    )


def build_app(
    catalog: Catalog,
    *,
    storer: StoreService | None = None,
    credentials: HttpCredentials | None = None,
    limits: DicomWebLimits | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    strict: bool = False,
) -> Any:
    """The ASGI application serving ``catalog`` under ``/dicom-web``.

    ``storer``: where STOW-RS stores (the DIMSE server's
    :attr:`~dicomref.server.Server.store_service`); None answers STOW-RS with 405.
    ``credentials``: who is let in (None or empty: everyone).  ``extra_routes`` are
    served after the ``/dicom-web`` mount, behind the same credentials.  ``strict``: as
    the DIMSE side's strict mode (``ServerConfig.strict``), searches only within their
    parents (``/studies/{s}/series``, ``/studies/{s}/series/{se}/instances``): ``/series``,
    ``/instances`` and ``/studies/{s}/instances`` answer 400.
    """
    service = _Service(catalog, storer, limits or DicomWebLimits(), strict=strict)
    app = Starlette(
        routes=[Mount(ROOT, routes=_routes(service)), *extra_routes],
        exception_handlers={
            DicomWebError: _problem,
            CatalogError: _catalog_problem,
            HTTPException: _http_problem,
        },
    )
    app.add_middleware(_Timing)
    if credentials is not None and not credentials.empty:
        return RequireCredentials(app, credentials)
    return app


class _Timing:
    """Logs each request at INFO: method, path (no query string), status, milliseconds;
    an answer cut short (:class:`._wado.AnswerCutError`) in one line at ERROR (the server then
    closes the connection: the response is incomplete)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except AnswerCutError as exc:
            if not status[0]:
                raise  # nothing sent yet: an error answer
            LOGGER.error("DICOMweb %s: answer cut short: %s", scope.get("path", ""), exc)
        finally:
            LOGGER.info(
                "DICOMweb %s %s: %d in %.1f ms",
                scope.get("method", ""),
                scope.get("path", ""),
                status[0],
                (time.perf_counter() - started) * 1e3,
            )
