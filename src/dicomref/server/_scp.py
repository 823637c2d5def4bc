"""The server: a pynetdicom AE offering Verification, Patient/Study Root Q/R (FIND, MOVE,
GET) and Storage, with the handlers of this package bound to it.

Each association runs in its own pynetdicom thread; reads go to the catalog concurrently,
writes through the one :class:`~dicomref.server._ingest.Indexer` thread.  pynetdicom's
own log is kept quiet (its outcomes are logged here) unless ``dicomref.remote`` logs at
DEBUG (``-vv``).  Log lines name AE titles, addresses, levels, counts and UIDs — never
patient names or IDs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import EventHandlerType

from dicomref._dimse._contexts import COMMAND_SYNTAXES, QUERY_MODELS, VERIFICATION
from dicomref._dimse._tuning import quiet_pynetdicom
from dicomref.catalog import Catalog
from dicomref.errors import ServerError
from dicomref.extraction import ReadLimits
from dicomref.server._access import AccessPolicy
from dicomref.server._config import ServerConfig
from dicomref.server._events import calling_ae, peer
from dicomref.server._find import FindService
from dicomref.server._gate import GateLimits
from dicomref.server._ingest import Indexer
from dicomref.server._listener import GatedServer, end_all, start_gated
from dicomref.server._retrieve import RetrieveService
from dicomref.server._sink import RefusalSink
from dicomref.server._store import StoreService
from dicomref.server._tuning import share_uids, tune_acceptor
from dicomref.store import ManagedStore

LOGGER = logging.getLogger(__name__)
_QUERY_SYNTAXES: Final = [*COMMAND_SYNTAXES, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian]
_MODELS: Final = frozenset(str(uid) for uid in QUERY_MODELS.values())
_POLL: Final = 0.05
#: Seconds of the shutdown grace kept for aborting what is left (at most a quarter of it).
_CUT_TIME: Final = 1.0


@dataclass(slots=True)
class _Activity:
    """What one association did, for its closing log line."""

    finds: int = 0
    retrieves: int = 0
    stores: int = 0
    stores_failed: int = 0

    def __str__(self) -> str:
        parts = [f"{self.finds} C-FIND", f"{self.retrieves} C-MOVE/C-GET"]
        if self.stores or self.stores_failed:
            parts.append(f"{self.stores} objects stored, {self.stores_failed} refused")
        return ", ".join(parts)


class Server:
    """The catalog at ``catalog_url`` as a Query/Retrieve SCP, configured by ``config``.

    :meth:`start` binds and returns the port (non-blocking); :meth:`stop` lets in-flight
    associations finish for ``config.shutdown_grace`` seconds, aborts the rest, and closes
    the catalog.  :meth:`serve_forever` blocks until :meth:`request_stop` (safe to call
    from a signal handler).  Also a context manager.
    """

    def __init__(self, config: ServerConfig, catalog_url: str | None = None) -> None:
        self.config = config
        self.catalog_url = catalog_url
        self.policy = AccessPolicy(config.allowed_callers, config.retrievers)
        self._catalog: Catalog | None = None
        self._indexer: Indexer | None = None
        self._storer: StoreService | None = None
        self._ae: AE | None = None
        self._server: GatedServer | None = None
        self._stop_requested = False
        self._lock = threading.Lock()
        self._activity: dict[int, _Activity] = {}
        self._sink = RefusalSink()

    # -- life cycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (once started)."""
        if self._server is None:
            raise ServerError("the server is not running")
        return int(self._server.server_address[1])

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def catalog(self) -> Catalog:
        """The catalog the server reads (once started): the DICOMweb side shares it."""
        if self._catalog is None:
            raise ServerError("the server is not running")
        return self._catalog

    @property
    def store_service(self) -> StoreService:
        """What C-STORE stores through (once started), for other ways in (STOW-RS): the
        same store, the same single indexer, the same rules for duplicates and limits."""
        if self._storer is None:
            raise ServerError("the server is not running")
        return self._storer

    def start(self) -> int:
        """Open the catalog, index the store, start listening; returns the bound port.

        Raises CatalogError for a catalog that cannot be opened, ServerError when the
        address cannot be bound, UsageError for a store path that is a file.
        """
        if self._server is not None:
            return self.port
        quiet_pynetdicom()
        self._stop_requested = False
        catalog = Catalog(self.catalog_url)
        try:
            store = self._open_store(catalog)
            self._sink.start()
            indexer = Indexer(catalog) if store is not None else None
            if indexer is not None:
                indexer.start()
            self._catalog, self._indexer = catalog, indexer
            ae = self._make_ae()
            handlers = self._handlers(store, indexer, catalog)
            address = (self.config.host, self.config.port)
            tls = self.config.tls.server_context() if self.config.tls is not None else None
            try:
                server = start_gated(ae, address, handlers, self._gate_limits(), tls)
            except OSError as exc:
                raise ServerError(
                    f"cannot listen on {self.config.host}:{self.config.port}: "
                    f"{exc.strerror or exc} (choose another --port or --host)"
                ) from exc
            share_uids(server)
        except BaseException:
            self._sink.stop()
            self._close_storage()
            catalog.close()
            self._catalog = None
            raise
        self._ae, self._server = ae, server
        LOGGER.info(
            "serving %s as %s on %s:%d (%s%s%s)",
            catalog,
            self.config.ae_title,
            self.config.host,
            self.port,
            "strict" if self.config.strict else "lenient",
            ", TLS" if tls is not None else "",
            f", storing into {store.root}" if store is not None else ", no C-STORE",
        )
        return self.port

    def _open_store(self, catalog: Catalog) -> ManagedStore | None:
        if self.config.store is None:
            return None
        store = ManagedStore(self.config.store, fsync=self.config.fsync)
        try:
            store.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServerError(f"cannot create the store folder {store.root}: {exc}") from exc
        removed = store.clean()
        if removed:
            LOGGER.info("removed %d partial files left in %s", removed, store.root)
        if self.config.reindex_store:
            report = catalog.scan([store.root], workers=1)
            LOGGER.info(
                "store %s indexed: %d new, %d unchanged, %d failed",
                store.root,
                report.indexed,
                report.unchanged,
                len(report.failed),
            )
        return store

    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to stop (only sets a flag: signal-safe)."""
        self._stop_requested = True

    def serve_forever(self) -> None:
        """Start if needed, serve until :meth:`request_stop`, then :meth:`stop`."""
        self.start()
        try:
            while not self._stop_requested:
                time.sleep(0.2)
        finally:
            self.stop()

    def _gate_limits(self) -> GateLimits:
        config = self.config
        return GateLimits(
            artim=config.artim_timeout,
            per_peer=config.max_peer_connections,
            pending=config.max_pending,
            stall=config.stall_timeout,
        )

    def stop(self) -> None:
        """Stop listening, let associations finish, then abort them and close their
        connections, whatever their peers do: returns within ``config.shutdown_grace``
        seconds (and the catalog closed)."""
        ae, server = self._ae, self._server
        self._ae = self._server = None
        if server is not None and ae is not None:
            grace = self.config.shutdown_grace
            deadline = time.monotonic() + grace
            cut_at = deadline - min(_CUT_TIME, grace / 4)
            server.shutdown()
            while server.active_associations and time.monotonic() < cut_at:
                time.sleep(_POLL)
            left = server.active_associations
            if left:
                LOGGER.warning("stopping: aborting %d association(s) still open", len(left))
                stuck = end_all(server, deadline)
                if stuck:
                    LOGGER.warning("stopping: %d association thread(s) left behind", len(stuck))
        self._sink.stop()
        self._close_storage()
        catalog, self._catalog = self._catalog, None
        self._storer = None
        if catalog is not None:
            catalog.close()
            LOGGER.info("server %s stopped", self.config.ae_title)

    def _close_storage(self) -> None:
        indexer, self._indexer = self._indexer, None
        if indexer is not None:
            indexer.stop()

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

    # -- the AE ----------------------------------------------------------------------------

    def _make_ae(self) -> AE:
        config = self.config
        ae = AE(ae_title=config.ae_title)
        ae.acse_timeout = config.acse_timeout
        ae.dimse_timeout = config.dimse_timeout
        ae.network_timeout = config.network_timeout
        ae.maximum_associations = config.max_associations
        ae.maximum_pdu_size = config.max_pdu
        ae.require_called_aet = config.check_called_ae
        if config.allowed_callers is not None:
            ae.require_calling_aet = sorted(config.allowed_callers)
        ae.add_supported_context(VERIFICATION, _QUERY_SYNTAXES)
        for model in QUERY_MODELS.values():
            ae.add_supported_context(model, _QUERY_SYNTAXES)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(
                    context.abstract_syntax, ALL_TRANSFER_SYNTAXES, scu_role=True, scp_role=True
                )
        return ae

    def _handlers(
        self, store: ManagedStore | None, indexer: Indexer | None, catalog: Catalog
    ) -> list[EventHandlerType]:
        finder = FindService(catalog, self.config.ae_title, strict=self.config.strict)
        sink = self._sink
        retriever = RetrieveService(catalog, self.config, self.policy, lambda: sink.address)
        storer = StoreService(
            catalog, store, indexer, limits=ReadLimits(max_inflated=self.config.max_inflated)
        )
        self._storer = storer

        def on_find(event: Any) -> Iterator[Any]:
            self._record(event).finds += 1
            yield from finder.on_find(event)

        def on_get(event: Any) -> Iterator[Any]:
            self._record(event).retrieves += 1
            yield from retriever.on_get(event)

        def on_move(event: Any) -> Iterator[Any]:
            self._record(event).retrieves += 1
            yield from retriever.on_move(event)

        def on_store(event: Any) -> Any:
            result = storer.on_store(event)
            activity = self._record(event)
            if result == 0:
                activity.stores += 1
            else:
                activity.stores_failed += 1
            return result

        return [
            (evt.EVT_CONN_OPEN, tune_acceptor),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_FIND, on_find),
            (evt.EVT_C_GET, on_get),
            (evt.EVT_C_MOVE, on_move),
            (evt.EVT_C_STORE, on_store),
            (evt.EVT_SOP_EXTENDED, self._on_extended),
            (evt.EVT_ESTABLISHED, self._on_established),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_RELEASED, self._on_ended),
            (evt.EVT_ABORTED, self._on_ended),
        ]

    # -- handlers --------------------------------------------------------------------------

    def _record(self, event: Any) -> _Activity:
        with self._lock:
            return self._activity.setdefault(id(event.assoc), _Activity())

    @staticmethod
    def _on_echo(event: Any) -> int:
        LOGGER.debug("C-ECHO from %s", peer(event))
        return 0x0000

    def _on_extended(self, event: Any) -> dict[UID, bytes]:
        """Grant relational queries and retrieves (byte 1 of the service class application
        information), nothing else; in strict mode grant nothing."""
        if self.config.strict:
            return {}
        granted: dict[UID, bytes] = {}
        for uid, info in dict(event.app_info).items():
            if str(uid) in _MODELS and info:
                granted[UID(str(uid))] = bytes([1 if info[0] == 1 else 0]) + bytes(len(info) - 1)
        return granted

    def _on_established(self, event: Any) -> None:
        if event.assoc.is_acceptor:
            LOGGER.info("association from %s accepted", peer(event))

    def _on_rejected(self, event: Any) -> None:
        if not event.assoc.is_acceptor:
            return
        primitive = event.assoc.requestor.primitive
        called = str(getattr(primitive, "called_ae_title", "") or "").strip()
        reason = self.policy.rejection(
            calling_ae(event),
            called,
            self.config.ae_title,
            check_called=self.config.check_called_ae,
        )
        LOGGER.warning("association from %s to %r rejected: %s", peer(event), called, reason)

    def _on_ended(self, event: Any) -> None:
        if not event.assoc.is_acceptor:
            return
        with self._lock:
            activity = self._activity.pop(id(event.assoc), _Activity())
        how = "released" if event.event is evt.EVT_RELEASED else "aborted"
        LOGGER.info("association from %s %s: %s", peer(event), how, activity)
