"""Serving the catalog and the managed store over DICOMweb (PS3.18): QIDO-RS, WADO-RS and
STOW-RS under ``/dicom-web``, next to the DIMSE server (``dicomref serve --http-port``).

::

    from dicomref.server import Server, ServerConfig
    from dicomref.server.dicomweb import build_app

    with Server(ServerConfig(port=0, store=Path("received")), url) as server:
        app = build_app(server.catalog, storer=server.store_service)  # an ASGI app
        ...  # run it with uvicorn (dicomref serve does: dicomref.server.dicomweb._run)

Modules, each named after what it holds: ``_app`` (the routes, :func:`build_app`),
``_params`` (QIDO-RS query parameters → the DIMSE side's request), ``_qido`` (searches
and their DICOM JSON), ``_instances`` (what a retrieve names), ``_accept`` (``Accept`` →
transfer syntax), ``_wado`` (multipart retrieve, streamed), ``_metadata`` (DICOM JSON of
headers, cached), ``_stow`` and ``_arrival`` (STOW-RS through the C-STORE handler),
``_auth`` (tokens and basic credentials), ``_urls`` (RetrieveURLs), ``_problems``
(error answers), ``_run`` (uvicorn in a thread).  Architecture: docs/dicomweb-server.md.

Starlette and uvicorn are imported only from here: ``dicomref serve`` without
``--http-port`` never loads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomref._lazy import face

if TYPE_CHECKING:
    from dicomref.server.dicomweb._app import DicomWebLimits, build_app
    from dicomref.server.dicomweb._auth import HttpCredentials
    from dicomref.server.dicomweb._run import HttpServer

_LAZY: dict[str, str] = {
    "DicomWebLimits": "._app",
    "build_app": "._app",
    "HttpCredentials": "._auth",
    "HttpServer": "._run",
}
if not TYPE_CHECKING:
    __getattr__, __dir__ = face(__name__, _LAZY)

__all__ = ["DicomWebLimits", "HttpCredentials", "HttpServer", "build_app"]
