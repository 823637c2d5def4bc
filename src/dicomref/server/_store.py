"""C-STORE: received objects go into the managed store and are indexed before success.

For each object: its identity is read from the data set, the bytes pynetdicom received
are written as they came (``event.encoded_dataset()``: no decoding and re-encoding) into
the :class:`~dicomref.store.ManagedStore` (atomic, fsynced), the file is read back with
:func:`~dicomref.extraction.read_object` and indexed (:class:`._ingest.Indexer`), and
only then is success answered.  What was stored before a failure stays stored.

Statuses:

- ``0x0000``: stored and indexed — or the catalog already held this SOP Instance UID with
  the same content (same encoded data set, or the same decoded data set when the transfer
  syntaxes differ): nothing is written twice;
- ``0x0111`` *Duplicate SOP Instance*: the catalog holds this SOP Instance UID with other
  content; the first object is kept, the new one is not stored (logged as a warning);
- ``0xA900``: the data set has no SOP Instance, Study or Series Instance UID, or its SOP
  Instance UID is not the one the request announced;
- ``0xC210``: the data set cannot be decoded, or what was written cannot be read back as
  an object (the file is removed);
- ``0xA700``: the file could not be written (disk full, permissions) or indexed (the
  catalog); a written file is indexed at the next start-up;
- ``0x0124``: the server runs without a store folder.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom.dsutils import split_dataset

from dicomref.catalog import Catalog
from dicomref.errors import CatalogError, DicomReadError
from dicomref.extraction import read_object
from dicomref.extraction._adapter import PYDICOM_READ_ERRORS
from dicomref.model import InstanceKey
from dicomref.server._events import DECODE_ERRORS, peer, status
from dicomref.server._ingest import Indexer
from dicomref.server._statuses import (
    DUPLICATE_SOP_INSTANCE,
    NOT_AUTHORISED,
    STORE_CANNOT_UNDERSTAND,
    STORE_DOES_NOT_MATCH,
    STORE_OUT_OF_RESOURCES,
    SUCCESS,
)
from dicomref.store import ManagedStore

LOGGER = logging.getLogger(__name__)
_IDENTITY = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


class _Claims:
    """SOP Instance UIDs being stored right now: a second arrival waits for the first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._held: set[str] = set()

    @contextlib.contextmanager
    def hold(self, uid: str) -> Iterator[None]:
        with self._condition:
            while uid in self._held:
                self._condition.wait()
            self._held.add(uid)
        try:
            yield
        finally:
            with self._condition:
                self._held.discard(uid)
                self._condition.notify_all()


def _same_content(path: Path, event: Any, received: bytes) -> bool | None:
    """Whether the file at ``path`` holds what was received; None if it cannot be told."""
    try:
        meta, offset = split_dataset(path)
        held = path.read_bytes()
    except OSError:
        return None
    except PYDICOM_READ_ERRORS:
        return None
    if str(meta.get("TransferSyntaxUID", "")) == str(event.context.transfer_syntax):
        return held[offset:] == received
    try:
        return bool(dcmread(path) == event.dataset)
    except PYDICOM_READ_ERRORS:
        return None


class StoreService:
    """The C-STORE handler writing into ``store`` and indexing through ``indexer``."""

    def __init__(
        self, catalog: Catalog, store: ManagedStore | None, indexer: Indexer | None
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.indexer = indexer
        self._claims = _Claims()

    def on_store(self, event: Any) -> int | Dataset:
        if self.store is None or self.indexer is None:
            LOGGER.warning("C-STORE from %s refused: no store folder (--store)", peer(event))
            return status(NOT_AUTHORISED, "this server takes no C-STORE (no store folder)")
        announced = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
        try:
            ds = event.dataset
            missing = [keyword for keyword in _IDENTITY if not ds.get(keyword)]
            if missing:
                LOGGER.warning(
                    "C-STORE from %s refused: SOP Instance %s has no %s",
                    peer(event),
                    announced,
                    ", ".join(missing),
                )
                return status(STORE_DOES_NOT_MATCH, f"no {', '.join(missing)}")
            key = InstanceKey(
                str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
            )
            modality = str(ds.get("Modality") or "") or None
        except DECODE_ERRORS as exc:
            LOGGER.warning(
                "C-STORE from %s: SOP Instance %s cannot be decoded: %s",
                peer(event),
                announced,
                exc,
            )
            return status(STORE_CANNOT_UNDERSTAND, "the data set cannot be decoded")
        if announced and key.sop != announced:
            LOGGER.warning(
                "C-STORE from %s refused: the data set is SOP Instance %s, the request named %s",
                peer(event),
                key.sop,
                announced,
            )
            return status(STORE_DOES_NOT_MATCH, "SOPInstanceUID differs from the request's")
        with self._claims.hold(key.sop):
            return self._store(event, key, modality)

    def _store(self, event: Any, key: InstanceKey, modality: str | None) -> int | Dataset:
        assert self.store is not None and self.indexer is not None
        received = event.encoded_dataset(include_meta=False)
        try:
            held = self.catalog.locate(key.sop)
        except CatalogError as exc:
            LOGGER.error("C-STORE from %s: cannot read the catalog: %s", peer(event), exc)
            return status(STORE_OUT_OF_RESOURCES, "the catalog cannot be read")
        for summary in held:
            same = _same_content(Path(summary.path), event, received)
            if same is None:
                continue
            if same:
                LOGGER.debug("C-STORE: SOP Instance %s already held, identical", key.sop)
                return SUCCESS
            LOGGER.warning(
                "C-STORE from %s: SOP Instance %s is already held with other content (%s); "
                "kept the first, refused the new one with 0x%04X",
                peer(event),
                key.sop,
                summary.path,
                DUPLICATE_SOP_INSTANCE,
            )
            return status(DUPLICATE_SOP_INSTANCE, "SOP Instance UID held with other content")
        try:
            stored = self.store.write(key, event.encoded_dataset(), modality, replace=True)
        except OSError as exc:
            LOGGER.error(
                "C-STORE from %s: cannot write SOP Instance %s: %s", peer(event), key.sop, exc
            )
            return status(STORE_OUT_OF_RESOURCES, f"cannot write: {exc.strerror or exc}")
        try:
            summary = read_object(stored.path)
        except DicomReadError as exc:
            stored.path.unlink(missing_ok=True)
            LOGGER.warning(
                "C-STORE from %s: SOP Instance %s refused: %s", peer(event), key.sop, exc
            )
            return status(STORE_CANNOT_UNDERSTAND, "not a readable DICOM object")
        try:
            self.indexer.index(summary)
        except CatalogError as exc:
            LOGGER.error(
                "C-STORE from %s: SOP Instance %s not indexed: %s", peer(event), key.sop, exc
            )
            return status(STORE_OUT_OF_RESOURCES, "the catalog cannot be written")
        LOGGER.debug("C-STORE: SOP Instance %s stored as %s", key.sop, stored.path)
        return SUCCESS
