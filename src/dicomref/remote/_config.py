"""Named DICOM nodes from a TOML file, ``nodes.toml``::

    [defaults]                  # optional; applies to every node, AE@host:port ones included
    our_ae = "DICOMREF"
    store_port = 11113
    retrieve = "auto"           # move | get | auto
    timeouts = { connect = 5, acse = 30, dimse = 60, network = 60 }
    tls = { ca = "ca.pem", cert = "dicomref.pem", key = "dicomref.key" }   # TLS on for all

    [nodes.pacs1]
    ae = "ORTHANC"
    host = "127.0.0.1"
    port = 4242
    retrieve = "move"           # optional: our_ae, store_port, retrieve, timeouts, tls override

The file lives in the user configuration directory (``platformdirs``), unless the
environment variable ``DICOMREF_CONFIG`` or an explicit path names another one.  Only the
command line reads it: library functions take :class:`~dicomref._dimse._node.Node` objects.

A ``tls`` table (keys ``ca``, ``cert``, ``key``, ``verify_peer``, ``server_hostname``; see
:class:`~dicomref._dimse._tls.Tls`) turns TLS on, even empty (``tls = {}``: the system's
trusted CAs); relative paths are relative to the nodes file's folder.  A node's ``tls``
keys override those of ``[defaults]`` one by one.

A ``[nodes.NAME]`` table with ``url`` instead of ``ae``/``host``/``port`` is a DICOMweb
server (:mod:`dicomref.remote._web_config`: credentials from the environment, TLS, timeouts);
a node given as ``http://…`` / ``https://…`` takes the settings of the table with that
``url``, if any.

Precedence, highest first: the value given by the caller (a command-line option), the
node's own table, ``[defaults]``, the built-in defaults of :class:`Node`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from dicomref._dicomweb._node import WebNode, looks_like_url
from dicomref._dimse._node import (
    DEFAULT_OUR_AE,
    RETRIEVE_METHODS,
    Node,
    RetrieveMethod,
    Timeouts,
    check_ae_title,
)
from dicomref._dimse._tls import Tls
from dicomref.errors import ConfigError, UsageError
from dicomref.remote._web_config import WebEntry, web_entry

CONFIG_ENV: Final = "DICOMREF_CONFIG"
"""Environment variable naming the nodes file (overrides the user configuration folder)."""
CONFIG_FILENAME: Final = "nodes.toml"

_SETTING_KEYS: Final = ("our_ae", "store_port", "retrieve", "timeouts", "tls")
_NODE_KEYS: Final = ("ae", "host", "port", *_SETTING_KEYS)
_TIMEOUT_KEYS: Final = ("connect", "acse", "dimse", "network")
_TLS_PATHS: Final = ("ca", "cert", "key")
_TLS_KEYS: Final = (*_TLS_PATHS, "verify_peer", "server_hostname")
_EXAMPLE: Final = '[nodes.{name}]\nae = "PACS"\nhost = "pacs.example.org"\nport = 104'


def default_config_path() -> Path:
    """``$DICOMREF_CONFIG`` if set, else ``nodes.toml`` in the user configuration folder."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        return Path(named).expanduser()
    import platformdirs  # here, not at the top: ``dicomref --help`` names CONFIG_FILENAME

    return Path(platformdirs.user_config_dir("dicomref")) / CONFIG_FILENAME


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """How to talk to a node; ``None`` means "not set here, ask the next level"."""

    our_ae: str | None = None
    store_port: int | None = None
    retrieve: RetrieveMethod | None = None
    timeouts: tuple[tuple[str, float], ...] = ()
    """Timeouts set at this level, by name (``connect``, ``acse``, ``dimse``, ``network``);
    each one not set here comes from the next level."""
    tls: tuple[tuple[str, Path | str | bool], ...] | None = None
    """TLS settings at this level, by :class:`Tls` field name (None: TLS not asked for
    here; empty: TLS with the defaults); each one not set here comes from the next level."""

    def over(self, other: NodeSettings) -> NodeSettings:
        """These settings, with ``other`` filling in what is not set here."""
        return NodeSettings(
            our_ae=self.our_ae if self.our_ae is not None else other.our_ae,
            store_port=self.store_port if self.store_port is not None else other.store_port,
            retrieve=self.retrieve if self.retrieve is not None else other.retrieve,
            timeouts=tuple({**dict(other.timeouts), **dict(self.timeouts)}.items()),
            tls=(
                None
                if self.tls is None and other.tls is None
                else tuple({**dict(other.tls or ()), **dict(self.tls or ())}.items())
            ),
        )


