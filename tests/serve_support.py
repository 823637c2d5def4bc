"""Shared by the tests of ``dicomref serve``: identifiers, a raw pynetdicom client,
catalogs of generated patients served by an in-process :class:`Server`, and the
``dicomref serve`` command in a child process (:class:`ServeCommand`)."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.association import Association
from pynetdicom.events import EventHandlerType
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation

from dicomref._dimse._contexts import QUERY_MODELS, STORAGE_CLASSES, VERIFICATION
from dicomref._dimse._levels import Root
from dicomref._dimse._node import Node, Timeouts
from dicomref._dimse._tuning import tune_requestor
from dicomref.catalog import Catalog
from dicomref.server import Server, ServerConfig
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
    handlers: list[EventHandlerType] = [(evt.EVT_CONN_OPEN, tune_requestor)]
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


class ServeCommand:
    """``dicomref serve --port 0 --db URL OPTIONS…`` in a child process, logging to
    ``log``; :meth:`start` returns once it listens (after the start-up re-index)."""

    START_TIMEOUT = 60.0

    def __init__(self, url: str, log: Path, *options: str) -> None:
        self.url = url
        self.log = log
        self.options = options
        self.port = 0
        #: The DICOMweb port, when started with --http-port.
        self.http_port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        argv = [sys.executable, "-m", "dicomref", "serve", "--port", "0", "--db", self.url]
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [*argv, *self.options],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            found = re.search(r"listening on [^ ]+:(\d+) as", text)
            if found:
                self.port = int(found[1])
                http = re.search(r"DICOMweb on https?://[^ ]+:(\d+)/dicom-web", text)
                self.http_port = int(http[1]) if http else 0
                return self
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"dicomref serve did not start:\n{self.log.read_text()[-4000:]}")

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def problems(self) -> list[str]:
        """Lines its log holds at WARNING or above."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if re.match(r"(WARNING|ERROR|CRITICAL) ", line)]

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed or closed by the server."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, as an operator stops it; its exit status."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
