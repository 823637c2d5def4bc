"""Serving the catalog: a DICOM Query/Retrieve SCP that answers what real PACS refuse.

::

    from dicomref.server import Destination, Server, ServerConfig

    config = ServerConfig(
        ae_title="DICOMREF_QR",
        port=11112,
        store=Path("received"),
        destinations=(Destination.parse("WORKSTATION@10.0.0.7:104"),),
    )
    with Server(config, "sqlite:///catalog.sqlite") as server:
        ...  # server.port: where it listens

What it offers: C-ECHO; C-STORE into a managed store, indexed before success is answered;
C-FIND at PATIENT, STUDY, SERIES and IMAGE level in the Patient and Study Root models,
hierarchical and relational (granted in negotiation, and answered), with the references
of each object returned as sequence return keys; C-MOVE and C-GET at every level, UID
lists included.  ``strict=True`` makes it behave like a strictly hierarchical PACS
(DCMTK's ``dcmqrscp -XF -XM``), for testing clients against one.

Modules: ``_config`` (ServerConfig), ``_scp`` (the AE and its handlers), ``_find`` and
``_answers`` (C-FIND), ``_keys``, ``_identifier``, ``_hierarchy``, ``_matching`` and
``_select`` (identifiers → SQL), ``_refseq`` (reference sequences), ``_retrieve`` (C-MOVE,
C-GET), ``_store``, ``_ingest`` and ``_inflate`` (C-STORE), ``_access`` (who may do what),
``_statuses``, ``_events``; the network side: ``_listener`` and ``_gate`` (connections
until their association request is complete, and their bounds), ``_receive`` (PDUs read
within the negotiated bounds), ``_reactor`` and ``_tuning`` (pynetdicom's loops and
per-message costs); docs/server-connections.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomref._lazy import face

if TYPE_CHECKING:
    from dicomref.errors import ServerError
    from dicomref.server._access import AccessPolicy
    from dicomref.server._config import (
        DEFAULT_AE,
        DEFAULT_HOST,
        DEFAULT_PORT,
        DEFAULT_SHUTDOWN_GRACE,
        Destination,
        ServerConfig,
    )
    from dicomref.server._scp import Server

# Imported on first use (docs/architecture.md): pynetdicom only when a server is built.
_LAZY: dict[str, str] = {
    "ServerError": "dicomref.errors",
    "AccessPolicy": "._access",
    **dict.fromkeys(
        [
            "DEFAULT_AE",
            "DEFAULT_HOST",
            "DEFAULT_PORT",
            "DEFAULT_SHUTDOWN_GRACE",
            "Destination",
            "ServerConfig",
        ],
        "._config",
    ),
    "Server": "._scp",
}
if not TYPE_CHECKING:
    __getattr__, __dir__ = face(__name__, _LAZY)

__all__ = [
    "DEFAULT_AE",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_SHUTDOWN_GRACE",
    "AccessPolicy",
    "Destination",
    "Server",
    "ServerConfig",
    "ServerError",
]
