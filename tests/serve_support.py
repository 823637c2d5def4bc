"""Shared by the tests of ``dicomref serve``: identifiers, a raw pynetdicom client, and
catalogs of generated patients served by an in-process :class:`Server`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.association import Association
from pynetdicom.events import EventHandlerType
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation

from dicomref.catalog import Catalog
from dicomref.remote._dimse import QUERY_MODELS, STORAGE_CLASSES, VERIFICATION
from dicomref.remote._enums import Root
from dicomref.remote._node import Node, Timeouts
from dicomref.server import Server, ServerConfig
from dicomref.server._events import no_delay
from servers import LOOPBACK

TIMEOUTS = Timeouts(connect=5.0, acse=10.0, dimse=30.0, network=30.0)
STUDY_FIND = QUERY_MODELS[(Root.STUDY, "C-FIND")]
PATIENT_FIND = QUERY_MODELS[(Root.PATIENT, "C-FIND")]
STUDY_GET = QUERY_MODELS[(Root.STUDY, "C-GET")]
STUDY_MOVE = QUERY_MODELS[(Root.STUDY, "C-MOVE")]


def query(level: str | None = None, **keys: Any) -> Dataset:
    ds = Dataset()
    if level is not None:
        ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def node(server: Server, *, our_ae: str = "DICOMREF", store_port: int | None = None) -> Node:
    return Node(
        server.config.ae_title,
        LOOPBACK,
        server.port,
        our_ae=our_ae,
        store_port=store_port,
        timeouts=TIMEOUTS,
    )


def _accept(event: Any, received: set[str]) -> int:
    """Take every object a C-GET sends: note its UID, keep nothing else."""
    received.add(str(event.request.AffectedSOPInstanceUID))
    return 0x0000


@contextlib.contextmanager
def raw_association(
    port: int,
    *,
    called: str = "DICOMREF_QR",
    calling: str = "RAW",
    relational: bool = False,
    storage: Sequence[str] = (),
    get_roles: bool = False,
    received: set[str] | None = None,
) -> Iterator[Association]:
    """A pynetdicom association with every Q/R model (and ``storage`` classes, with the
    SCP role for C-GET when ``get_roles``: objects sent back are taken, their SOP Instance
    UIDs added to ``received``)."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context(VERIFICATION)
    for model in QUERY_MODELS.values():
        ae.add_requested_context(model)
    for sop_class in storage:
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ext_neg: list[Any] = []
    if relational:
        for model in QUERY_MODELS.values():
            item = SOPClassExtendedNegotiation()
            item.sop_class_uid = model
            item.service_class_application_information = b"\x01"
            ext_neg.append(item)
    if get_roles:
        ext_neg += [build_role(c, scp_role=True) for c in storage]
    handlers: list[EventHandlerType] = [(evt.EVT_CONN_OPEN, no_delay)]
    if get_roles:
        handlers.append((evt.EVT_C_STORE, _accept, [received if received is not None else set()]))
    assoc = ae.associate(LOOPBACK, port, ae_title=called, ext_neg=ext_neg, evt_handlers=handlers)
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def find_statuses(assoc: Association, identifier: Dataset, model: str = STUDY_FIND) -> list[Any]:
    return list(assoc.send_c_find(identifier, model))


@dataclass(frozen=True)
class Served:
    """A catalog of one generated patient and the server answering from it."""

    server: Server
    catalog_url: str

    @property
    def port(self) -> int:
        return self.server.port


def catalog_of(folders: Sequence[Path], url: str) -> str:
    with Catalog(url) as catalog:
        catalog.scan(list(folders))
    return url


def start(config: ServerConfig, url: str) -> Served:
    server = Server(config, url)
    server.start()
    return Served(server, url)


STORAGE = tuple(str(c) for c in STORAGE_CLASSES)
