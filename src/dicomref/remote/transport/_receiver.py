"""Receiving the objects of a retrieve: C-STORE sub-operations of a C-GET (on our own
association) or of a C-MOVE (on associations the server opens to our storage SCP).

Each received dataset goes to a callback chosen by the caller; :class:`FolderWriter` is the
default one (atomic writes, file names that are hashes of the UID).  A callback that also
has a ``store_file(dataset, data)`` method (:class:`FileStore`) is given the object as the
file it arrived as (preamble, file meta, the dataset's bytes as received: pynetdicom's
``Event.encoded_dataset``), so nothing is encoded again.  A :class:`StoreSink` collects
one retrieve: what arrived, what was refused, what the callback could not take.

Statuses this storage SCP answers with:

- ``0x0000`` success: the callback took the object;
- ``0x0124`` *Refused: not authorized* (PS3.7 Annex C): the object was not asked for
  (``expected`` is set and does not hold its SOP Instance UID), or no retrieve is in
  progress.  It is a failure status (the server counts a failed sub-operation) that says
  "this peer will not take it", unlike 0xA7xx *out of resources*, which invites a retry;
- ``0xA700`` *Refused: out of resources*: the callback failed (disk full, …);
- ``0xA900`` *Error: data set does not match SOP Class*: the data set's SOP Class UID is not
  the Affected SOP Class UID of the request; ``0xC000`` *Error: cannot understand*: its SOP
  Instance UID is not the Affected SOP Instance UID.  Either way the object is not the one
  announced: it is refused with an Error Comment, not kept, and recorded as a
  :class:`Mismatch` (told to a callback that has an ``on_mismatch(Mismatch)`` method).  An
  object is kept only when what it is and what it was announced as agree, both ways: a
  wanted UID announced over another object's content, or an unwanted UID announced over a
  wanted object's content, are both refused;
- ``0xC210`` *Cannot understand*: the dataset could not be decoded.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Set
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from dicomref._dimse._tls import Tls
from dicomref._dimse._tuning import tune_receiver
from dicomref.errors import RemoteError
from dicomref.remote.transport._header import header
from dicomref.remote.transport._mismatch import Mismatch, mismatch_of
from dicomref.remote.transport._part10 import file_header
from dicomref.store import fsync_folder

LOGGER = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_NOT_REQUESTED = 0x0124
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC210

StoreCallback = Callable[[Dataset], None]
"""Takes one received dataset (with its ``file_meta``); raising makes it a failed
sub-operation (status 0xA700), recorded with the reason."""

#: How often the storage SCP's accept loop looks for a stop request (seconds): pynetdicom's
#: default of 0.5 s made every fetch that used C-MOVE wait up to that long at its end.
ACCEPT_POLL = 0.02


@runtime_checkable
class FileStore(Protocol):
    """A store callback that can take an object as the file it arrived as."""

    def __call__(self, dataset: Dataset) -> None: ...

    def store_file(self, dataset: Dataset, data: bytes) -> None:
        """Keep ``data`` (a complete DICOM file) for ``dataset`` (decoded from it)."""


_DECODE_ERRORS = (InvalidDicomError, ValueError, TypeError, KeyError, EOFError, AttributeError)


def uid_filename(uid: str) -> str:
    """A file name for an object that does not contain the raw UID (``<sha256>.dcm``)."""
    return hashlib.sha256(uid.encode("ascii", "replace")).hexdigest()[:40] + ".dcm"


class FolderWriter:
    """The default :data:`StoreCallback`: writes each dataset into ``folder`` as a DICOM file
    named by :func:`uid_filename`, through a temporary file renamed into place (a reader
    never sees a half-written file; a crash leaves at most a hidden ``.*.part`` file).

    ``written`` maps each SOP Instance UID to its path.  Safe to call from several threads.
    """

    def __init__(self, folder: Path, *, fsync: bool = True) -> None:
        self.folder = folder
        self.fsync = fsync
        self._written: dict[str, Path] = {}
        self._lock = threading.Lock()

    @property
    def written(self) -> dict[str, Path]:
        with self._lock:
            return dict(self._written)

    def path_for(self, uid: str) -> Path:
        return self.folder / uid_filename(uid)

    def __call__(self, dataset: Dataset) -> None:
        uid = str(dataset.SOPInstanceUID)
        target = self.path_for(uid)
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".part")
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as stream:
                dcmwrite(stream, dataset, enforce_file_format=True)
                stream.flush()
                if self.fsync:
                    os.fsync(stream.fileno())
            temp.replace(target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        if self.fsync:
            fsync_folder(self.folder)
        with self._lock:
            self._written[uid] = target


class StoreSink:
    """Collects the C-STORE sub-operations of one retrieve.

    ``expected``, when given, is the set of SOP Instance UIDs asked for: anything else is
    refused (status 0x0124) and counted in ``unexpected``.  ``received`` are the UIDs the
    callback took; ``local_failures`` maps UIDs to why the callback or decoding failed.
    """

    def __init__(self, callback: StoreCallback, expected: Set[str] | None = None) -> None:
        self.callback = callback
        self.expected = frozenset(expected) if expected is not None else None
        self._lock = threading.Lock()
        self._received: set[str] = set()
        self._unexpected: set[str] = set()
        self._failures: dict[str, str] = {}
        self._mismatched: list[Mismatch] = []

    @property
    def takes_files(self) -> bool:
        """Whether the callback keeps objects as the files they arrived as (then only
        their headers are read here, not whole data sets)."""
        return isinstance(self.callback, FileStore)

    @property
    def received(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._received)

    @property
    def unexpected(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._unexpected)

    @property
    def local_failures(self) -> dict[str, str]:
        with self._lock:
            return dict(self._failures)

    @property
    def mismatched(self) -> tuple[Mismatch, ...]:
        """Objects refused because they were not what their request announced."""
        with self._lock:
            return tuple(self._mismatched)

    @property
    def arrivals(self) -> int:
        """How many C-STORE requests reached this sink (taken, refused or failed)."""
        with self._lock:
            taken = len(self._received) + len(self._unexpected) + len(self._failures)
            return taken + len(self._mismatched)

    def offer(
        self,
        dataset: Dataset,
        request_uid: str,
        file: Callable[[], bytes] | None = None,
        request_class: str = "",
    ) -> int | Dataset:
        """Hand one dataset to the callback unless it is not what its request announced
        (``request_uid``, ``request_class``) or was not asked for; the status to send.

        ``file`` gives the object as received (a complete DICOM file), for a
        :class:`FileStore` callback."""
        mismatch = mismatch_of(dataset, request_uid, request_class) if request_uid else None
        if mismatch is not None:
            LOGGER.warning("refused an object: %s", mismatch.describe())
            with self._lock:
                self._mismatched.append(mismatch)
            tell = getattr(self.callback, "on_mismatch", None)
            if callable(tell):
                tell(mismatch)
            return mismatch.status()
        uid = str(dataset.get("SOPInstanceUID", "") or request_uid)
        if self.expected is not None and uid not in self.expected:
            LOGGER.warning("refused an object that was not asked for: SOP Instance %s", uid)
            with self._lock:
                self._unexpected.add(uid)
            return STATUS_NOT_REQUESTED
        try:
            if file is not None and isinstance(self.callback, FileStore):
                self.callback.store_file(dataset, file())
            else:
                self.callback(dataset)
        except Exception as exc:  # noqa: BLE001 - any callback failure is a failed sub-operation
            LOGGER.error("could not keep SOP Instance %s: %s", uid, exc)
            with self._lock:
                self._failures[uid] = f"{type(exc).__name__}: {exc}"
            return STATUS_OUT_OF_RESOURCES
        with self._lock:
            self._received.add(uid)
        return STATUS_SUCCESS

    def fail(self, uid: str, reason: str) -> None:
        with self._lock:
            self._failures[uid] = reason


def handle_store_event(event: Event, sink: StoreSink | None) -> int | Dataset:
    """Answer one pynetdicom ``EVT_C_STORE`` event by offering its dataset to ``sink``."""
    request_uid = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
    request_class = str(getattr(event.request, "AffectedSOPClassUID", "") or "")
    if sink is None:
        LOGGER.warning("refused SOP Instance %s: no retrieve is in progress", request_uid)
        return STATUS_NOT_REQUESTED
    if sink.takes_files:  # kept as received: its header is all that is read
        data = as_file(event)
        try:
            head = header(data)
        except ValueError as exc:
            LOGGER.error("could not read SOP Instance %s: %s", request_uid, exc)
            sink.fail(request_uid, f"could not decode the dataset: {exc}")
            return STATUS_CANNOT_UNDERSTAND
        return sink.offer(head, request_uid, lambda: data, request_class)
    try:
        dataset: Dataset = event.dataset
        dataset.file_meta = event.file_meta
    except _DECODE_ERRORS as exc:
        LOGGER.error("could not decode SOP Instance %s: %s", request_uid, exc)
        sink.fail(request_uid, f"could not decode the dataset: {exc}")
        return STATUS_CANNOT_UNDERSTAND
    return sink.offer(dataset, request_uid, request_class=request_class)


def as_file(event: Event) -> bytes:
    """The object of a C-STORE event as a DICOM file: its data set's bytes as received,
    after a file header encoded by hand (:mod:`._part10`: what pynetdicom's
    ``encoded_dataset()`` gives, without its ~1 ms of pydicom per object)."""
    request = event.request
    data = getattr(request, "DataSet", None)
    sop_class = getattr(request, "AffectedSOPClassUID", None)
    sop = getattr(request, "AffectedSOPInstanceUID", None)
    if data is None or not sop_class or not sop:
        return bytes(event.encoded_dataset())
    try:
        header = file_header(str(sop_class), str(sop), str(event.context.transfer_syntax))
    except UnicodeEncodeError:  # UIDs that are not ASCII: pynetdicom's way says what is wrong
        return bytes(event.encoded_dataset())
    return header + bytes(data.getvalue())


def listen_address(host: str) -> str:
    """The local address to receive C-MOVE objects on, for a server at ``host``.

    Loopback for a server on loopback; otherwise the address of the interface that routes
    to ``host`` (no packet is sent), or all interfaces ("") if that cannot be told.
    """
    if host.lower() in ("localhost", "localhost.localdomain"):
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return str(address) if address.version == 6 else "127.0.0.1"
    family = socket.AF_INET6 if address is not None and address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 104))
            return str(probe.getsockname()[0])
    except OSError:
        return ""


class StoreReceiver:
    """A storage SCP for C-MOVE destinations: AE ``ae_title`` listening on ``host:port``
    (port 0 picks a free one; see ``port`` once started).

    Objects are dispatched to the sink installed with :meth:`collect`; with none installed
    they are refused.  Only associations addressed to ``ae_title`` are accepted.
    """

    def __init__(
        self,
        ae_title: str,
        host: str,
        port: int,
        *,
        node: str,
        timeouts: tuple[float, float, float] = (30.0, 60.0, 60.0),
        tls: Tls | None = None,
    ) -> None:
        self.ae_title = ae_title
        self.host = host
        self.requested_port = port
        self.node = node
        self._acse, self._dimse, self._network = timeouts
        self.tls = tls  # listen with TLS (see ._tls_receive)
        self._ae: AE | None = None
        self._server: ThreadedAssociationServer | None = None
        self._sink: StoreSink | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the store receiver is not running")
        return int(self._server.server_address[1])

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = self._acse
        ae.dimse_timeout = self._dimse
        ae.network_timeout = self._network
        ae.require_called_aet = True
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        handlers: list[EventHandlerType] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_CONN_OPEN, tune_receiver),
        ]
        secure: dict[str, Any] = {}
        if self.tls is not None:
            from dicomref.remote.transport._tls_receive import HandshakingServer, receiver_context

            secure = {
                "server_class": HandshakingServer,
                "tls": receiver_context(self.tls, self.node),
                "handshake_timeout": self._acse,
            }
        try:
            server = ae.make_server(
                (self.host, self.requested_port), evt_handlers=handlers, **secure
            )
        except OSError as exc:
            where = f"{self.host or '*'}:{self.requested_port}"
            raise RemoteError(
                self.node,
                f"cannot receive C-MOVE objects as {self.ae_title} on {where}: {exc}",
            ) from exc
        # what ae.start_server(block=False) does, with a shorter poll: see ACCEPT_POLL
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": ACCEPT_POLL},
            name=f"StoreReceiver@{self.ae_title}",
            daemon=True,
        )
        thread.start()
        ae._servers.append(server)
        self._server = server
        self._ae = ae
        LOGGER.debug("storage SCP %s listening on %s:%d", self.ae_title, self.host, self.port)

    def stop(self) -> None:
        ae, self._ae, self._server = self._ae, None, None
        if ae is not None:
            ae.shutdown()

    @contextlib.contextmanager
    def collect(self, sink: StoreSink) -> Iterator[StoreSink]:
        """Send every object that arrives to ``sink`` until the block ends."""
        with self._lock:
            if self._sink is not None:
                raise RuntimeError("another retrieve is already collecting objects")
            self._sink = sink
        try:
            yield sink
        finally:
            with self._lock:
                self._sink = None

    def _on_store(self, event: Event) -> int | Dataset:
        with self._lock:
            sink = self._sink
        return handle_store_event(event, sink)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
