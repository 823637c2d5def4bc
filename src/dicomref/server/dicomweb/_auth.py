"""Who may use the DICOMweb server: bearer tokens and basic credentials.

Credentials come from a file (``--http-auth-file``) or an environment variable
(``--http-auth-env``), never from the command line, one a line::

    # comments and blank lines are ignored
    token:3f9a...            # Authorization: Bearer 3f9a...
    basic:alice:s3cret       # Authorization: Basic base64(alice:s3cret)

Every request must carry one of them (with none configured, every request is let in);
otherwise 401 with ``WWW-Authenticate`` for both schemes.  Secrets are compared in
constant time (:func:`hmac.compare_digest`, against every configured secret, whatever
matched first), and never logged: a refusal names the scheme tried, not what was sent.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from dicomref.errors import UsageError

LOGGER = logging.getLogger(__name__)
REALM: Final = "dicomref"
_CHALLENGES: Final = (
    (b"www-authenticate", f'Bearer realm="{REALM}"'.encode()),
    (b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode()),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HttpCredentials:
    """The bearer tokens and ``user:password`` pairs that are let in (as UTF-8 bytes)."""

    tokens: tuple[bytes, ...] = ()
    basics: tuple[bytes, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.tokens and not self.basics

    @classmethod
    def parse(cls, text: str, where: str) -> HttpCredentials:
        """Credentials from lines ``token:SECRET`` / ``basic:USER:PASSWORD``; UsageError
        naming ``where`` and the line number (never the secret) for anything else."""
        tokens: list[bytes] = []
        basics: list[bytes] = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            kind, _, rest = line.partition(":")
            if kind == "token" and rest:
                tokens.append(rest.encode())
            elif kind == "basic" and ":" in rest and rest.split(":", 1)[0]:
                basics.append(rest.encode())
            else:
                raise UsageError(
                    f"{where}, line {number}: expected 'token:SECRET' or 'basic:USER:PASSWORD'"
                )
        if not tokens and not basics:
            raise UsageError(f"{where} holds no credentials ('token:...' or 'basic:...' lines)")
        return cls(tuple(tokens), tuple(basics))

    @classmethod
    def from_file(cls, path: Path) -> HttpCredentials:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the credentials file {path}: {exc}") from exc
        return cls.parse(text, str(path))

    @classmethod
    def from_environment(cls, name: str) -> HttpCredentials:
        text = os.environ.get(name)
        if text is None:
            raise UsageError(f"the environment variable {name} (credentials) is not set")
        return cls.parse(text, f"the environment variable {name}")

    def admits(self, authorization: bytes | None) -> bool:
        """Whether an ``Authorization`` header value lets the request in."""
        if authorization is None:
            return False
        scheme, _, value = authorization.strip().partition(b" ")
        value = value.strip()
        if scheme.lower() == b"bearer":
            return _any_equal(value, self.tokens)
        if scheme.lower() == b"basic":
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            return _any_equal(decoded, self.basics)
        return False


def _any_equal(given: bytes, secrets: tuple[bytes, ...]) -> bool:
    found = False
    for secret in secrets:
        found = hmac.compare_digest(given, secret) | found
    return found


class RequireCredentials:
    """ASGI middleware: HTTP requests without admitted credentials get 401."""

    def __init__(self, app: App, credentials: HttpCredentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value
                break
        if self.credentials.admits(authorization):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("?", 0)
        scheme = b"" if authorization is None else authorization.split(b" ", 1)[0]
        LOGGER.warning(
            "DICOMweb %s %s from %s:%s refused (401): %s",
            scope.get("method", ""),
            scope.get("path", ""),
            client[0],
            client[1],
            "no credentials"
            if authorization is None
            else f"{scheme.decode('latin-1')[:16]} credentials not admitted",
        )
        body = b"credentials needed: Authorization: Bearer TOKEN, or Basic\n"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    *_CHALLENGES,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
