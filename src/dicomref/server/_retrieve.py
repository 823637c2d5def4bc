"""C-MOVE and C-GET: which objects, and sending them from their catalog paths.

pynetdicom runs the sub-operations; the handlers here say where to (C-MOVE), how many,
and yield each object read from the first indexed file holding its SOP Instance UID.
pynetdicom counts the results and sends the final status (PS3.4 C.4.2.1.5, C.4.3.1.4):
0x0000 when every sub-operation succeeded, 0xB000 when some failed or gave a warning,
0xA702 when all failed, with the Failed SOP Instance UID List; 0xFE00 on C-CANCEL.

- an unknown destination (not configured): 0xA801, nothing sent anywhere;
- a caller that may not retrieve: 0x0124 (refused: not authorised);
- an identifier refused (:mod:`._hierarchy`): 0xA900; the catalog unreadable: 0xA701.
  These refusals report one failed sub-operation: pynetdicom's SCP takes a failure status
  only after the number of sub-operations, which must be at least one.  A refused C-MOVE
  associates with :mod:`._sink`, never with its destination.
- a file gone from disk, unreadable, or holding another object since it was indexed:
  that sub-operation fails (the object is yielded as a stand-in that pynetdicom cannot
  send, so it is counted and listed as failed) and the others go on.

Transfer syntaxes: an object is sent as stored; uncompressed ones may be re-encoded in
the other uncompressed syntax the peer accepted.  A C-MOVE proposes, per SOP class, one
context for the uncompressed syntaxes and one per compressed syntax the matches use.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, evt
from pynetdicom.presentation import PresentationContext

from dicomref._dimse._contexts import VERIFICATION
from dicomref._dimse._levels import Level
from dicomref._dimse._tls import Tls
from dicomref._dimse._tuning import tune_requestor
from dicomref.catalog import Catalog
from dicomref.errors import CatalogError
from dicomref.extraction._adapter import PYDICOM_READ_ERRORS
from dicomref.server import _select
from dicomref.server._access import AccessPolicy
from dicomref.server._config import ServerConfig
from dicomref.server._events import calling_ae, peer, read_request, status
from dicomref.server._identifier import Refusal, Request
from dicomref.server._sink import SINK_AE
from dicomref.server._statuses import (
    CANCEL,
    NOT_AUTHORISED,
    PENDING,
    UNABLE_TO_CALCULATE,
)

LOGGER = logging.getLogger(__name__)
#: Most presentation contexts one association may propose (PS3.8: context IDs 1-255, odd).
MAX_CONTEXTS: Final = 128
_UNCOMPRESSED: Final = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


@dataclass(frozen=True, slots=True)
class Instance:
    """One object to send: its UIDs and the file it is read from."""

    sop: str
    sop_class: str
    path: str
    transfer_syntax: str | None


def instances(catalog: Catalog, request: Request) -> list[Instance]:
    """The objects a retrieve ``request`` sends, one per SOP Instance UID."""
    with catalog.reading() as conn:
        found = _select.rows(conn, request, at=Level.IMAGE)
    return [
        Instance(
            row["SOPInstanceUID"],
            row["SOPClassUID"],
            row["_path"],
            row["AvailableTransferSyntaxUID"],
        )
        for row in found
    ]


def contexts_for(found: Sequence[Instance]) -> list[PresentationContext]:
    """Presentation contexts to propose to a C-MOVE destination for ``found``."""
    wanted: dict[tuple[str, tuple[str, ...]], None] = {}
    for item in found:
        syntax = UID(item.transfer_syntax) if item.transfer_syntax else None
        if syntax is not None and syntax.is_compressed:
            wanted[(item.sop_class, (str(syntax),))] = None
        else:
            syntaxes = tuple(str(s) for s in _UNCOMPRESSED)
            if syntax is not None and syntax not in _UNCOMPRESSED:
                syntaxes = (str(syntax), *syntaxes)
            wanted[(item.sop_class, syntaxes)] = None
    if len(wanted) > MAX_CONTEXTS:
        LOGGER.warning(
            "C-MOVE needs %d presentation contexts; proposing the first %d (objects of the "
            "others will fail)",
            len(wanted),
            MAX_CONTEXTS,
        )
    return [build_context(cls, list(ts)) for cls, ts in list(wanted)[:MAX_CONTEXTS]]


def _stand_in(item: Instance) -> Dataset:
    """A data set pynetdicom counts as a failed sub-operation: it has the UIDs (so the
    failure lists it) but no file meta, so sending it fails before anything is sent."""
    ds = Dataset()
    ds.SOPClassUID = item.sop_class
    ds.SOPInstanceUID = item.sop
    return ds


def load(item: Instance) -> tuple[Dataset, str | None]:
    """The object to send, or a stand-in and why it cannot be sent."""
    try:
        ds = dcmread(item.path, force=True)  # a file without preamble was indexed too
    except OSError as exc:
        return _stand_in(item), f"cannot read {item.path}: {exc.strerror or exc}"
    except PYDICOM_READ_ERRORS as exc:
        return _stand_in(item), f"{item.path} is no longer readable DICOM ({type(exc).__name__})"
    if str(ds.get("SOPInstanceUID", "")) != item.sop:
        return _stand_in(item), f"{item.path} holds another object since it was indexed"
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        implicit = ds.original_encoding[0]
        fixed = FileMetaDataset() if meta is None else meta
        fixed.TransferSyntaxUID = (
            ExplicitVRLittleEndian if implicit is False else ImplicitVRLittleEndian
        )
        ds.file_meta = fixed
    return ds, None


def _association_options(
    contexts: list[PresentationContext], tls_args: tuple[ssl.SSLContext, str] | None = None
) -> dict[str, Any]:
    """How pynetdicom associates with a C-MOVE destination: these contexts, tuned as every
    association we request (:func:`~dicomref._dimse._tuning.tune_requestor`), with TLS
    when ``tls_args`` (context, server name) are given."""
    options: dict[str, Any] = {
        "contexts": contexts,
        "evt_handlers": [(evt.EVT_CONN_OPEN, tune_requestor)],
    }
    if tls_args is not None:
        options["tls_args"] = tls_args
    return options


class RetrieveService:
    """The C-MOVE and C-GET handlers over one catalog."""

    def __init__(
        self,
        catalog: Catalog,
        config: ServerConfig,
        policy: AccessPolicy,
        sink: Callable[[], tuple[str, int]],
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.policy = policy
        self.sink = sink
        self._tls: ssl.SSLContext | None = None
        if config.tls is not None and any(d.tls for d in config.destinations):
            tls = config.tls
            self._tls = Tls(tls.cert, tls.key, tls.ca).client_context()  # files read now

    def _prepare(self, event: Any, command: str) -> list[Instance] | Refusal:
        caller = calling_ae(event)
        if not self.policy.may_retrieve(caller):
            return Refusal(NOT_AUTHORISED, f"{caller} may not retrieve from this server")
        request = read_request(event, command, strict=self.config.strict)
        if isinstance(request, Refusal):
            return request
        try:
            return instances(self.catalog, request)
        except CatalogError as exc:
            LOGGER.error("%s from %s: cannot read the catalog: %s", command, peer(event), exc)
            return Refusal(UNABLE_TO_CALCULATE, "the catalog cannot be read")

    def on_get(self, event: Any) -> Iterator[Any]:
        """The EVT_C_GET handler: number of sub-operations, then each object."""
        started = time.perf_counter()
        found = self._prepare(event, "C-GET")
        if isinstance(found, Refusal):
            self._log_refusal(event, "C-GET", found)
            yield 1
            yield status(found.status, found.reason), None
            return
        yield len(found)
        failed = yield from self._send(event, found)
        self._log_done(event, "C-GET", found, failed, started)

    def on_move(self, event: Any) -> Iterator[Any]:
        """The EVT_C_MOVE handler: destination, number of sub-operations, each object."""
        started = time.perf_counter()
        name = str(event.move_destination or "").strip()
        destination = self.config.destination(name)
        if destination is None:
            known = ", ".join(d.ae_title for d in self.config.destinations) or "none"
            LOGGER.warning(
                "C-MOVE from %s refused: unknown destination %r (configured: %s)",
                peer(event),
                name,
                known,
            )
            yield None, None
            return
        found = self._prepare(event, "C-MOVE")
        if isinstance(found, Refusal):
            self._log_refusal(event, "C-MOVE", found)
            host, port = self.sink()
            options = _association_options([build_context(VERIFICATION)])
            yield host, port, {**options, "ae_title": SINK_AE}
            yield 1
            yield status(found.status, found.reason), None
            return
        contexts = contexts_for(found) or [build_context(VERIFICATION)]
        tls_args = (self._tls, destination.host) if destination.tls and self._tls else None
        yield destination.host, destination.port, _association_options(contexts, tls_args)
        yield len(found)
        failed = yield from self._send(event, found)
        self._log_done(event, f"C-MOVE to {destination}", found, failed, started)

    def _send(self, event: Any, found: Sequence[Instance]) -> Generator[Any, None, int]:
        failed = 0
        for item in found:
            if event.is_cancelled:
                LOGGER.info("retrieve from %s cancelled by the peer", peer(event))
                yield CANCEL, None
                return failed
            ds, problem = load(item)
            if problem is not None:
                failed += 1
                LOGGER.warning("SOP Instance %s not sent: %s", item.sop, problem)
            yield PENDING, ds
        return failed

    @staticmethod
    def _log_refusal(event: Any, command: str, refusal: Refusal) -> None:
        LOGGER.info(
            "%s from %s refused with 0x%04X: %s",
            command,
            peer(event),
            refusal.status,
            refusal.reason,
        )

    @staticmethod
    def _log_done(
        event: Any, what: str, found: Sequence[Instance], failed: int, started: float
    ) -> None:
        LOGGER.info(
            "%s from %s: %d objects offered (%d unreadable) in %.0f ms",
            what,
            peer(event),
            len(found),
            failed,
            (time.perf_counter() - started) * 1000,
        )
