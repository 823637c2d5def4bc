"""Talking DIMSE to one server: C-ECHO, C-FIND, C-MOVE and C-GET over one association that
is reused across calls and re-opened when it drops.

pynetdicom is used underneath; nothing of it reaches the caller.  Its outcomes become
dicomref's exceptions here:

- association rejected → :class:`AssociationError` naming the reason ("called AE title not
  recognised"); connection refused or unreachable → :class:`AssociationError`; no TCP
  connection or no answer in time → :class:`RemoteTimeoutError`;
- aborted mid-operation (A-ABORT from the server, or A-P-ABORT: the connection closed)
  → :class:`AssociationError`; no response within the DIMSE timeout (pynetdicom returns an
  empty status and aborts) → :class:`RemoteTimeoutError`;
- a failure status → :class:`StatusError` with the command, the code and its meaning (and
  the server's Error Comment when it sends one).

A successful C-MOVE/C-GET is not proof of anything: some servers answer "success, 0
sub-operations" to a request they cannot serve.  :meth:`RetrieveResult.verify` compares
what arrived with what was asked for.

A client is not thread-safe: one thread talks on one association at a time.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Self, TypeVar

from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom import status as pynetdicom_status
from pynetdicom.association import Association
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.pdu import A_ABORT_RQ

from dicomref._dimse._contexts import (
    QUERY_MODELS,
    STORAGE_CLASSES,
    VERIFICATION,
    requested_contexts,
)
from dicomref._dimse._levels import Level, Root
from dicomref._dimse._node import Node, check_ae_title
from dicomref._dimse._tls_context import describe_failure, handshake_failure
from dicomref._dimse._tuning import quiet_pynetdicom, tune_requestor
from dicomref.errors import (
    AssociationError,
    RemoteError,
    RemoteTimeoutError,
    RetrieveMismatchError,
    StatusError,
    UsageError,
)

from ._receiver import StoreCallback, StoreReceiver, StoreSink, handle_store_event, listen_address

LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
_Response = tuple[Dataset, Dataset | None]


# -- statuses --------------------------------------------------------------------------------------

SUCCESS = 0x0000
PENDING = frozenset({0xFF00, 0xFF01})
CANCEL = 0xFE00
SOP_CLASS_NOT_SUPPORTED = 0x0122
"""Refused: SOP Class not supported (PS3.7 C.5.18); also raised for a refused context."""
_WARNINGS = frozenset({0x0001, 0x0107, 0x0116})

_STATUS_TABLES: Final[dict[str, Mapping[int, tuple[str, str]]]] = {
    "C-ECHO": pynetdicom_status.VERIFICATION_SERVICE_CLASS_STATUS,
    "C-FIND": pynetdicom_status.QR_FIND_SERVICE_CLASS_STATUS,
    "C-MOVE": pynetdicom_status.QR_MOVE_SERVICE_CLASS_STATUS,
    "C-GET": pynetdicom_status.QR_GET_SERVICE_CLASS_STATUS,
    "C-STORE": pynetdicom_status.STORAGE_SERVICE_CLASS_STATUS,
}
_GENERAL_STATUS: Final[Mapping[int, tuple[str, str]]] = pynetdicom_status.GENERAL_STATUS


def is_warning(code: int) -> bool:
    return code in _WARNINGS or 0xB000 <= code <= 0xBFFF


def is_failure(code: int) -> bool:
    return code != SUCCESS and code not in PENDING and not is_warning(code)


def status_meaning(command: str, code: int) -> str:
    """What a status code means for ``command`` (PS3.4/PS3.7), in words."""
    entry = _STATUS_TABLES.get(command, {}).get(code) or _GENERAL_STATUS.get(code)
    if entry is not None:
        category, description = str(entry[0]), str(entry[1])
        return description or category
    if 0xC000 <= code <= 0xCFFF:
        return "Unable to process"
    if 0xA700 <= code <= 0xA7FF:
        return "Refused: out of resources"
    if 0xA900 <= code <= 0xA9FF:
        return "Identifier does not match SOP class"
    return "unknown status"


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetrieveResult:
    """What a C-MOVE or C-GET did, as reported by the server and as seen here.

    ``completed``/``failed``/``warning``/``remaining`` are the server's sub-operation counts
    (from its final response, else its last pending one).  ``received`` are the SOP Instance
    UIDs that actually arrived and were kept; ``unexpected`` those that arrived unasked-for
    and were refused; ``local_failures`` those that arrived but could not be kept (UID →
    reason).  ``destination`` is the AE a C-MOVE sent to when that is not us: then nothing
    is seen here and only the counts can be checked.
    """

    node: str
    command: str
    status: int
    completed: int
    failed: int
    warning: int
    remaining: int
    received: frozenset[str]
    unexpected: frozenset[str] = frozenset()
    local_failures: tuple[tuple[str, str], ...] = ()
    failed_sop_instances: frozenset[str] = frozenset()
    destination: str | None = None

    @property
    def observed(self) -> bool:
        """True when the objects came to us (``received`` is meaningful)."""
        return self.destination is None

    @property
    def status_meaning(self) -> str:
        return status_meaning(self.command, self.status)

    def verify(self, expected: Set[str]) -> None:
        """Raise RetrieveMismatchError unless exactly ``expected`` arrived.

        That includes a server's "success, 0 sub-operations, nothing sent" answer to a
        request it did not serve.  For a C-MOVE to another AE only the counts are compared.
        """
        wanted = frozenset(expected)
        counts = (
            f"server reported status 0x{self.status:04X} ({self.status_meaning}), "
            f"{self.completed} completed, {self.failed} failed, {self.warning} warning "
            "sub-operations"
        )
        if not self.observed:
            if self.completed + self.warning >= len(wanted) and self.failed == 0:
                return
            raise RetrieveMismatchError(
                self.node,
                f"{self.command} to {self.destination}: {len(wanted)} objects asked for; {counts}",
                missing=self.failed_sop_instances & wanted,
            )
        missing = wanted - self.received
        unexpected = self.unexpected | (self.received - wanted)
        if not missing and not unexpected:
            return
        nothing_done = (
            self.completed == 0 and self.failed == 0 and self.warning == 0 and not self.received
        )
        if nothing_done and not is_failure(self.status):
            problem = (
                f"{self.command} answered with status 0x{self.status:04X} and 0 sub-operations "
                f"but sent none of the {len(wanted)} objects asked for: the server did not "
                "serve this identifier (a lenient server ignores what it cannot match; "
                "send the Study/Series keys above the level)"
            )
        else:
            parts = [f"{len(wanted) - len(missing)} of {len(wanted)} objects asked for arrived"]
            if missing:
                parts.append(f"missing: {_sample(missing)}")
            if unexpected:
                parts.append(f"{len(unexpected)} arrived unasked-for: {_sample(unexpected)}")
            failures = dict(self.local_failures)
            if failures:
                uid_, reason = next(iter(sorted(failures.items())))
                parts.append(f"{len(failures)} could not be kept (first: {uid_}: {reason})")
            problem = f"{self.command}: " + "; ".join(parts) + f"; {counts}"
        raise RetrieveMismatchError(
            self.node, problem, missing=missing, unexpected=frozenset(unexpected)
        )


def _sample(uids: Set[str], limit: int = 3) -> str:
    shown = sorted(uids)[:limit]
    more = f" and {len(uids) - limit} more" if len(uids) > limit else ""
    return ", ".join(shown) + more


@dataclass(slots=True)
class _Counts:
    completed: int = 0
    failed: int = 0
    warning: int = 0
    remaining: int = 0

    def update(self, status: Dataset, *, final: bool) -> None:
        """Take the counts a response carries; a final one without a remaining count
        means 0 remaining."""
        if final:
            self.remaining = 0
        for name, keyword in (
            ("completed", "NumberOfCompletedSuboperations"),
            ("failed", "NumberOfFailedSuboperations"),
            ("warning", "NumberOfWarningSuboperations"),
            ("remaining", "NumberOfRemainingSuboperations"),
        ):
            value = status.get(keyword)
            if value is not None and value != "":
                setattr(self, name, int(value))


# -- watching an association -----------------------------------------------------------------------

_END_EVENTS = {
    "Evt15": "we aborted",
    "Evt16": "the server sent A-ABORT",
    "Evt17": "the connection closed",
    "Evt18": "ARTIM timer expired",
    "Evt19": "invalid PDU",
}
_END_GRACE = 1.0
"""Seconds to wait for pynetdicom's thread to report how an association ended."""

