"""A DICOMweb server to talk to, and how: its base URL, credentials, TLS, timeouts.

Credentials never come from the command line and never show: :class:`Credentials` keeps
the secret out of ``repr``/``str`` (and out of every message dicomref writes), and a URL
with a user or password in it is refused.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from dicomref.errors import UsageError

DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the TCP connection (and the TLS handshake)."""
DEFAULT_READ_TIMEOUT = 120.0
"""Seconds to wait for the next bytes of an answer (a large series can be slow to start)."""
DEFAULT_URL_BUDGET = 8192
"""Bytes a request line may take until the probe measured the server's limit (Orthanc
1.10 refuses lines over ~16 KB with HTTP 400; most servers accept 8 KB)."""
DEFAULT_CONCURRENCY = 4
"""Requests a retrieve keeps in flight at once (bench/fetch_web.py measured 1/4/8)."""

AuthKind = Literal["bearer", "basic"]
_SCHEMES = ("http", "https")
_URL_FORM = "http://host:port/dicom-web or https://host/path (the DICOMweb base URL)"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def looks_like_url(text: str) -> bool:
    """Whether ``text`` is meant as a DICOMweb base URL (``http://`` or ``https://``)."""
    return text.strip().lower().startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class WebTimeouts:
    """Seconds for each stage of an HTTP request (all must be positive)."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("connect", "read"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise UsageError(
                    f"{name} timeout must be a positive number of seconds, not {value!r}"
                )


@dataclass(frozen=True, slots=True)
class Credentials:
    """A bearer token, or a user name and password (HTTP basic authentication).

    ``source`` says where the secret came from, for messages ("environment variable
    PACS_TOKEN", "nodes.toml"); the secret itself is never in ``repr``, ``str`` or a
    message.
    """

    kind: AuthKind
    secret: str = field(repr=False)
    username: str | None = None
    source: str = "the configuration"

    def __post_init__(self) -> None:
        if self.kind not in ("bearer", "basic"):
            raise UsageError(f"credentials kind {self.kind!r} is not 'bearer' or 'basic'")
        if not self.secret:
            what = "token" if self.kind == "bearer" else "password"
            raise UsageError(f"the {what} from {self.source} is empty")
        if any(c in self.secret for c in "\r\n"):
            raise UsageError(f"the secret from {self.source} holds a line break")
        if self.kind == "basic" and (not self.username or ":" in self.username):
            raise UsageError("basic authentication needs a user name without ':'")

    @classmethod
    def from_environment(
        cls, kind: AuthKind, variable: str, username: str | None = None
    ) -> Credentials:
        """The secret held by environment variable ``variable``; UsageError when unset."""
        if not _ENV_NAME.match(variable):
            raise UsageError(f"{variable!r} is not an environment variable name")
        value = os.environ.get(variable)
        if value is None:
            what = "bearer token" if kind == "bearer" else "password"
            raise UsageError(
                f"environment variable {variable} is not set: it should hold the {what} "
                "(export it before running dicomref)"
            )
        return cls(kind, value, username, f"environment variable {variable}")

    def header(self) -> str:
        """The value of the ``Authorization`` header."""
        if self.kind == "bearer":
            return f"Bearer {self.secret}"
        import base64

        pair = f"{self.username}:{self.secret}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def describe(self) -> str:
        """What is sent, without the secret ("bearer token from environment variable X")."""
        if self.kind == "bearer":
            return f"bearer token from {self.source}"
        return f"user {self.username!r}, password from {self.source}"

    def __str__(self) -> str:
        return self.describe()


def _check_base(text: str) -> str:
    raw = text.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{raw!r} is not a DICOMweb URL ({exc}): expected {_URL_FORM}") from None
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        raise UsageError(f"{raw!r} is not a DICOMweb URL: expected {_URL_FORM}")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            "a DICOMweb URL must not hold a user name or password (it would show in logs "
            "and shell history): put the credentials in nodes.toml (token_env, username + "
            "password_env) and name the node"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"{raw!r}: a DICOMweb base URL has no ?query or #fragment")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True, slots=True)
class WebNode:
    """A DICOMweb server: ``url`` is its base URL (``http://host:8042/dicom-web``, no
    trailing slash), under which ``/studies``, ``/series``, ``/instances`` are found.

    ``credentials``: sent with every request (None: none).  ``verify``: check the server's
    TLS certificate (on by default; ``ca``: a PEM file of the CAs to trust instead of the
    system's).  ``url_budget``: the longest request line to send, in bytes (UID lists are
    cut to fit; None: :data:`DEFAULT_URL_BUDGET` until the probe measured it).
    ``concurrency``: requests a retrieve keeps in flight (None:
    :data:`DEFAULT_CONCURRENCY`, or what the probe measured).  ``name``: the nodes.toml entry
    it came from, if any.
    """

    url: str
    credentials: Credentials | None = None
    verify: bool = True
    ca: Path | None = None
    timeouts: WebTimeouts = field(default_factory=WebTimeouts)
    url_budget: int | None = None
    concurrency: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", _check_base(self.url))
        if self.ca is not None and not self.url.startswith("https:"):
            raise UsageError(f"{self.url}: a CA file applies to https:// URLs only")
        if self.url_budget is not None and (
            isinstance(self.url_budget, bool)
            or not isinstance(self.url_budget, int)
            or self.url_budget < 512
        ):
            raise UsageError(
                f"url_budget must be a number of bytes >= 512, not {self.url_budget!r}"
            )
        if self.concurrency is not None and (
            isinstance(self.concurrency, bool) or not 1 <= self.concurrency <= 64
        ):
            raise UsageError(f"concurrency must be from 1 to 64, not {self.concurrency!r}")
        if not isinstance(self.timeouts, WebTimeouts):
            raise UsageError(f"timeouts must be a WebTimeouts, not {self.timeouts!r}")

    @classmethod
    def parse(cls, text: str, **settings: object) -> WebNode:
        """A node from its base URL (``settings``: the other fields)."""
        if not looks_like_url(text):
            raise UsageError(f"{text!r} is not a DICOMweb URL: expected {_URL_FORM}")
        return cls(text, **settings)  # type: ignore[arg-type]

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def budget(self) -> int:
        """The request-line budget in bytes (measured, or the default)."""
        return self.url_budget if self.url_budget is not None else DEFAULT_URL_BUDGET

    @property
    def parallel(self) -> int:
        """Requests a retrieve keeps in flight (set, or the default)."""
        return self.concurrency if self.concurrency is not None else DEFAULT_CONCURRENCY

    def tuned(self, url_budget: int | None, concurrency: int | None) -> WebNode:
        """This node with what the probe measured where nothing was set: the request-line
        budget (nine tenths of the longest line answered, headers vary) and the
        concurrency."""
        budget = self.url_budget
        if budget is None and url_budget is not None:
            budget = max(512, url_budget * 9 // 10)
        parallel = self.concurrency if self.concurrency is not None else concurrency
        return dataclasses.replace(self, url_budget=budget, concurrency=parallel)

    @property
    def path(self) -> str:
        """The base URL's path ("/dicom-web"), which every request line carries."""
        return urlsplit(self.url).path

    def __str__(self) -> str:
        return self.url
