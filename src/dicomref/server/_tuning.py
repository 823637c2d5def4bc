"""pynetdicom tuned for the server's side of an association (EVT_CONN_OPEN, before the
association's threads start): where its per-message costs were measured, and what is
done about each.

Per small object stored (bench/serve.py, DCMTK storescu, one association), pynetdicom
spent ~0.5 ms waiting for its acceptor loop's next turn (:data:`REQUEST_WAIT`), ~0.25 ms
twice for its DUL loop's (:data:`ACCEPTOR_POLL`), and ~0.8 ms of CPU encoding the
C-STORE response with pydicom (:func:`store_response`).  Per association accepted, it
spent ~75 ms of CPU copying the server's presentation contexts (:func:`share_uids`).
Both loops now wait for work instead of polling (:mod:`._reactor`): the DUL loop on its
socket and a wake-up, the acceptor loop on its request queue, without its 1 ms sleep.
"""

from __future__ import annotations

import copy
import queue
import struct
import threading
from typing import Any, Final

from pynetdicom import _config as pynetdicom_config
from pynetdicom import evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import ThreadedAssociationServer

from dicomref._dimse._tuning import no_delay, set_poll
from dicomref.server._reactor import serve_without_sleeping, wait_between_turns
from dicomref.server._receive import bound_reads
from dicomref.server._store_request import receive_store_requests

ACCEPTOR_POLL: Final = 0.0005
"""Seconds pynetdicom's DUL thread sleeps, on an association a client opened with us,
whenever a turn of its loop found nothing to do (pynetdicom's default: 1 ms).  Each
request and each response waits for such a turn.  Measured here (bench/serve.py, DCMTK
findscu as the client): an IMAGE-level C-FIND round trip at 1,000,000 instances takes
~4.2 ms instead of ~5.3 ms; 0.2 ms gained nothing more.  The price: pynetdicom polls, and
an idle association costs the server ~10% of a CPU instead of ~8% (``network_timeout``
closes idle ones).  Now only a fallback: :func:`._reactor.wait_between_turns` replaces
the polling where pynetdicom is the one it was written for."""

REQUEST_WAIT: Final = 0.01
"""Seconds the association's own thread waits for the next request before it looks at
the association again (release, abort, timeouts).  pynetdicom's acceptor loop sleeps 1 ms,
then takes a request if one is there: each request waited ~0.5 ms on average for that
turn.  Waiting on the request queue instead wakes the thread the moment the request is
decoded; a release is noticed at most this much later, and an idle association polls 10
times less often."""

_STORE_RSP: Final = 0x8001
_NO_DATA_SET: Final = 0x0101
#: PDV message control header: a command, its last fragment.
_LAST_COMMAND_FRAGMENT: Final = b"\x03"
#: Bytes of a PDU that are not its PDV's value (PDV length, context ID, control header).
_PDV_OVERHEAD: Final = 6


def tune_acceptor(event: Any) -> None:
    """EVT_CONN_OPEN handler for associations clients open with the server: TCP_NODELAY
    (:func:`~dicomref._dimse._tuning.no_delay`), a shorter DUL idle sleep, requests taken
    as they arrive (:data:`REQUEST_WAIT`), plain C-STORE requests decoded
    (:mod:`._store_request`) and their responses encoded here;
    PDUs read within the negotiated bounds and acknowledged at once
    (:func:`~._receive.bound_reads`), by a DUL thread that never keeps the process alive
    (pynetdicom's is not a daemon: one blocked on a silent peer outlived the server)."""
    no_delay(event)
    assoc = event.assoc
    set_poll(assoc, ACCEPTOR_POLL)
    dul = getattr(assoc, "dul", None)
    if dul is not None:
        wait_between_turns(dul)
        bound_reads(dul)
        if not dul.is_alive():
            dul.daemon = True
    dimse = getattr(assoc, "dimse", None)
    if dimse is not None and dul is not None:
        _take_requests_as_they_come(assoc, dimse)
        _send_store_responses(assoc, dimse, dul)
        receive_store_requests(assoc, dimse)