_ABORT_SOURCES = {0: "service user", 1: "reserved", 2: "service provider"}


@dataclass(slots=True)
class _Watch:
    """What pynetdicom's threads report about one association (set from those threads).

    It watches the association's state machine and the PDUs it reads through two methods
    of that association's own objects, wrapped when the connection opens
    (:meth:`attach`), rather than through pynetdicom's EVT_FSM_TRANSITION and
    EVT_PDU_RECV: pynetdicom builds an event object for each handler of those at every
    PDU, and a C-GET of 60 CT slices from a server sending 16 KB PDUs reads 2,100 of them
    (measured here: 20-40 ms of ~300).
    """

    connected: bool = False
    handshake: str | None = None
    end_event: str | None = None
    abort_detail: str = ""
    ended: threading.Event = field(default_factory=threading.Event)

    def attach(self, event: Event) -> None:
        """EVT_CONN_OPEN handler: start watching the association that opened."""
        self.connected = True
        dul = getattr(event.assoc, "dul", None)
        machine = getattr(dul, "state_machine", None)
        act = getattr(machine, "do_action", None)
        decode = getattr(dul, "_decode_pdu", None)
        if act is None or decode is None:  # not the pynetdicom this was written for
            raise RuntimeError("pynetdicom's DUL has no state machine to watch")

        def do_action(fsm_event: str) -> None:
            act(fsm_event)  # what raises here is pynetdicom's, as without the watch
            self.saw(fsm_event)

        def decode_pdu(stream: bytearray) -> tuple[object, str]:
            pdu, fsm_event = decode(stream)
            if isinstance(pdu, A_ABORT_RQ):
                self.aborted(pdu)
            return pdu, fsm_event

        machine.do_action = do_action  # type: ignore[union-attr]
        dul._decode_pdu = decode_pdu  # type: ignore[union-attr]

    def saw(self, name: str) -> None:
        """The state machine went through event ``name`` (``"Evt3"``, ...)."""
        if name in ("Evt3", "Evt4"):
            self.handshake = name
        elif name in _END_EVENTS and self.end_event is None:
            self.end_event = name
            self.ended.set()

    def aborted(self, pdu: A_ABORT_RQ) -> None:
        source = _ABORT_SOURCES.get(int(pdu.source or 0), "unknown")
        self.abort_detail = f"source: {source}, reason {pdu.reason_diagnostic}"


