"""``dicomref serve``: the catalog as a DICOM Query/Retrieve SCP, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from dicomref.cli._common import DbOption, VerboseOption, err, maps_errors, setup_logging
from dicomref.server import (
    DEFAULT_AE,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_SHUTDOWN_GRACE,
)
from dicomref.server._config import (
    DEFAULT_ARTIM_TIMEOUT,
    DEFAULT_MAX_ASSOCIATIONS,
    DEFAULT_MAX_INFLATED,
    DEFAULT_MAX_PDU,
    DEFAULT_MAX_PEER_CONNECTIONS,
    DEFAULT_STALL_TIMEOUT,
)


@maps_errors
def serve(
    ae: Annotated[str, typer.Option("--ae", help="The server's AE title.")] = DEFAULT_AE,
    port: Annotated[
        int, typer.Option(help="TCP port to listen on (0: any free port, printed at start).")
    ] = DEFAULT_PORT,
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")
    ] = DEFAULT_HOST,
    store: Annotated[
        Path | None,
        typer.Option(help="Folder to store received objects in (C-STORE); without it, refused."),
    ] = None,
    destination: Annotated[
        list[str] | None,
        typer.Option(
            "--destination",
            help="A C-MOVE destination, AE@host:port (repeatable); others get 0xA801.",
        ),
    ] = None,
    destination_tls: Annotated[
        list[str] | None,
        typer.Option(
            "--destination-tls",
            help="A C-MOVE destination reached with TLS, AE@host:port (repeatable; needs "
            "--tls-cert: our certificate is the client's, --tls-ca checks the destination's).",
        ),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow", help="A calling AE title that may associate (repeatable; default: any)."
        ),
    ] = None,
    retrieve_allow: Annotated[
        list[str] | None,
        typer.Option(
            "--retrieve-allow",
            help="A calling AE title that may C-MOVE/C-GET (repeatable; default: any allowed).",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            help="Behave like a strictly hierarchical PACS (dcmqrscp -XF -XM): refuse "
            "queries and retrieves without the unique keys of every level above (DICOMweb: "
            "searches only within their study and series, else 400)."
        ),
    ] = False,
    check_called_ae: Annotated[
        bool,
        typer.Option(help="Reject associations addressed to another AE title."),
    ] = True,
    grace: Annotated[
        float,
        typer.Option(
            help="Seconds open associations get to finish on SIGTERM; then they are aborted "
            "and the server exits within this time, whatever peers do."
        ),
    ] = DEFAULT_SHUTDOWN_GRACE,
    max_associations: Annotated[
        int, typer.Option(help="Associations served at once; more are rejected.")
    ] = DEFAULT_MAX_ASSOCIATIONS,
    max_pdu: Annotated[
        int,
        typer.Option(
            help="Longest P-DATA PDU accepted, in bytes (advertised, and enforced: a longer "
            "one aborts the association; 0: no limit)."
        ),
    ] = DEFAULT_MAX_PDU,
    max_peer_connections: Annotated[
        int,
        typer.Option(
            help="Connections one peer address may hold at once, associated or still associating."
        ),
    ] = DEFAULT_MAX_PEER_CONNECTIONS,
    artim_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a new connection has to send its association request; then it "
            "is closed (it holds no association slot meanwhile)."
        ),
    ] = DEFAULT_ARTIM_TIMEOUT,
    stall_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a peer may stay silent in the middle of a PDU, or leave what we "
            "send unread, before its connection is closed."
        ),
    ] = DEFAULT_STALL_TIMEOUT,
    max_inflated: Annotated[
        int,
        typer.Option(
            help="Bytes a Deflated object received by C-STORE may inflate to; a larger one "
            "is refused (0xA700) before anything inflates it."
        ),
    ] = DEFAULT_MAX_INFLATED,
    fsync: Annotated[
        bool,
        typer.Option(
            help="Flush each received object to disk (fsync) before acknowledging it, as "
            "Orthanc does by default: acknowledged objects then survive a power loss.  "
            "--no-fsync is faster on slow disks and still survives a crash of the server "
            "(SIGKILL), not of the machine."
        ),
    ] = True,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            help="Accept TLS connections only, with this certificate (PEM; the chain after it).",
            dir_okay=False,
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            "--tls-key",
            help="The private key of --tls-cert (PEM, unencrypted, chmod 600; default: in "
            "the --tls-cert file).",
            dir_okay=False,
        ),
    ] = None,
    tls_ca: Annotated[
        Path | None,
        typer.Option(
            "--tls-ca",
            help="CA certificates (PEM) client certificates must be signed by; a client "
            "certificate that does not verify is refused.",
            dir_okay=False,
        ),
    ] = None,
    tls_require_client_cert: Annotated[
        bool,
        typer.Option(
            "--tls-require-client-cert",
            help="Refuse TLS clients without a certificate signed by --tls-ca.",
        ),
    ] = False,
    http_port: Annotated[
        int | None,
        typer.Option(
            "--http-port",
            help="Also serve DICOMweb (QIDO-RS, WADO-RS; STOW-RS with --allow-stow) under "
            "/dicom-web on this TCP port of --host (0: any free port, printed at start).",
        ),
    ] = None,
    allow_stow: Annotated[
        bool,
        typer.Option(
            "--allow-stow",
            help="Take STOW-RS (POST /dicom-web/studies) into --store, by the C-STORE "
            "rules; without it the DICOMweb side is read-only.",
        ),
    ] = False,
    http_auth_file: Annotated[
        Path | None,
        typer.Option(
            "--http-auth-file",
            help="DICOMweb credentials, one a line: 'token:SECRET' (Bearer) or "
            "'basic:USER:PASSWORD'; requests without one get 401.",
            dir_okay=False,
        ),
    ] = None,
    http_auth_env: Annotated[
        str | None,
        typer.Option(
            "--http-auth-env",
            help="The name of an environment variable holding DICOMweb credentials, in "
            "the form of --http-auth-file.",
        ),
    ] = None,
    db: DbOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Serve the catalog as a Query/Retrieve SCP (C-ECHO, C-FIND, C-MOVE, C-GET, C-STORE),
    and with --http-port over DICOMweb too.

    Answers IMAGE-level queries by SOP Instance UID alone, UID lists, relational queries,
    and returns each object's references as sequence return keys.  Logs to stderr (INFO;
    -vv for debug).  Stops cleanly on SIGTERM or Ctrl-C (exit 0).
    """
    from dicomref._dimse._tls import Tls
    from dicomref.errors import UsageError
    from dicomref.server import Destination, Server, ServerConfig

    setup_logging(max(verbose, 1))
    tls = None
    if tls_cert is not None:
        tls = Tls(cert=tls_cert, key=tls_key, ca=tls_ca, verify_peer=tls_require_client_cert)
    elif tls_key is not None or tls_ca is not None or tls_require_client_cert:
        raise UsageError("the --tls-* options need --tls-cert (the server's certificate)")
    _check_http_options(http_port, allow_stow, store, http_auth_file, http_auth_env)
    config = ServerConfig(
        ae_title=ae,
        host=host,
        port=port,
        store=store,
        destinations=(
            *(Destination.parse(text) for text in destination or ()),
            *(Destination.parse(text, tls=True) for text in destination_tls or ()),
        ),
        allowed_callers=frozenset(allow) if allow else None,
        retrievers=frozenset(retrieve_allow) if retrieve_allow else None,
        strict=strict,
        check_called_ae=check_called_ae,
        shutdown_grace=grace,
        fsync=fsync,
        max_associations=max_associations,
        max_pdu=max_pdu,
        max_peer_connections=max_peer_connections,
        artim_timeout=artim_timeout,
        stall_timeout=stall_timeout,
        max_inflated=max_inflated,
        tls=tls,
    )
    server = Server(config, db)

    def stop(signum: int, _frame: FrameType | None) -> None:
        err.print(f"dicomref serve: {signal.Signals(signum).name} received, stopping")
        server.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    http: Any = None
    try:
        bound = server.start()
        if http_port is not None:
            http = _start_http(server, config, http_port, allow_stow, http_auth_file, http_auth_env)
            err.print(
                f"dicomref serve: DICOMweb on {http.scheme}://{_shown_host(config.host)}:{http.port}"
                f"/dicom-web{' (STOW-RS allowed)' if allow_stow else ' (read-only)'}",
                markup=False,
            )
            err.print(
                f"dicomref serve: web page on {http.scheme}://{_shown_host(config.host)}:{http.port}/",
                markup=False,
            )
        err.print(
            f"dicomref serve: listening on {config.host}:{bound} as {config.ae_title}"
            + (" (TLS)" if tls is not None else ""),
            markup=False,
        )
        server.serve_forever()
    finally:
        if http is not None:
            http.stop()
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_http_options(
    http_port: int | None,
    allow_stow: bool,
    store: Path | None,
    auth_file: Path | None,
    auth_env: str | None,
) -> None:
    from dicomref.errors import UsageError

    if http_port is None:
        if allow_stow or auth_file is not None or auth_env is not None:
            raise UsageError("--allow-stow and --http-auth-* need --http-port (DICOMweb)")
        return
    if not 0 <= http_port < 65536:
        raise UsageError(f"--http-port must be from 0 (any free port) to 65535, not {http_port}")
    if allow_stow and store is None:
        raise UsageError("--allow-stow needs --store (the folder STOW-RS stores into)")
    if auth_file is not None and auth_env is not None:
        raise UsageError("give --http-auth-file or --http-auth-env, not both")


