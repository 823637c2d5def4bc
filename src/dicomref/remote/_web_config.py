"""DICOMweb nodes in ``nodes.toml``: a ``[nodes.NAME]`` table with ``url`` instead of
``ae``/``host``/``port``::

    [nodes.archive]
    url = "https://pacs.example.org/dicom-web"
    token_env = "ARCHIVE_TOKEN"        # a bearer token from this environment variable
    # or: username = "alice" and password_env = "ARCHIVE_PASSWORD" (basic authentication)
    # (token = "..." / password = "..." in the file work too; keep the file private)
    ca = "archive-ca.pem"              # CAs to trust instead of the system's (https only)
    verify = true                      # check the server's certificate (the default)
    timeouts = { connect = 10, read = 120 }
    url_budget = 8192                  # longest request line, bytes (the probe measures it)
    concurrency = 4                    # GETs in flight per retrieve

Secrets are read from the environment when the node is used (a missing variable is an
error naming it then, not when another node is used), never from the command line, and
never written anywhere: :class:`~dicomref._dicomweb._node.Credentials` hides them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from dicomref._dicomweb._node import AuthKind, Credentials, WebNode, WebTimeouts
from dicomref.errors import ConfigError, UsageError

WEB_KEYS: Final = (
    "url",
    "token",
    "token_env",
    "username",
    "password",
    "password_env",
    "ca",
    "verify",
    "timeouts",
    "url_budget",
    "concurrency",
)
_TIMEOUT_KEYS: Final = ("connect", "read")
_EXAMPLE: Final = (
    '[nodes.{name}]\nurl = "https://pacs.example.org/dicom-web"\ntoken_env = "PACS_TOKEN"'
)


@dataclass(frozen=True, slots=True)
class WebEntry:
    """One ``[nodes.NAME]`` table naming a DICOMweb server (secrets not yet read)."""

    name: str
    url: str
    kind: AuthKind | None = None
    """``bearer``, ``basic`` or None (no credentials)."""
    username: str | None = None
    secret: str | None = None
    secret_env: str | None = None
    source: str = "nodes.toml"
    ca: Path | None = None
    verify: bool = True
    timeouts: tuple[tuple[str, float], ...] = ()
    url_budget: int | None = None
    concurrency: int | None = None

    def matches(self, url: str) -> bool:
        return WebNode(self.url).url == url

    def node(self) -> WebNode:
        """The node, its credentials read now (from the environment when so named)."""
        credentials = None
        if self.kind is not None:
            kind = self.kind
            if self.secret_env is not None:
                credentials = Credentials.from_environment(kind, self.secret_env, self.username)
            else:
                credentials = Credentials(kind, self.secret or "", self.username, self.source)
        settings: dict[str, Any] = {}
        if self.url_budget is not None:
            settings["url_budget"] = self.url_budget
        if self.concurrency is not None:
            settings["concurrency"] = self.concurrency
        return WebNode(
            self.url,
            credentials=credentials,
            verify=self.verify,
            ca=self.ca,
            timeouts=WebTimeouts(**dict(self.timeouts)),
            name=self.name,
            **settings,
        )


def web_entry(name: str, table: Mapping[str, Any], where: str) -> WebEntry:
    """The entry ``[nodes.NAME]`` holding ``url``; ConfigError naming the key otherwise."""
    section = f"nodes.{name}"
    unknown = sorted(set(table) - set(WEB_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: [{section}] has unknown key {unknown[0]!r} (a node with url is a "
            f"DICOMweb server; the keys allowed there are {', '.join(WEB_KEYS)})"
        )
    url = _text(table, "url", section, where)
    assert url is not None
    kind: AuthKind | None = None
    secret = _text(table, "token", section, where)
    secret_env = _text(table, "token_env", section, where)
    username = _text(table, "username", section, where)
    password = _text(table, "password", section, where)
    password_env = _text(table, "password_env", section, where)
    if (secret or secret_env) and (username or password or password_env):
        raise ConfigError(
            f"{where}: [{section}]: give a bearer token (token_env) or a user name and "
            "password (username, password_env), not both"
        )
    if secret is not None and secret_env is not None:
        raise ConfigError(f"{where}: [{section}]: give token or token_env, not both")
    if password is not None and password_env is not None:
        raise ConfigError(f"{where}: [{section}]: give password or password_env, not both")
    if secret or secret_env:
        kind = "bearer"
    elif username or password or password_env:
        if not username or not (password or password_env):
            raise ConfigError(
                f"{where}: [{section}]: basic authentication needs username and password_env"
            )
        kind, secret, secret_env = "basic", password, password_env
    folder = Path(where).parent if where != "the configuration" else Path()
    ca_text = _text(table, "ca", section, where)
    verify = table.get("verify", True)
    if not isinstance(verify, bool):
        raise ConfigError(f"{where}: {section}.verify must be true or false, not {verify!r}")
    entry = WebEntry(
        name=name,
        url=url,
        kind=kind,
        username=username,
        secret=secret,
        secret_env=secret_env,
        source=f"{where} [{section}]",
        ca=folder / Path(ca_text).expanduser() if ca_text else None,
        verify=verify,
        timeouts=_timeouts(table.get("timeouts"), section, where),
        url_budget=_count(table, "url_budget", section, where),
        concurrency=_count(table, "concurrency", section, where),
    )
    try:  # check the values now (the secret aside: it is read when the node is used)
        dataclasses.replace(entry, kind=None).node()
    except UsageError as exc:
        raise ConfigError(f"{where}: [{section}]: {exc}") from exc
    return entry


def _text(table: Mapping[str, Any], key: str, section: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {section}.{key} must be a non-empty string")
    return value


def _count(table: Mapping[str, Any], key: str, section: str, where: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: {section}.{key} must be a positive integer, not {value!r}")
    return value


def _timeouts(value: object, section: str, where: str) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where}: {section}.timeouts must be a table, e.g. "
            "timeouts = { connect = 10, read = 120 }"
        )
    unknown = sorted(set(value) - set(_TIMEOUT_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: {section}.timeouts has unknown key {unknown[0]!r}; a DICOMweb node "
            f"takes {', '.join(_TIMEOUT_KEYS)}"
        )
    seconds: dict[str, float] = {}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
            raise ConfigError(
                f"{where}: {section}.timeouts.{name} must be a positive number of seconds"
            )
        seconds[name] = float(number)
    return tuple(seconds.items())


def example(name: str) -> str:
    return _EXAMPLE.format(name=name)