@dataclass(frozen=True, slots=True)
class NodeEntry:
    """One ``[nodes.NAME]`` table."""

    name: str
    ae: str
    host: str
    port: int
    settings: NodeSettings = field(default_factory=NodeSettings)

    def matches(self, node: Node) -> bool:
        return (self.ae, self.host.strip("[]").lower(), self.port) == (
            node.ae_title,
            node.host.lower(),
            node.port,
        )


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """The nodes file as read: ``path`` (``None`` for a configuration built in code),
    the ``[defaults]`` and the named nodes."""

    path: Path | None = None
    defaults: NodeSettings = field(default_factory=NodeSettings)
    nodes: Mapping[str, NodeEntry] = field(default_factory=dict)
    exists: bool = False
    web: Mapping[str, WebEntry] = field(default_factory=dict)
    """The DICOMweb nodes (tables with ``url``), by name."""

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else "the configuration"

    def resolve(
        self,
        text: str,
        *,
        our_ae: str | None = None,
        store_port: int | None = None,
        retrieve: RetrieveMethod | None = None,
        timeouts: Timeouts | None = None,
        tls: Mapping[str, Path | str | bool] | None = None,
    ) -> Node:
        """The DIMSE node ``text`` names: ``AE@host:port`` or the name of a ``[nodes.*]``
        table (:meth:`resolve_any` also takes DICOMweb nodes).

        An ``AE@host:port`` that a named node also describes takes that node's settings.
        ``tls``: :class:`Tls` settings by field name, each overriding the file's (given,
        even empty, TLS is on).
        """
        text = text.strip()
        if looks_like_url(text) or text in self.web:
            raise UsageError(f"{text} is a DICOMweb node, not a DIMSE one (AE@host:port)")
        given = NodeSettings(
            our_ae,
            store_port,
            retrieve,
            _seconds(timeouts),
            tuple(tls.items()) if tls is not None else None,
        )
        if "@" in text:
            parsed = Node.parse(text)
            entry = next((e for e in self.nodes.values() if e.matches(parsed)), None)
            if entry is None:
                return _build(parsed.ae_title, parsed.host, parsed.port, given.over(self.defaults))
            return self._node(entry, given)
        entry = self.nodes.get(text)
        if entry is None:
            raise ConfigError(self._unknown(text))
        return self._node(entry, given)

    def resolve_any(
        self,
        text: str,
        *,
        our_ae: str | None = None,
        store_port: int | None = None,
        retrieve: RetrieveMethod | None = None,
        timeouts: Timeouts | None = None,
        tls: Mapping[str, Path | str | bool] | None = None,
    ) -> Node | WebNode:
        """The node ``text`` names, DIMSE (as :meth:`resolve`) or DICOMweb: a base URL
        (``http://…``, ``https://…``; the table with that ``url`` gives its settings) or
        the name of a table with ``url``.  The DIMSE settings given for a DICOMweb node are
        a :class:`UsageError` (they cannot apply)."""
        text = text.strip()
        if not (looks_like_url(text) or text in self.web):
            return self.resolve(
                text,
                our_ae=our_ae,
                store_port=store_port,
                retrieve=retrieve,
                timeouts=timeouts,
                tls=tls,
            )
        dimse = {
            "our AE title (--ae)": our_ae,
            "store port (--store-port)": store_port,
            "retrieve method (--retrieve)": retrieve,
            "DIMSE timeouts": timeouts,
            "TLS options (--tls-*; give ca in nodes.toml)": tls,
        }
        given_dimse = [what for what, value in dimse.items() if value is not None]
        if given_dimse:
            raise UsageError(
                f"{text} is a DICOMweb node: the {given_dimse[0]} applies to DIMSE nodes only"
            )
        return self._web(text)

    def _web(self, text: str) -> WebNode:
        entry = self.web.get(text)
        if entry is not None:
            return entry.node()
        parsed = WebNode.parse(text)
        entry = next((e for e in self.web.values() if e.matches(parsed.url)), None)
        return entry.node() if entry is not None else parsed

    def _node(self, entry: NodeEntry, given: NodeSettings) -> Node:
        # the file's values were checked when it was read: a UsageError here is the caller's
        return _build(
            entry.ae, entry.host, entry.port, given.over(entry.settings).over(self.defaults)
        )

    def _unknown(self, name: str) -> str:
        if not name:
            return "no node given: write AE@host:port or the name of a node in " + self.where
        how = (
            f"add a table to it:\n{_EXAMPLE.format(name=name)}\nor give the node as "
            "AE@host:port (or a DICOMweb server as https://host/dicom-web)"
        )
        if not self.exists:
            return f"no node named {name!r}: {self.where} does not exist; create it and {how}"
        known = ", ".join(sorted([*self.nodes, *self.web])) or "none"
        return f"no node named {name!r} in {self.where} (nodes there: {known}); {how}"