def _start_http(
    server: Any,
    config: Any,
    http_port: int,
    allow_stow: bool,
    auth_file: Path | None,
    auth_env: str | None,
) -> Any:
    """DICOMweb over the DIMSE server's catalog (and store service), served from a thread;
    Starlette and uvicorn are imported here only."""
    import logging

    from dicomref.server.dicomweb import HttpCredentials, HttpServer, build_app

    credentials = None
    if auth_file is not None:
        credentials = HttpCredentials.from_file(auth_file)
    elif auth_env is not None:
        credentials = HttpCredentials.from_environment(auth_env)
    elif config.host not in ("127.0.0.1", "::1", "localhost"):
        logging.getLogger("dicomref.serve").warning(
            "DICOMweb on %s without credentials: anyone who reaches it may read the catalog "
            "(--http-auth-file)",
            config.host,
        )
    from dicomref.server.page import page_routes

    app = build_app(
        server.catalog,
        storer=server.store_service if allow_stow else None,
        credentials=credentials,
        extra_routes=page_routes(server.catalog),
        strict=config.strict,
    )
    http = HttpServer(app, config.host, http_port, grace=config.shutdown_grace, tls=config.tls)
    http.start()
    return http


def _shown_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def register(app: typer.Typer) -> None:
    app.command()(serve)
