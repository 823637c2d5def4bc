"""Shared by the tests of the DICOMweb server: a catalog served by the DIMSE server and
uvicorn on loopback, in this process (as ``dicomref serve --http-port`` runs them), and
reading its multipart answers."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
from pydicom.dataset import Dataset

from dicomref._dicomweb._media import parse_content_type
from dicomref._dicomweb._multipart import Part, boundary_of, iter_parts
from dicomref.catalog import Catalog
from dicomref.server import Server, ServerConfig
from dicomref.server.dicomweb import DicomWebLimits, HttpCredentials, HttpServer, build_app
from servers import LOOPBACK


@dataclass(frozen=True)
class WebServed:
    """The DIMSE server and the DICOMweb server over one catalog."""

    server: Server
    http: HttpServer
    catalog_url: str

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.http.port}/dicom-web"


@contextlib.contextmanager
def web_served(
    folders: Sequence[Path],
    catalog_url: str,
    store: Path | None = None,
    *,
    allow_stow: bool = False,
    credentials: HttpCredentials | None = None,
    limits: DicomWebLimits | None = None,
    strict: bool = False,
) -> Iterator[WebServed]:
    """``folders`` scanned into ``catalog_url`` and served over DIMSE and DICOMweb."""
    with Catalog(catalog_url) as catalog:
        catalog.scan(list(folders))
    server = Server(ServerConfig(port=0, host=LOOPBACK, store=store, strict=strict), catalog_url)
    server.start()
    try:
        app = build_app(
            server.catalog,
            storer=server.store_service if allow_stow else None,
            credentials=credentials,
            limits=limits,
            strict=strict,
        )
        http = HttpServer(app, LOOPBACK, 0, grace=2.0)
        http.start()
        try:
            yield WebServed(server, http, catalog_url)
        finally:
            http.stop()
    finally:
        server.stop()


def parts(response: httpx.Response) -> list[Part]:
    """The parts of a multipart/related answer."""
    _, params = parse_content_type(response.headers["content-type"])
    return list(iter_parts([response.content], boundary_of(params)))


def datasets(response: httpx.Response) -> list[Dataset]:
    return [pydicom.dcmread(io.BytesIO(part.body)) for part in parts(response)]


def multipart_body(files: Sequence[bytes], boundary: str = "dicomref-test") -> bytes:
    """A STOW-RS body of ``files`` (each a DICOM file's bytes)."""
    pieces = []
    for data in files:
        pieces.append(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"
        )
    return b"".join(pieces) + f"--{boundary}--\r\n".encode()


def stow_headers(boundary: str = "dicomref-test") -> dict[str, str]:
    return {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'}
