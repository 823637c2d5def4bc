"""C-STORE: received objects go into the managed store and are indexed before success.

For each object: the data set pynetdicom received is written as it came, behind a file
meta (:func:`._staging.file_bytes`: no decoding and re-encoding), to a temporary file in
the store, read back with :func:`~dicomref.extraction.read_object` (its identity and
everything the index holds), linked into its place in the
:class:`~dicomref.store.ManagedStore` (never over another file), then indexed
(:class:`._ingest.Indexer`, group commits, which also checks that no other file holds
the SOP Instance UID) while the file is flushed to disk (with ``fsync``, the default),
and only when both are done is success answered (:mod:`._staging`).  An object whose
place is taken, or whose UID another file holds, is compared with what is held first.
What was stored before a failure stays stored.

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
  catalog); a written file is indexed at the next start-up.  Also a data set past the
  server's :class:`~dicomref.extraction.ReadLimits`: a Deflated one that inflates past
  ``max_inflated`` (counted in pieces before anything inflates it: :mod:`._inflate`), or
  one whose header the reader refuses to read (a value of more than ``max_value``);
- ``0x0124``: the server runs without a store folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom.dsutils import split_dataset

from dicomref.catalog import Catalog
from dicomref.errors import CatalogError, DicomReadError, ReadLimitError
from dicomref.extraction import ReadLimits, read_object
from dicomref.extraction._adapter import PYDICOM_READ_ERRORS
from dicomref.model import ObjectSummary
from dicomref.server._events import DECODE_ERRORS, peer, status
from dicomref.server._inflate import DEFLATED_EXPLICIT_VR_LE, inflates_within
from dicomref.server._ingest import Indexer
from dicomref.server._staging import Staged, file_bytes, folders_to_sync
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
        self,
        catalog: Catalog,
        store: ManagedStore | None,
        indexer: Indexer | None,
        *,
        limits: ReadLimits | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.indexer = indexer
        self.limits = limits if limits is not None else ReadLimits()
        self._claims = _Claims()

    def on_store(self, event: Any) -> int | Dataset:
        if self.store is None or self.indexer is None:
            LOGGER.warning("C-STORE from %s refused: no store folder (--store)", peer(event))
            return status(NOT_AUTHORISED, "this server takes no C-STORE (no store folder)")
        announced = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
        refusal = self._inflates_too_much(event, announced)
        if refusal is not None:
            return refusal
        try:
            staged = Staged(self.store, file_bytes(event))
        except DECODE_ERRORS as exc:  # a UID that cannot be encoded in the file meta
            return self._undecodable(event, announced, exc)
        except OSError as exc:
            return self._unwritable(event, announced, exc)
        with staged:
            try:
                summary = read_object(staged.path, self.limits)
            except ReadLimitError as exc:  # never decoded here: that is what it guards
                return self._past_limits(event, announced, str(exc))
            except DicomReadError as exc:
                return self._unreadable(event, announced, exc)
            if announced and summary.sop_instance != announced:
                LOGGER.warning(
                    "C-STORE from %s refused: the data set is SOP Instance %s, the request "
                    "named %s",
                    peer(event),
                    summary.sop_instance,
                    announced,
                )
                return status(STORE_DOES_NOT_MATCH, "SOPInstanceUID differs from the request's")
            with self._claims.hold(summary.sop_instance):
                return self._store(event, staged, summary)

    def _inflates_too_much(self, event: Any, announced: str) -> Dataset | None:
        """The refusal of a Deflated data set that inflates past ``max_inflated`` (None:
        not Deflated, or within it)."""
        if str(getattr(event.context, "transfer_syntax", "")) != DEFLATED_EXPLICIT_VR_LE:
            return None
        limit = self.limits.max_inflated
        try:
            within = inflates_within(event.request.DataSet.getvalue(), limit)
        except (zlib.error, AttributeError) as exc:
            return self._undecodable(event, announced, exc)
        if within:
            return None
        return self._past_limits(
            event, announced, f"its Deflated data set inflates past {limit:,} bytes (max_inflated)"
        )

    @staticmethod
    def _past_limits(event: Any, announced: str, why: str) -> Dataset:
        LOGGER.warning("C-STORE from %s: SOP Instance %s refused: %s", peer(event), announced, why)
        return status(STORE_OUT_OF_RESOURCES, "past the server's limits (inflated or value size)")

    def _unreadable(self, event: Any, announced: str, exc: DicomReadError) -> Dataset:
        """The status for a data set the header reader refused: 0xA900 when it lacks an
        identifying UID (told by pydicom, on this rare path), 0xC210 otherwise."""
        try:
            ds = event.dataset
            missing = [keyword for keyword in _IDENTITY if not ds.get(keyword)]
        except DECODE_ERRORS as decode_error:
            return self._undecodable(event, announced, decode_error)
        if missing:
            LOGGER.warning(
                "C-STORE from %s refused: SOP Instance %s has no %s",
                peer(event),
                announced,
                ", ".join(missing),
            )
            return status(STORE_DOES_NOT_MATCH, f"no {', '.join(missing)}")
        LOGGER.warning("C-STORE from %s: SOP Instance %s refused: %s", peer(event), announced, exc)
        return status(STORE_CANNOT_UNDERSTAND, "not a readable DICOM object")

    @staticmethod
    def _undecodable(event: Any, announced: str, exc: Exception) -> Dataset:
        LOGGER.warning(
            "C-STORE from %s: SOP Instance %s cannot be decoded: %s", peer(event), announced, exc
        )
        return status(STORE_CANNOT_UNDERSTAND, "the data set cannot be decoded")

    def _store(self, event: Any, staged: Staged, summary: ObjectSummary) -> int | Dataset:
        """The usual case: the file is linked into its place (a new name: nothing is
        overwritten) and submitted, then flushed while the indexer checks that no other file
        holds the SOP Instance UID and commits.  A file already at the place, or another
        holder, sends the object through :meth:`_store_held`."""
        assert self.store is not None and self.indexer is not None
        sop = summary.sop_instance
        target = self.store.path_for(summary.key, summary.modality)
        try:
            linked, created = staged.link(target)
        except OSError as exc:
            return self._unwritable(event, sop, exc)
        if not linked:
            return self._store_held(event, staged, summary, target)
        try:
            ticket = self.indexer.submit(
                dataclasses.replace(summary, path=str(target)),
                unless_held=True,
                folders=self._folders(target, created),
            )
        except CatalogError as exc:
            return self._not_indexed(event, sop, exc)
        flush_error = self._flush(staged)
        try:
            indexed = self.indexer.wait(ticket)
        except CatalogError as exc:
            return self._not_indexed(event, sop, exc)
        flush_error = flush_error or ticket.sync_error
        if not indexed:  # another file holds it: this copy goes, the holder is compared
            try:
                staged.withdraw(target)
            except OSError as exc:
                return self._unwritable(event, sop, exc)
            return self._store_held(event, staged, summary, target)
        if flush_error is not None:
            return self._unflushed(event, sop, flush_error)
        LOGGER.debug("C-STORE: SOP Instance %s stored as %s", sop, target)
        return SUCCESS

    def _store_held(
        self, event: Any, staged: Staged, summary: ObjectSummary, target: Path
    ) -> int | Dataset:
        """The rare case: a file is at the object's place, or the catalog names another
        holder.  Identical content is success without writing; other content is refused
        (0x0111); a file the catalog does not hold is replaced and indexed."""
        assert self.store is not None and self.indexer is not None
        sop = summary.sop_instance
        try:
            held = self.catalog.locate(sop)
        except CatalogError as exc:
            LOGGER.error("C-STORE from %s: cannot read the catalog: %s", peer(event), exc)
            return status(STORE_OUT_OF_RESOURCES, "the catalog cannot be read")
        received: bytes | None = None
        for other in held:
            received = received or event.encoded_dataset(include_meta=False)
            same = _same_content(Path(other.path), event, received)
            if same is None:
                continue
            if same:
                LOGGER.debug("C-STORE: SOP Instance %s already held, identical", sop)
                return SUCCESS
            LOGGER.warning(
                "C-STORE from %s: SOP Instance %s is already held with other content (%s); "
                "kept the first, refused the new one with 0x%04X",
                peer(event),
                sop,
                other.path,
                DUPLICATE_SOP_INSTANCE,
            )
            return status(DUPLICATE_SOP_INSTANCE, "SOP Instance UID held with other content")
        try:
            created = staged.replace(target)
        except OSError as exc:
            return self._unwritable(event, sop, exc)
        try:
            ticket = self.indexer.submit(
                dataclasses.replace(summary, path=str(target)),
                folders=self._folders(target, created),
            )
        except CatalogError as exc:
            return self._not_indexed(event, sop, exc)
        flush_error = self._flush(staged)
        try:
            self.indexer.wait(ticket)
        except CatalogError as exc:
            return self._not_indexed(event, sop, exc)
        flush_error = flush_error or ticket.sync_error
        if flush_error is not None:
            return self._unflushed(event, sop, flush_error)
        LOGGER.debug("C-STORE: SOP Instance %s stored as %s (replaced)", sop, target)
        return SUCCESS

    def _folders(self, target: Path, created: list[Path]) -> tuple[Path, ...]:
        """The folders to flush (with ``fsync``, the default) for ``target``'s folder
        entries: the indexer flushes them for the whole group (:mod:`._ingest`)."""
        assert self.store is not None
        return folders_to_sync(target, created) if self.store.fsync else ()

    def _flush(self, staged: Staged) -> OSError | None:
        """Flush the file's data to disk (with ``fsync``, the default), in this thread
        while the group commits; the error, if any, is reported once the catalog has
        answered."""
        assert self.store is not None
        if not self.store.fsync:
            return None
        try:
            staged.sync()
        except OSError as exc:
            return exc
        return None

    @staticmethod
    def _unwritable(event: Any, sop: str, exc: OSError) -> Dataset:
        LOGGER.error("C-STORE from %s: cannot write SOP Instance %s: %s", peer(event), sop, exc)
        return status(STORE_OUT_OF_RESOURCES, f"cannot write: {exc.strerror or exc}")

    @staticmethod
    def _unflushed(event: Any, sop: str, exc: OSError) -> Dataset:
        LOGGER.error(
            "C-STORE from %s: cannot flush SOP Instance %s to disk: %s", peer(event), sop, exc
        )
        return status(STORE_OUT_OF_RESOURCES, f"cannot write: {exc.strerror or exc}")

    @staticmethod
    def _not_indexed(event: Any, sop: str, exc: CatalogError) -> Dataset:
        LOGGER.error("C-STORE from %s: SOP Instance %s not indexed: %s", peer(event), sop, exc)
        return status(STORE_OUT_OF_RESOURCES, "the catalog cannot be written")