def _build(ae: str, host: str, port: int, settings: NodeSettings) -> Node:
    return Node(
        ae_title=ae,
        host=host,
        port=port,
        our_ae=settings.our_ae if settings.our_ae is not None else DEFAULT_OUR_AE,
        store_port=settings.store_port,
        retrieve=settings.retrieve if settings.retrieve is not None else "auto",
        timeouts=Timeouts(**dict(settings.timeouts)),
        tls=Tls(**dict(settings.tls)) if settings.tls is not None else None,  # type: ignore[arg-type]
    )


# -- reading the file --------------------------------------------------------------------------


def load_config(path: Path | None = None) -> NodeConfig:
    """Read the nodes file at ``path`` (default: :func:`default_config_path`).

    A missing default file is an empty configuration; a file named explicitly (``path`` or
    ``$DICOMREF_CONFIG``) must exist.  Any problem raises :class:`ConfigError` naming the
    file, the key and what to write.
    """
    explicit = path is not None
    from_env = not explicit and bool(os.environ.get(CONFIG_ENV))
    path = path if path is not None else default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if explicit or from_env:
            named = f" (named by {CONFIG_ENV})" if from_env else ""
            raise ConfigError(
                f"{path}: the nodes file{named} does not exist; "
                f"create it, e.g.\n{_EXAMPLE.format(name='pacs1')}"
            ) from None
        return NodeConfig(path=path, exists=False)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the nodes file: {exc.strerror or exc}") from exc
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> NodeConfig:
    """A configuration from already-parsed TOML ``data`` (``path`` only names it in errors)."""
    where = str(path) if path is not None else "the configuration"
    unknown = sorted(set(data) - {"defaults", "nodes"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown top-level key {unknown[0]!r}: "
            "only [defaults] and [nodes.NAME] tables belong here"
        )
    defaults_table = _table(data.get("defaults", {}), "defaults", where)
    _no_unknown_keys(defaults_table, _SETTING_KEYS, "defaults", where)
    defaults = _settings(defaults_table, "defaults", where)
    nodes_table = _table(data.get("nodes", {}), "nodes", where)
    nodes: dict[str, NodeEntry] = {}
    web: dict[str, WebEntry] = {}
    for name, value in nodes_table.items():
        table = _table(value, f"nodes.{name}", where)
        if "url" in table:
            _check_name(name, where)
            web[name] = web_entry(name, table, where)
        else:
            nodes[name] = _entry(name, table, where)
    return NodeConfig(path=path, defaults=defaults, nodes=nodes, exists=path is not None, web=web)


def _check_name(name: str, where: str) -> None:
    if not name.strip() or "@" in name or looks_like_url(name):
        raise ConfigError(
            f"{where}: [nodes.{name}]: a node name must not be empty, contain '@' or "
            "start with http:// (AE@host:port and URLs are how nodes are given without a name)"
        )


def _entry(name: str, table: Mapping[str, Any], where: str) -> NodeEntry:
    section = f"nodes.{name}"
    if not name.strip() or "@" in name:
        raise ConfigError(
            f"{where}: [{section}]: a node name must not be empty or contain '@' "
            "(AE@host:port is how nodes are given without a name)"
        )
    _no_unknown_keys(table, _NODE_KEYS, section, where)
    missing = [key for key in ("ae", "host", "port") if key not in table]
    if missing:
        raise ConfigError(
            f"{where}: [{section}] lacks {', '.join(repr(k) for k in missing)}: "
            f"write e.g.\n{_EXAMPLE.format(name=name)}"
        )
    ae = _string(table["ae"], f"{section}.ae", where, 'ae = "PACS"')
    host = _string(table["host"], f"{section}.host", where, 'host = "pacs.example.org"')
    port = _port(table["port"], f"{section}.port", where)
    settings = _settings(table, section, where)
    try:  # check the values now, so a bad entry is reported even if another node is used
        _build(ae, host, port, settings)
    except UsageError as exc:
        raise ConfigError(f"{where}: [{section}]: {exc}") from exc
    return NodeEntry(name=name, ae=ae, host=host, port=port, settings=settings)


def _settings(table: Mapping[str, Any], section: str, where: str) -> NodeSettings:
    our_ae = table.get("our_ae")
    store_port = table.get("store_port")
    retrieve = table.get("retrieve")
    timeouts = table.get("timeouts")
    tls = table.get("tls")
    if our_ae is not None:
        our_ae = _string(our_ae, f"{section}.our_ae", where, 'our_ae = "DICOMREF"')
        try:
            our_ae = check_ae_title(our_ae, "calling AE title")
        except UsageError as exc:
            raise ConfigError(f"{where}: {section}.our_ae: {exc}") from exc
    if store_port is not None:
        store_port = _port(store_port, f"{section}.store_port", where)
    if retrieve is not None and retrieve not in RETRIEVE_METHODS:
        choices = " or ".join(f'"{m}"' for m in RETRIEVE_METHODS)
        raise ConfigError(f"{where}: {section}.retrieve must be {choices}, not {retrieve!r}")
    return NodeSettings(
        our_ae=our_ae,
        store_port=store_port,
        retrieve=cast("RetrieveMethod | None", retrieve),
        timeouts=_timeouts(timeouts, f"{section}.timeouts", where) if timeouts is not None else (),
        tls=_tls(tls, f"{section}.tls", where) if tls is not None else None,
    )


def _seconds(timeouts: Timeouts | None) -> tuple[tuple[str, float], ...]:
    if timeouts is None:
        return ()
    return tuple((name, float(getattr(timeouts, name))) for name in _TIMEOUT_KEYS)


def _timeouts(value: object, key: str, where: str) -> tuple[tuple[str, float], ...]:
    example = "timeouts = { connect = 5, acse = 30, dimse = 60, network = 60 }"
    table = _table(value, key, where, example)
    _no_unknown_keys(table, _TIMEOUT_KEYS, key, where)
    seconds: dict[str, float] = {}
    for name, number in table.items():
        if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
            raise ConfigError(
                f"{where}: {key}.{name} must be a positive number of seconds, not {number!r}"
            )
        seconds[name] = float(number)
    return tuple(seconds.items())


def _tls(value: object, key: str, where: str) -> tuple[tuple[str, Path | str | bool], ...]:
    example = 'tls = { ca = "ca.pem", cert = "ours.pem", key = "ours.key" }'
    table = _table(value, key, where, example)
    _no_unknown_keys(table, _TLS_KEYS, key, where)
    folder = Path(where).parent if where != "the configuration" else Path()
    settings: dict[str, Path | str | bool] = {}
    for name, item in table.items():
        if name == "verify_peer":
            if not isinstance(item, bool):
                raise ConfigError(f"{where}: {key}.verify_peer must be true or false, not {item!r}")
            settings[name] = item
            continue
        text = _string(item, f"{key}.{name}", where, f'{name} = "..."')
        settings[name] = folder / Path(text).expanduser() if name in _TLS_PATHS else text
    try:
        Tls(**settings)  # type: ignore[arg-type]
    except UsageError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from exc
    return tuple(settings.items())


def _table(value: object, key: str, where: str, example: str | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        hint = f"; write e.g. {example}" if example else f"; write it as a [{key}] table"
        raise ConfigError(f"{where}: {key} must be a table, not {value!r}{hint}")
    return cast("dict[str, Any]", value)


def _no_unknown_keys(
    table: Mapping[str, Any], allowed: tuple[str, ...], key: str, where: str
) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: [{key}] has unknown key {unknown[0]!r}; the keys allowed there are "
            f"{', '.join(allowed)}"
        )


def _string(value: object, key: str, where: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{where}: {key} must be a non-empty string, not {value!r}; e.g. {example}"
        )
    return value


def _port(value: object, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ConfigError(
            f"{where}: {key} must be a TCP port number from 1 to 65535 (no quotes), not {value!r}"
        )
    return value


def resolve_node(
    text: str,
    *,
    config: NodeConfig | Path | None = None,
    our_ae: str | None = None,
    store_port: int | None = None,
    retrieve: RetrieveMethod | None = None,
    timeouts: Timeouts | None = None,
    tls: Mapping[str, Path | str | bool] | None = None,
) -> Node:
    """The DIMSE node ``text`` names (``AE@host:port`` or a configured name), with the values
    given here overriding the file (``tls``: :class:`Tls` settings by field name, each
    overriding the file's; given, even empty, TLS is on).  ``config``: a
    :class:`NodeConfig`, the path of a nodes file, or ``None`` for
    :func:`default_config_path` (a missing default file is no error: an ``AE@host:port``
    then takes the built-in defaults).  :func:`resolve_any_node` also takes DICOMweb
    nodes."""
    if not isinstance(config, NodeConfig):
        config = load_config(config)
    return config.resolve(
        text,
        our_ae=our_ae,
        store_port=store_port,
        retrieve=retrieve,
        timeouts=timeouts,
        tls=tls,
    )


def resolve_any_node(
    text: str,
    *,
    config: NodeConfig | Path | None = None,
    our_ae: str | None = None,
    store_port: int | None = None,
    retrieve: RetrieveMethod | None = None,
    timeouts: Timeouts | None = None,
    tls: Mapping[str, Path | str | bool] | None = None,
) -> Node | WebNode:
    """As :func:`resolve_node`, and a DICOMweb node too: a base URL (``http://…``,
    ``https://…``) or the name of a table with ``url`` (:meth:`NodeConfig.resolve_any`)."""
    if not isinstance(config, NodeConfig):
        config = load_config(config)
    return config.resolve_any(
        text,
        our_ae=our_ae,
        store_port=store_port,
        retrieve=retrieve,
        timeouts=timeouts,
        tls=tls,
    )