_REJECT_REASONS: Final[dict[tuple[int, int], str]] = {
    (1, 1): "no reason given",
    (1, 2): "application context name not supported",
    (1, 3): "calling AE title not recognised",
    (1, 7): "called AE title not recognised",
    (2, 1): "no reason given (by the ACSE provider)",
    (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion",
    (3, 2): "local limit exceeded",
}


# -- the client ------------------------------------------------------------------------------------


class DimseClient:
    """One association with ``node``, opened on first use, reused, re-opened if it drops.

    Use as a context manager (or call :meth:`close`): it releases the association and stops
    the storage SCP that receives C-MOVE objects.
    """

    def __init__(self, node: Node) -> None:
        quiet_pynetdicom()
        self.node = node
        self._label = str(node)
        self._assoc: Association | None = None
        self._watch = _Watch()
        self._uses = 0
        self._progress = 0
        self._last_activity = time.monotonic()
        self._get_sink: StoreSink | None = None
        self._receiver: StoreReceiver | None = None
        self._opened = 0
        self._tls = node.tls.client_context() if node.tls is not None else None
        self._ae = self._make_ae()

    @property
    def associations_opened(self) -> int:
        """How many associations this client has established so far (re-opens included)."""
        return self._opened

    # -- public operations -------------------------------------------------------------------------

    def echo(self) -> None:
        """C-ECHO: raises unless the server answers with success."""

        def run(assoc: Association) -> None:
            self._require_context(assoc, VERIFICATION, "C-ECHO")
            status = self._call("C-ECHO", lambda: assoc.send_c_echo())
            code = self._status_code("C-ECHO", status)
            if code != SUCCESS:
                raise self._status_error("C-ECHO", code, status)

        self._with_association("C-ECHO", run)

    def find(
        self, level: Level | str, identifier: Dataset, root: Root | str = Root.STUDY
    ) -> list[Dataset]:
        """C-FIND at ``level``: every matching identifier the server returned.

        ``identifier`` is not changed (a copy gets QueryRetrieveLevel).  Pending responses
        with warnings (0xFF01) are kept; a failure status raises StatusError.
        """
        query, model = self._request(identifier, level, root, "C-FIND")

        def run(assoc: Association) -> list[Dataset]:
            self._require_context(assoc, model, "C-FIND")
            rows: list[Dataset] = []
            for code, status, found in self._responses(
                "C-FIND", lambda: assoc.send_c_find(query, model)
            ):
                if code in PENDING:
                    if found is not None:
                        rows.append(found)
                    continue
                if code == SUCCESS or is_warning(code):
                    if code != SUCCESS:
                        LOGGER.info("%s: C-FIND ended with warning 0x%04X", self._label, code)
                    return rows
                raise self._status_error("C-FIND", code, status)
            raise self._lost("C-FIND")

        return self._with_association("C-FIND", run)

    def move(
        self,
        identifier: Dataset,
        level: Level | str,
        destination_ae: str | None = None,
        *,
        root: Root | str = Root.STUDY,
        on_store: StoreCallback | None = None,
        expected: Set[str] | None = None,
    ) -> RetrieveResult:
        """C-MOVE at ``level`` to ``destination_ae`` (None: to us, ``node.our_ae``).

        Objects sent to us are received by a storage SCP on ``node.store_port`` and handed to
        ``on_store`` (required then; e.g. :class:`FolderWriter`).  With ``expected`` set,
        objects not in it are refused.  Call ``verify()`` on the result.
        """
        query, model = self._request(identifier, level, root, "C-MOVE")
        destination = (
            check_ae_title(destination_ae, "move destination")
            if destination_ae is not None
            else self.node.our_ae
        )
        to_us = destination == self.node.our_ae
        if to_us and on_store is None:
            raise UsageError(
                f"a C-MOVE to {destination} (us) needs on_store, e.g. FolderWriter(folder)"
            )
        if not to_us and (on_store is not None or expected is not None):
            raise UsageError(
                f"on_store/expected apply only to objects sent to us ({self.node.our_ae}), "
                f"not to {destination}"
            )
        sink = StoreSink(on_store, expected) if on_store is not None and to_us else None

        def run(assoc: Association) -> RetrieveResult:
            self._require_context(assoc, model, "C-MOVE")
            collecting = (
                self._move_receiver().collect(sink)
                if sink is not None
                else contextlib.nullcontext()
            )
            with collecting:
                return self._retrieve(
                    "C-MOVE",
                    lambda: assoc.send_c_move(query, destination, model),
                    sink,
                    None if to_us else destination,
                )

        return self._with_association("C-MOVE", run, sink)

    def get(
        self,
        identifier: Dataset,
        level: Level | str,
        on_store: StoreCallback,
        *,
        root: Root | str = Root.STUDY,
        expected: Set[str] | None = None,
    ) -> RetrieveResult:
        """C-GET at ``level``: objects arrive on this association and go to ``on_store``.

        With ``expected`` set, objects not in it are refused.  Call ``verify()`` on the result.
        """
        query, model = self._request(identifier, level, root, "C-GET")
        sink = StoreSink(on_store, expected)

        def run(assoc: Association) -> RetrieveResult:
            self._require_context(assoc, model, "C-GET")
            self._get_sink = sink
            try:
                return self._retrieve("C-GET", lambda: assoc.send_c_get(query, model), sink, None)
            finally:
                self._get_sink = None

        return self._with_association("C-GET", run, sink)

    def close(self, *, abort: bool = False) -> None:
        """Release the association (abort it if the release fails) and stop receiving.

        ``abort``: abort at once, for an association an interruption (Ctrl-C) may have left
        in the middle of an operation, whose peer would answer no A-RELEASE (the release
        would wait out the ACSE timeout)."""
        assoc, self._assoc = self._assoc, None
        if assoc is not None and assoc.is_established:
            if not abort:
                assoc.release()
            if not assoc.is_released:
                assoc.abort()
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(abort=exc is not None and not isinstance(exc, Exception))

    def __repr__(self) -> str:
        state = "open" if self._is_open() else "closed"
        return f"<DimseClient {self._label} {state}>"

    # -- association -------------------------------------------------------------------------------

    def _make_ae(self) -> AE:
        timeouts = self.node.timeouts
        ae = AE(ae_title=self.node.our_ae)
        ae.connection_timeout = timeouts.connect
        ae.acse_timeout = timeouts.acse
        ae.dimse_timeout = timeouts.dimse
        ae.network_timeout = timeouts.network
        for abstract, syntaxes in requested_contexts():
            ae.add_requested_context(abstract, list(syntaxes))
        return ae

    def _is_open(self) -> bool:
        return self._assoc is not None and bool(self._assoc.is_established)

    def _association(self) -> Association:
        if self._assoc is not None and self._assoc.is_established:
            return self._assoc
        self._drop()
        watch = _Watch()
        handlers: list[EventHandlerType] = [
            (evt.EVT_C_STORE, self._on_get_store),
            (evt.EVT_CONN_OPEN, tune_requestor),
            (evt.EVT_CONN_OPEN, watch.attach),
        ]
        LOGGER.debug("%s: requesting an association as %s", self._label, self.node.our_ae)
        tls_args = None
        if self._tls is not None and self.node.tls is not None:
            tls_args = (self._tls, self.node.tls.server_hostname or self.node.host)
            handshake_failure(self._tls)  # forget an earlier one
        try:
            assoc = self._ae.associate(
                self.node.host,
                self.node.port,
                ae_title=self.node.ae_title,
                ext_neg=[build_role(c, scp_role=True) for c in STORAGE_CLASSES],
                evt_handlers=handlers,
                tls_args=tls_args,
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise AssociationError(self._label, f"cannot request an association: {exc}") from exc
        if not assoc.is_established:
            raise self._association_failure(assoc, watch)
        self._assoc, self._watch, self._uses = assoc, watch, 0
        self._opened += 1
        return assoc

    def _association_failure(self, assoc: Association, watch: _Watch) -> RemoteError:
        if assoc.is_rejected:
            primitive = assoc.acceptor.primitive
            result = int(primitive.result or 0) if primitive is not None else 0
            source = int(primitive.result_source or 0) if primitive is not None else 0
            diagnostic = int(primitive.diagnostic or 0) if primitive is not None else 0
            reason = _REJECT_REASONS.get((source, diagnostic), f"reason {source}/{diagnostic}")
            lasting = "permanently" if result == 1 else "for now (transient)"
            hint = ""
            if (source, diagnostic) == (1, 7):
                hint = f": is {self.node.ae_title!r} the server's AE title?"
            elif (source, diagnostic) == (1, 3):
                hint = f": the server must be told about our AE title {self.node.our_ae!r}"
            return AssociationError(
                self._label, f"the server rejected the association {lasting}: {reason}{hint}"
            )
        if not watch.connected:
            failure = handshake_failure(self._tls) if self._tls is not None else None
            if failure is not None:
                return self._tls_failure(failure)
            return self._connect_failure()
        if watch.handshake is None:
            watch.ended.wait(_END_GRACE)
        if watch.handshake == "Evt3" and not assoc.accepted_contexts:
            return AssociationError(
                self._label,
                "the server accepted the association but none of the proposed presentation "
                "contexts",
            )
        if watch.end_event == "Evt16":
            detail = f" ({watch.abort_detail})" if watch.abort_detail else ""
            return AssociationError(
                self._label, f"the server aborted the association request{detail}"
            )
        if watch.end_event in ("Evt17", "Evt19"):
            hint = "is this port a DICOM server? does it require TLS (--tls-ca, tls in nodes.toml)?"
            if self.node.tls is not None and self.node.tls.cert is None:
                hint = "does the server require a client certificate (--tls-cert, --tls-key)?"
            elif self.node.tls is not None:
                hint = "does the server trust the CA that signed our certificate (--tls-cert)?"
            return AssociationError(
                self._label,
                f"the connection closed before the association was accepted ({hint})",
            )
        return RemoteTimeoutError(
            self._label,
            f"no answer to the association request within {self.node.timeouts.acse:g} s",
        )

    def _tls_failure(self, failure: ssl.SSLError) -> AssociationError:
        where = f"{self.node.host}:{self.node.port}"
        hint = ""
        if isinstance(failure, ssl.SSLCertVerificationError):
            hint = (
                " (is the server's certificate signed by the CA given as --tls-ca or tls.ca, "
                "and does it name the host we connect to?)"
            )
        elif "wrong version" in str(failure).lower() or "record layer" in str(failure).lower():
            hint = " (does this port talk TLS? it answered something else)"
        return AssociationError(
            self._label, f"TLS handshake with {where} failed: {describe_failure(failure)}{hint}"
        )

    def _connect_failure(self) -> RemoteError:
        """Why the TCP connection failed (pynetdicom only logs it): try once more to tell."""
        timeout = self.node.timeouts.connect
        try:
            with socket.create_connection((self.node.host, self.node.port), timeout=timeout):
                reason = "the connection failed (it works now: the server may be starting)"
        except TimeoutError:
            return RemoteTimeoutError(
                self._label,
                f"no TCP connection to {self.node.host}:{self.node.port} within {timeout:g} s",
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
        return AssociationError(
            self._label, f"cannot connect to {self.node.host}:{self.node.port}: {reason}"
        )

    def _drop(self) -> None:
        """Forget the current association, aborting it if it is still up."""
        assoc, self._assoc = self._assoc, None
        if assoc is not None and assoc.is_established:
            assoc.abort()

    def _with_association(
        self, command: str, operation: Callable[[Association], T], sink: StoreSink | None = None
    ) -> T:
        """Run ``operation`` on the association; if a reused association turns out to have
        been dropped by the server before anything happened, re-open it once and retry."""
        for attempt in (1, 2):
            reused = self._is_open() and self._uses > 0
            assoc = self._association()
            self._uses += 1
            self._progress = 0
            self._last_activity = time.monotonic()
            try:
                return operation(assoc)
            except AssociationError:
                self._drop()
                stale = (
                    reused
                    and self._progress == 0
                    and (sink is None or sink.arrivals == 0)
                    and self._watch.end_event in ("Evt16", "Evt17")
                )
                if attempt == 1 and stale:
                    LOGGER.debug("%s: association dropped while idle; re-opening", self._label)
                    continue
                raise
            except RemoteTimeoutError:
                self._drop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _require_context(self, assoc: Association, abstract: uid.UID, command: str) -> None:
        """A :class:`StatusError` with 0x0122 (SOP class not supported) when the server
        refused the presentation context: what it would answer to the request itself."""
        if any(cx.abstract_syntax == abstract for cx in assoc.accepted_contexts):
            return
        raise StatusError(
            self._label,
            command,
            SOP_CLASS_NOT_SUPPORTED,
            f"the server does not support {abstract.name}: it refused that presentation context",
        )

    # -- messages ----------------------------------------------------------------------------------

    def _request(
        self, identifier: Dataset, level: Level | str, root: Root | str, command: str
    ) -> tuple[Dataset, uid.UID]:
        """A copy of ``identifier`` with QueryRetrieveLevel set, and the information model."""
        try:
            level = Level(str(level).upper())
        except ValueError:
            levels = ", ".join(Level)
            raise UsageError(f"query level {level!r} is not one of {levels}") from None
        try:
            root = Root(str(root).lower())
        except ValueError:
            roots = ", ".join(Root)
            raise UsageError(f"query root {root!r} is not one of {roots}") from None
        if level is Level.PATIENT and root is not Root.PATIENT:
            raise UsageError("the PATIENT level exists only in the patient root (root='patient')")
        query = copy.deepcopy(identifier)
        query.QueryRetrieveLevel = str(level)
        return query, QUERY_MODELS[(root, command)]

    def _call(self, command: str, send: Callable[[], T]) -> T:
        try:
            return send()
        except ValueError as exc:
            raise UsageError(f"{self._label}: {command}: cannot send the request: {exc}") from exc
        except RuntimeError as exc:
            raise AssociationError(self._label, f"{command}: {exc}") from exc

    def _responses(
        self, command: str, send: Callable[[], Iterator[_Response]]
    ) -> Iterator[tuple[int, Dataset, Dataset | None]]:
        """(status code, status, identifier) for each response; raises when none comes."""
        responses = self._call(command, send)
        while True:
            item = self._call(command, lambda: next(responses, None))
            if item is None:
                raise self._lost(command)
            status, identifier = item
            code = self._status_code(command, status)
            self._progress += 1
            self._last_activity = time.monotonic()
            yield code, status, identifier

    def _status_code(self, command: str, status: Dataset | None) -> int:
        if status is None or "Status" not in status:
            raise self._lost(command)
        return int(status.Status)

    def _lost(self, command: str) -> RemoteError:
        """The error for a missing response: the association was aborted, closed or timed out."""
        watch = self._watch
        watch.ended.wait(_END_GRACE)
        end = watch.end_event
        if end == "Evt16":
            detail = f"; {watch.abort_detail}" if watch.abort_detail else ""
            return AssociationError(
                self._label, f"{command}: the server aborted the association (A-ABORT{detail})"
            )
        if end == "Evt17":
            return AssociationError(
                self._label,
                f"{command}: the connection closed mid-operation (A-P-ABORT): the server "
                "stopped, crashed or dropped the association",
            )
        if end == "Evt19":
            return AssociationError(
                self._label, f"{command}: the server sent an invalid PDU; association aborted"
            )
        dimse = self.node.timeouts.dimse
        if time.monotonic() - self._last_activity >= dimse * 0.9:
            return RemoteTimeoutError(
                self._label,
                f"{command}: no response within {dimse:g} s (DIMSE timeout); association aborted",
            )
        return AssociationError(
            self._label,
            f"{command}: the server sent an invalid or unexpected response; association aborted",
        )

    def _status_error(self, command: str, code: int, status: Dataset) -> StatusError:
        meaning = status_meaning(command, code)
        comment = status.get("ErrorComment")
        if comment:
            meaning += f"; the server says: {str(comment).strip()}"
        offending = status.get("OffendingElement")
        if offending:
            meaning += f"; offending element(s): {offending}"
        if command == "C-MOVE" and code == 0xA801:
            meaning += (
                "; check that the server knows the destination AE title with its host and "
                "port (pynetdicom's qrscp also answers this to identifiers it cannot serve)"
            )
        return StatusError(self._label, command, code, meaning)

    # -- retrieves ---------------------------------------------------------------------------------

    def _retrieve(
        self,
        command: str,
        send: Callable[[], Iterator[_Response]],
        sink: StoreSink | None,
        destination: str | None,
    ) -> RetrieveResult:
        counts = _Counts()
        for code, status, identifier in self._responses(command, send):
            counts.update(status, final=code not in PENDING)
            if code in PENDING:
                continue
            if code == CANCEL or is_failure(code):
                error = self._status_error(command, code, status)
                received = len(sink.received) if sink is not None else 0
                LOGGER.debug(
                    "%s; %d completed, %d failed, %d objects received",
                    error,
                    counts.completed,
                    counts.failed,
                    received,
                )
                raise error
            failed_uids: frozenset[str] = frozenset()
            if identifier is not None and "FailedSOPInstanceUIDList" in identifier:
                value = identifier.FailedSOPInstanceUIDList
                items = value if isinstance(value, list | tuple) else [value]
                failed_uids = frozenset(str(v) for v in items if str(v))
            return RetrieveResult(
                node=self._label,
                command=command,
                status=code,
                completed=counts.completed,
                failed=counts.failed,
                warning=counts.warning,
                remaining=counts.remaining,
                received=sink.received if sink is not None else frozenset(),
                unexpected=sink.unexpected if sink is not None else frozenset(),
                local_failures=(
                    tuple(sorted(sink.local_failures.items())) if sink is not None else ()
                ),
                failed_sop_instances=failed_uids,
                destination=destination,
            )
        raise self._lost(command)  # pragma: no cover - _responses raises first

    def _on_get_store(self, event: Event) -> int | Dataset:
        self._last_activity = time.monotonic()
        return handle_store_event(event, self._get_sink)

    def _move_receiver(self) -> StoreReceiver:
        if self._receiver is None:
            timeouts = self.node.timeouts
            receiver = StoreReceiver(
                self.node.our_ae,
                listen_address(self.node.host),
                self.node.store_port or 0,
                node=self._label,
                timeouts=(timeouts.acse, timeouts.dimse, timeouts.network),
                tls=self.node.tls,
            )
            receiver.start()
            self._receiver = receiver
        return self._receiver
