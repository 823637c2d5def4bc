"""An httpx client for a :class:`~dicomref._dicomweb._node.WebNode`, and httpx's errors
turned into dicomref's at this boundary (no httpx exception reaches a caller):

- no connection (refused, unreachable, name unknown), a TLS failure, or the server
  refusing our credentials (HTTP 401/403) → :class:`~dicomref.errors.AssociationError`
  (what a refused association is for DIMSE: the same exit code);
- no connection or no bytes in time → :class:`~dicomref.errors.RemoteTimeoutError`;
- any other HTTP error status → :class:`~dicomref.errors.HttpStatusError` with the
  command, the path below the base URL and what the server said (a short excerpt);
- a connection lost mid-answer → :class:`~dicomref.errors.AssociationError`.

Messages name the node by its base URL and the request by its path: credentials are sent
in a header and appear nowhere.  httpx is imported when a client is made.
"""

from __future__ import annotations

import json
import ssl
from typing import TYPE_CHECKING

from dicomref._dicomweb._node import WebNode
from dicomref.errors import (
    AssociationError,
    HttpStatusError,
    RemoteError,
    RemoteTimeoutError,
)

if TYPE_CHECKING:
    import httpx

_EXCERPT = 200
_USER_AGENT = "dicomref"


def make_client(node: WebNode, *, connections: int | None = None) -> httpx.Client:
    """A client for ``node``: its credentials in every request's ``Authorization`` header,
    TLS verified (against ``node.ca`` when given), ``connections`` kept open at most
    (default ``node.parallel``), HTTP/1.1."""
    import httpx

    verify: ssl.SSLContext | bool = node.verify
    if node.url.startswith("http://"):
        # No TLS ever (every URL is under the base URL; redirects are not followed): a bare
        # context that trusts no CA at all, instead of loading the default ones (~20 ms
        # of every command's start); were TLS reached anyway, it would be refused.
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    elif node.verify and node.ca is not None:
        try:
            verify = ssl.create_default_context(cafile=str(node.ca))
        except (OSError, ssl.SSLError) as exc:
            raise AssociationError(str(node), f"cannot read the CA file {node.ca}: {exc}") from exc
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if node.credentials is not None:
        headers["Authorization"] = node.credentials.header()
    size = connections if connections is not None else node.parallel
    return httpx.Client(
        base_url=node.url,
        headers=headers,
        verify=verify,
        timeout=httpx.Timeout(node.timeouts.read, connect=node.timeouts.connect),
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        follow_redirects=False,
        trust_env=False,
    )


def excerpt(body: bytes) -> str:
    """What an error answer says, short: Orthanc's JSON "Details"/"Message", or the text."""
    text = body[: 8 * _EXCERPT].decode("utf-8", errors="replace")
    try:
        data = json.loads(body) if body.lstrip()[:1] in (b"{", b"[") else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        keys = ("Message", "Details", "error", "message")
        said = [str(data[key]) for key in keys if data.get(key)]
        if said:
            text = "; ".join(dict.fromkeys(said))
    text = " ".join(text.split())
    return text[:_EXCERPT] + ("…" if len(text) > _EXCERPT else "")


def status_error(
    node: WebNode, command: str, path: str, status: int, reason: str, body: bytes
) -> RemoteError:
    """The error for an HTTP error ``status`` answered to ``command`` at ``path``."""
    said = excerpt(body)
    detail = f"{reason}" + (f": {said}" if said else "")
    if status in (401, 403):
        how = (
            f"we sent a {node.credentials.describe()}"
            if node.credentials is not None
            else "we sent no credentials"
        )
        hint = (
            "check the token or password (token_env, username and password_env in nodes.toml)"
            if node.credentials is not None
            else "give credentials in nodes.toml (token_env, or username and password_env)"
        )
        return AssociationError(
            str(node),
            f"{command} {path}: the server refused us (HTTP {status} {detail}); {how}: {hint}",
        )
    return HttpStatusError(str(node), command, status, path, detail)


def transport_error(node: WebNode, command: str, path: str, exc: Exception) -> RemoteError:
    """The error for httpx's ``exc`` raised while ``command`` at ``path`` was on its way."""
    import httpx

    where = f"{command} {path}"
    if isinstance(exc, httpx.ConnectTimeout):
        return RemoteTimeoutError(
            str(node), f"{where}: no connection within {node.timeouts.connect:g} s"
        )
    if isinstance(exc, httpx.TimeoutException):
        return RemoteTimeoutError(
            str(node), f"{where}: no answer within {node.timeouts.read:g} s (read timeout)"
        )
    if isinstance(exc, httpx.ConnectError):
        return AssociationError(str(node), f"{where}: cannot connect: {_connect_reason(exc)}")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return AssociationError(
            str(node), f"{where}: the connection broke mid-answer ({_describe(exc)})"
        )
    if isinstance(exc, httpx.DecodingError):
        return AssociationError(str(node), f"{where}: the answer cannot be decoded ({exc})")
    return AssociationError(str(node), f"{where}: {_describe(exc)}")


def _connect_reason(exc: Exception) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate not trusted ({cause.verify_message}): is it signed by the "
                "CA given as ca in nodes.toml, and does it name this host?"
            )
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or cause}): does this port talk TLS?"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return _describe(exc)


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
