"""The URLs answers point at (RetrieveURL, a STOW answer's instances): built from where
the request was sent, with the port the server listens on when the ``Host`` header leaves
it out (dicomweb-client and others send ``Host`` without the port: a server that trusts
the header hands out URLs that lead nowhere)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def base_url(scope: Mapping[str, Any], root: str) -> str:
    """``scheme://host:port`` + the app's root (``/dicom-web``) for this request."""
    scheme = str(scope.get("scheme", "http"))
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1").strip()
            break
    server = scope.get("server")
    if not host and server:
        host = _join(str(server[0]), int(server[1]))
    elif server and not _has_port(host):
        port = int(server[1])
        if port != _DEFAULT_PORTS.get(scheme):
            host = f"{host}:{port}"
    return f"{scheme}://{host}{scope.get('app_root_path', '')}{root}"


def _has_port(host: str) -> bool:
    if host.startswith("["):
        return "]:" in host
    return ":" in host


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def study_url(base: str, study: str) -> str:
    return f"{base}/studies/{quote(study, safe='')}"


def series_url(base: str, study: str, series: str) -> str:
    return f"{study_url(base, study)}/series/{quote(series, safe='')}"


def instance_url(base: str, study: str, series: str, sop: str) -> str:
    return f"{series_url(base, study, series)}/instances/{quote(sop, safe='')}"
