"""Options shared by the commands that talk to a server (``probe``, ``locate``, ``fetch``).

::

    @maps_errors
    def locate(node: NodeArg, ae: OurAeOption = None, store_port: StorePortOption = None,
               retrieve: RetrieveOption = None, config: ConfigOption = None) -> None:
        target = node_from_cli(node, ae=ae, store_port=store_port, retrieve=retrieve,
                               config=config)

Values given here override the node's table and ``[defaults]`` in ``nodes.toml``.  The TLS
options take file paths only, never key material; any of them turns TLS on.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dicomref._dimse._node import Node, RetrieveMethod
from dicomref.errors import UsageError
from dicomref.remote._config import CONFIG_ENV, CONFIG_FILENAME, resolve_any_node

if TYPE_CHECKING:
    from dicomref._dicomweb._node import WebNode


class RetrieveChoice(enum.StrEnum):
    """``--retrieve``: C-MOVE to our store port, C-GET, or what the probe found to work."""

    MOVE = "move"
    GET = "get"
    AUTO = "auto"


NodeArg = Annotated[
    str,
    typer.Argument(
        metavar="NODE",
        help=f"The server: AE@host:port, a DICOMweb base URL (https://host/dicom-web), or "
        f"the name of a node in {CONFIG_FILENAME}.",
        show_default=False,
    ),
]
OurAeOption = Annotated[
    str | None,
    typer.Option(
        "--ae",
        help="Our AE title: the calling AE and the C-MOVE destination the server must know "
        "(default: from the config, else DICOMREF).",
        show_default=False,
    ),
]
StorePortOption = Annotated[
    int | None,
    typer.Option(
        "--store-port",
        min=1,
        max=65535,
        help="Port our storage SCP listens on for C-MOVE objects; the server must have our AE "
        "title at this port (default: from the config, else a free port).",
        show_default=False,
    ),
]
RetrieveOption = Annotated[
    RetrieveChoice | None,
    typer.Option(
        "--retrieve",
        case_sensitive=False,
        help="C-MOVE, C-GET, or auto: what the probe measured (default: from the config, "
        "else auto).",
        show_default=False,
    ),
]
TlsCertOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-cert",
        help="Talk TLS; our certificate (PEM), for servers that ask for client certificates "
        "(default: from the config).",
        show_default=False,
        dir_okay=False,
    ),
]
TlsKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-key",
        help="Talk TLS; the private key (PEM, unencrypted, chmod 600) of --tls-cert "
        "(default: from the config, else in the --tls-cert file).",
        show_default=False,
        dir_okay=False,
    ),
]
TlsCaOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-ca",
        help="Talk TLS; the CA certificates (PEM) the server's certificate must be signed by "
        "(default: from the config, else the system's trusted CAs).",
        show_default=False,
        dir_okay=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help=f"The nodes file (default: ${CONFIG_ENV}, else {CONFIG_FILENAME} in your user "
        "configuration folder).",
        show_default=False,
        dir_okay=False,
    ),
]


def node_from_cli(
    node: str,
    *,
    ae: str | None = None,
    store_port: int | None = None,
    retrieve: RetrieveChoice | str | None = None,
    config: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    tls_ca: Path | None = None,
) -> Node | WebNode:
    """The node the command line names (DIMSE or DICOMweb), the options overriding the
    nodes file (a DIMSE option given for a DICOMweb node is a UsageError).

    Raises ConfigError (a file that cannot be used, an unknown name) or UsageError (a value
    that is not valid); ``maps_errors`` turns both into exit code 2.
    """
    method: RetrieveMethod | None = None
    if retrieve is not None:
        try:
            method = _method(RetrieveChoice(str(retrieve).lower()))
        except ValueError:
            choices = ", ".join(RetrieveChoice)
            raise UsageError(f"--retrieve must be one of {choices}, not {retrieve!r}") from None
    given = {"cert": tls_cert, "key": tls_key, "ca": tls_ca}
    tls = {name: path for name, path in given.items() if path is not None}
    return resolve_any_node(
        node,
        config=config,
        our_ae=ae,
        store_port=store_port,
        retrieve=method,
        tls=tls or None,
    )


def _method(choice: RetrieveChoice) -> RetrieveMethod:
    if choice is RetrieveChoice.MOVE:
        return "move"
    if choice is RetrieveChoice.GET:
        return "get"
    return "auto"
