"""PDUs received on an association, bounded and acknowledged at once.

pynetdicom's DUL reads a PDU as its header declares it: a P-DATA-TF of 0xFFFFFFFF bytes
is read until that many have come (the server's memory grew 1:1 with what the peer sent),
whatever maximum length was negotiated, and a peer that stops in the middle of a PDU holds
the DUL thread in ``recv`` for ever (SIGTERM then waited for it).  :func:`bound_reads`
gives a DUL, before it starts, a reader that:

- refuses a P-DATA-TF longer than the maximum length we advertised
  (``assoc.acceptor.maximum_length``; 0 advertises no limit, and then none is enforced)
  and any other PDU longer than :data:`~._gate.MAX_ASSOCIATE_PDU`: an A-ABORT is sent
  (service provider, invalid PDU parameter value), the connection closed, nothing more
  read;
- reads through the socket's timeout (the gate sets it to ``ServerConfig.stall_timeout``):
  a peer silent in the middle of a PDU for that long loses the connection;
- acknowledges what it read at once (Linux ``TCP_QUICKACK``, set again after every read:
  the kernel clears it).  A client with Nagle's algorithm on (pynetdicom's default) sends
  the second PDU of a request only once the first is acknowledged; with delayed ACKs each
  C-FIND waited ~40 ms for the kernel's ACK timer;
- reads a PDU's body into one buffer with ``recv_into`` (pynetdicom reads 4 KiB at a
  time and appends);
- bounds what a message may add up to over many PDUs (pynetdicom keeps every fragment
  until the last): a command set :data:`MAX_COMMAND`, a data set sent on a Verification or
  Query/Retrieve context (an identifier) :data:`MAX_IDENTIFIER`; past either the
  association is aborted.  Data sets on storage contexts are objects, whatever their size.

Everything else is pynetdicom's: the PDU is decoded by the DUL's ``_decode_pdu`` and the
same events go to the same queues.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from typing import Any, Final

from dicomref._dimse._contexts import QUERY_MODELS, VERIFICATION
from dicomref.server._gate import MAX_ASSOCIATE_PDU, abort_pdu, send_nowait

LOGGER = logging.getLogger(__name__)

_HEADER: Final = 6
_P_DATA: Final = 0x04
_KNOWN_TYPES: Final = frozenset(range(0x01, 0x08))
_INVALID_VALUE: Final = 6
_UNRECOGNISED: Final = 1
#: Bodies up to this size get their whole buffer at once; longer ones (possible only when
#: no maximum was advertised) grow as their bytes arrive, so that a declared length costs
#: no memory the peer has not sent.
_PREALLOCATE: Final = 4 * 1024 * 1024
_CHUNK: Final = 1024 * 1024
_QUICKACK: Final[int | None] = getattr(socket, "TCP_QUICKACK", None)
MAX_COMMAND: Final = 64 * 1024
"""Bytes of one command set (pynetdicom's are ~100-200)."""
MAX_IDENTIFIER: Final = 16 * 1024 * 1024
"""Bytes of one data set on a Verification or Query/Retrieve context: an identifier (a list
of 10,000 SOP Instance UIDs takes ~0.6 MB)."""
_IDENTIFIER_CONTEXTS: Final = frozenset(
    {str(VERIFICATION), *(str(model) for model in QUERY_MODELS.values())}
)
_P_DATA_RECEIVED: Final = "Evt10"
#: PDV message control header bits: a command fragment; the last fragment.
_COMMAND_BIT: Final = 0x01
_LAST_BIT: Final = 0x02

#: Events of pynetdicom's state machine.
_CLOSED: Final = "Evt17"
_INVALID_PDU: Final = "Evt19"


class _Message:
    """What the message being received adds up to so far."""

    __slots__ = ("command", "command_done", "data")

    def __init__(self) -> None:
        self.command = 0
        self.data = 0
        self.command_done = False

    def add(self, control: int, size: int, data_limit: int | None) -> str | None:
        """Count one fragment; why the message is too large, or None."""
        if control & _COMMAND_BIT:
            if self.command_done:  # a new message (the last one had no data set)
                self.command = self.data = 0
                self.command_done = False
            self.command += size
            self.command_done = bool(control & _LAST_BIT)
            if self.command > MAX_COMMAND:
                return f"a command set of more than {MAX_COMMAND:,} bytes"
            return None
        self.data += size
        if data_limit is not None and self.data > data_limit:
            return f"an identifier of more than {data_limit:,} bytes"
        if control & _LAST_BIT:
            self.command = self.data = 0
            self.command_done = False
        return None


def _oversized_message(dul: Any, pdu: Any) -> str | None:
    """Count the fragments of the P-DATA-TF ``pdu`` against the message bounds."""
    message: _Message | None = dul.__dict__.get("_dicomref_message")
    if message is None:
        message = dul._dicomref_message = _Message()
    accepted = getattr(dul.assoc, "_accepted_cx", {})
    for item in pdu.presentation_data_value_items:
        value = item.presentation_data_value or b""
        if not value:
            continue
        context = accepted.get(item.presentation_context_id)
        syntax = str(getattr(context, "abstract_syntax", "") or "")
        limit = None if syntax and syntax not in _IDENTIFIER_CONTEXTS else MAX_IDENTIFIER
        why = message.add(value[0], len(value) - 1, limit)
        if why is not None:
            return why
    return None


class _StalledError(Exception):
    """The peer sent nothing for the socket's timeout in the middle of a PDU."""


def quick_ack(sock: socket.socket) -> None:
    """Acknowledge what was read at once, and the next segment too (Linux)."""
    if _QUICKACK is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


def _fill(sock: socket.socket, view: memoryview) -> int:
    """Read into ``view`` until it is full or the peer closes; returns the bytes read.
    Raises _StalledError when a read waits the socket's timeout."""
    done = 0
    while done < len(view):
        try:
            got = sock.recv_into(view[done:])
        except TimeoutError as exc:
            raise _StalledError from exc
        if not got:
            return done
        done += got
        quick_ack(sock)
    return done


def _read_growing(sock: socket.socket, buffer: bytearray, length: int) -> bool:
    """Append ``length`` bytes to ``buffer`` in chunks; False if the peer closed first."""
    left = length
    while left:
        chunk = bytearray(min(left, _CHUNK))
        got = _fill(sock, memoryview(chunk))
        buffer += chunk[:got]
        if got < len(chunk):
            return False
        left -= got
    return True


def bound_reads(dul: Any) -> bool:
    """Give ``dul`` (an acceptor's ``DULServiceProvider``, not started) the bounded reader;
    False, changing nothing, for a pynetdicom without what it relies on."""
    needed = ("_read_pdu_data", "_decode_pdu", "event_queue", "_recv_pdu", "assoc", "socket")
    if dul.is_alive() or not all(hasattr(dul, name) for name in needed):
        return False
    dul._read_pdu_data = lambda: _read_pdu(dul)
    return True


def _peer(dul: Any) -> str:
    info = getattr(dul.assoc.requestor, "address_info", None)
    if info is None:
        return "the peer"
    host = str(info.address)
    return f"{f'[{host}]' if ':' in host else host}:{info.port}"


def _abort(dul: Any, sock: socket.socket, reason: int, why: str) -> None:
    """Send an A-ABORT (if it fits without waiting), close, tell the state machine the
    connection is closed; nothing more is read."""
    LOGGER.warning("association with %s aborted: %s", _peer(dul), why)
    send_nowait(sock, abort_pdu(reason))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    dul.event_queue.put(_CLOSED)


def _read_pdu(dul: Any) -> None:
    """Read one PDU from ``dul``'s peer (see the module)."""
    transport = dul.socket
    sock = getattr(transport, "socket", None)
    if sock is None:
        dul.event_queue.put(_CLOSED)
        return
    header = bytearray(_HEADER)
    try:
        got = _fill(sock, memoryview(header))
    except _StalledError:
        _abort(dul, sock, _INVALID_VALUE, "it stopped in the middle of a PDU header")
        return
    except OSError as exc:
        LOGGER.info("connection with %s lost: %s", _peer(dul), exc)
        dul.event_queue.put(_CLOSED)
        return
    if got < _HEADER:
        dul.event_queue.put(_CLOSED)  # closed by the peer (between two PDUs, or not)
        return
    kind, _, length = struct.unpack(">BBL", header)
    if kind not in _KNOWN_TYPES:
        _abort(dul, sock, _UNRECOGNISED, f"it sent a PDU of unknown type 0x{kind:02X}")
        return
    limit = dul.assoc.acceptor.maximum_length if kind == _P_DATA else MAX_ASSOCIATE_PDU
    if limit and length > limit:
        _abort(
            dul,
            sock,
            _INVALID_VALUE,
            f"it sent a PDU of {length:,} bytes, more than the {limit:,} negotiated",
        )
        return
    try:
        if length <= _PREALLOCATE:
            pdu = header + bytearray(length)
            complete = _fill(sock, memoryview(pdu)[_HEADER:]) == length
        else:
            pdu = header
            complete = _read_growing(sock, pdu, length)
    except _StalledError:
        _abort(
            dul,
            sock,
            _INVALID_VALUE,
            f"it sent nothing for {sock.gettimeout():g} s in the middle of a PDU",
        )
        return
    except OSError as exc:
        LOGGER.info("connection with %s lost in the middle of a PDU: %s", _peer(dul), exc)
        dul.event_queue.put(_CLOSED)
        return
    if not complete:
        LOGGER.info("connection with %s closed in the middle of a PDU", _peer(dul))
        dul.event_queue.put(_CLOSED)
        return
    try:
        decoded, event = dul._decode_pdu(pdu)
    except Exception as exc:  # noqa: BLE001 - as pynetdicom: any failure is an invalid PDU
        LOGGER.warning("association with %s: a PDU that cannot be read: %s", _peer(dul), exc)
        dul.event_queue.put(_INVALID_PDU)
        return
    if event == _P_DATA_RECEIVED:
        why = _oversized_message(dul, decoded)
        if why is not None:
            _abort(dul, sock, _INVALID_VALUE, f"it sent {why}")
            return
    dul.event_queue.put(event)
    dul._recv_pdu.put(decoded)