def _take_requests_as_they_come(assoc: Any, dimse: Any) -> None:
    take = getattr(dimse, "get_msg", None)
    requests = getattr(dimse, "msg_queue", None)
    if take is None or not isinstance(requests, queue.Queue):
        return
    serve_without_sleeping(assoc)

    def get_msg(block: bool = False) -> tuple[int | None, object]:
        """pynetdicom's ``get_msg``, except that the association thread's non-blocking
        look (its reactor's) waits up to :data:`REQUEST_WAIT` for a request."""
        if block or threading.current_thread() is not assoc:
            result: tuple[int | None, object] = take(block)
            return result
        try:
            item: tuple[int | None, object] = requests.get(timeout=REQUEST_WAIT)
        except queue.Empty:
            return None, None
        return item

    dimse.get_msg = get_msg


def _send_store_responses(assoc: Any, dimse: Any, dul: Any) -> None:
    send = getattr(dimse, "send_msg", None)
    if send is None or not hasattr(dul, "send_pdu"):
        return

    def send_msg(primitive: Any, context_id: int) -> None:
        """pynetdicom's ``send_msg``, except for C-STORE responses :func:`store_response`
        encodes, when nothing watches pynetdicom's sent messages (its debug log)."""
        encoded = store_response(primitive) if isinstance(primitive, C_STORE) else None
        limit = dimse.maximum_pdu_size
        if (
            encoded is None
            or (limit and len(encoded) > limit - _PDV_OVERHEAD)
            or pynetdicom_config.LOG_HANDLER_LEVEL != "none"
            or assoc.get_handlers(evt.EVT_DIMSE_SENT)
        ):
            send(primitive, context_id)
            return
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, _LAST_COMMAND_FRAGMENT + encoded))
        dul.send_pdu(pdata)

    dimse.send_msg = send_msg


class _Contexts(list[PresentationContext]):
    """Presentation contexts whose deep copy shares their UIDs (immutable strings)
    instead of re-creating and re-validating each one: ~1 ms instead of ~75 ms for the
    server's 177 contexts, most with every transfer syntax."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[PresentationContext]:
        copies = []
        for context in self:
            twin = copy.copy(context)
            twin._transfer_syntax = list(context._transfer_syntax)
            copies.append(twin)
        return copies


def share_uids(server: ThreadedAssociationServer | None) -> None:
    """Make the copy of the presentation contexts pynetdicom gives each association it
    accepts cheap (:class:`_Contexts`): the whole copy holds the GIL, and a client that
    opens an association per object (as many modalities do) paid it every time."""
    if server is not None:  # None: pynetdicom served in this thread (block=True)
        server.contexts = _Contexts(server.contexts)


def _element(element: int, value: bytes) -> bytes:
    """One command element, Implicit VR Little Endian (a command set's encoding)."""
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _uid(value: object) -> bytes:
    raw = str(value).encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def store_response(primitive: C_STORE) -> bytes | None:
    """The command set of the C-STORE response ``primitive``, as pynetdicom would encode
    it (pydicom: ~0.8 ms of CPU per response, here ~0.02 ms); None for anything but a
    plain response (a request, an Error Comment or Offending Element, a missing UID or a
    non-ASCII one), left to pynetdicom."""
    message_id = primitive.MessageIDBeingRespondedTo
    code = primitive.Status
    sop_class, sop_instance = primitive.AffectedSOPClassUID, primitive.AffectedSOPInstanceUID
    if (
        message_id is None
        or code is None
        or not sop_class
        or not sop_instance
        or primitive.ErrorComment is not None
        or primitive.OffendingElement is not None
    ):
        return None
    try:
        elements = b"".join(
            (
                _element(0x0002, _uid(sop_class)),
                _element(0x0100, struct.pack("<H", _STORE_RSP)),
                _element(0x0120, struct.pack("<H", message_id)),
                _element(0x0800, struct.pack("<H", _NO_DATA_SET)),
                _element(0x0900, struct.pack("<H", code)),
                _element(0x1000, _uid(sop_instance)),
            )
        )
    except (UnicodeEncodeError, struct.error):
        return None
    return _element(0x0000, struct.pack("<I", len(elements))) + elements
