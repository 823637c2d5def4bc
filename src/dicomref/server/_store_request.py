"""C-STORE requests taken off the wire without pydicom.

pynetdicom decodes every DIMSE command set with pydicom (a Dataset, each element's value
converted and validated) and then copies it element by element into a primitive: ~0.3 ms
of CPU for a C-STORE request, in the association's DUL thread, holding the GIL, once per
object received: with 4 associations storing at once, the largest single cost of an
object (bench/serve.py).  :func:`receive_store_requests` gives an association's DIMSE
provider a ``receive_primitive`` that reads a plain C-STORE request itself (~0.03 ms):

- the command set must come whole in one PDV (its last fragment: how every sender we know
  sends one), hold only the elements of a C-STORE-RQ (:data:`_ELEMENTS`), each of the
  length its VR gives, and announce a data set;
- the primitive is built through pynetdicom's own setters (the same checks of the UIDs,
  the message ID and the priority as pynetdicom's decoding makes), from the values as
  pydicom would have decoded them (UIDs without trailing NULs and spaces, the AE title
  stripped);
- the data set's fragments are gathered as pynetdicom gathers them, and the primitive is
  queued for the association's thread as pynetdicom queues it.

Anything else (another message, a command set in pieces, an element it does not expect, a
value a setter refuses, a message pynetdicom is in the middle of) goes to pynetdicom's
``receive_primitive`` unchanged; so does everything when pynetdicom's DIMSE messages are
watched (its debug log, an ``EVT_DIMSE_RECV`` handler) or received into files
(``STORE_RECV_CHUNKED_DATASET``).
"""

from __future__ import annotations

import logging
import struct
from io import BytesIO
from typing import Any, Final

from pynetdicom import _config as pynetdicom_config
from pynetdicom import evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA

LOGGER = logging.getLogger(__name__)
_HEADER: Final = struct.Struct("<HHI")
_US: Final = struct.Struct("<H")
_COMMAND_FIELD: Final = 0x0100
_C_STORE_RQ: Final = 0x0001
_DATA_SET_TYPE: Final = 0x0800
_NO_DATA_SET: Final = 0x0101
#: Group 0000 elements a C-STORE-RQ may hold, and the length each must have (None: any).
_ELEMENTS: Final[dict[int, int | None]] = {
    0x0000: 4,  # CommandGroupLength
    0x0002: None,  # AffectedSOPClassUID
    0x0100: 2,  # CommandField
    0x0110: 2,  # MessageID
    0x0700: 2,  # Priority
    0x0800: 2,  # CommandDataSetType
    0x1000: None,  # AffectedSOPInstanceUID
    0x1030: None,  # MoveOriginatorApplicationEntityTitle
    0x1031: 2,  # MoveOriginatorMessageID
}
_REQUIRED: Final = frozenset({0x0002, 0x0100, 0x0110, 0x0800, 0x1000})
#: PDV message control header bits: a command (not a data set); the last fragment.
_COMMAND: Final = 0x01
_LAST: Final = 0x02


def command_elements(raw: bytes) -> dict[int, bytes] | None:
    """The elements of a group 0000 command set (Implicit VR Little Endian), by element
    number; None if it holds anything but group 0000, an element twice, or bytes that do
    not add up."""
    elements: dict[int, bytes] = {}
    offset, end = 0, len(raw)
    while offset < end:
        if offset + 8 > end:
            return None
        group, element, length = _HEADER.unpack_from(raw, offset)
        offset += 8
        if group != 0x0000 or element in elements or offset + length > end:
            return None
        elements[element] = raw[offset : offset + length]
        offset += length
    return elements


def _us(value: bytes) -> int:
    number: int = _US.unpack(value)[0]
    return number


def _text(value: bytes) -> str:
    """A UI or AE value as pydicom decodes one (its default encoding); ValueError for a
    multi-valued one (pynetdicom would warn and take the first: left to it)."""
    text = value.decode("latin-1")
    if "\\" in text:
        raise ValueError("more than one value")
    return text


def store_request(raw: bytes) -> C_STORE | None:
    """The C-STORE primitive of the command set ``raw`` (its data set still to come);
    None unless it is a plain C-STORE-RQ announcing a data set (see the module)."""
    elements = command_elements(raw)
    if elements is None or not _REQUIRED.issubset(elements):
        return None
    for element, value in elements.items():
        if element not in _ELEMENTS:
            return None
        length = _ELEMENTS[element]
        if length is not None and len(value) != length:
            return None
    if _us(elements[_COMMAND_FIELD]) != _C_STORE_RQ:
        return None
    if _us(elements[_DATA_SET_TYPE]) == _NO_DATA_SET:
        return None
    primitive = C_STORE()
    try:
        primitive.MessageID = _us(elements[0x0110])
        primitive.AffectedSOPClassUID = _text(elements[0x0002]).rstrip("\0 ")
        primitive.AffectedSOPInstanceUID = _text(elements[0x1000]).rstrip("\0 ")
        if 0x0700 in elements:
            primitive.Priority = _us(elements[0x0700])
        if 0x1030 in elements:
            primitive.MoveOriginatorApplicationEntityTitle = _text(elements[0x1030]).strip()
        if 0x1031 in elements:
            primitive.MoveOriginatorMessageID = _us(elements[0x1031])
    except (ValueError, TypeError):
        return None
    return primitive


class _Receiving:
    """A C-STORE request read here, its data set arriving."""

    __slots__ = ("context_id", "data", "request")

    def __init__(self, request: C_STORE, context_id: int) -> None:
        self.request = request
        self.context_id = context_id
        self.data = BytesIO()


def receive_store_requests(assoc: Any, dimse: Any) -> None:
    """Give ``dimse`` (an association's DIMSE provider, before its threads start) a
    ``receive_primitive`` that reads plain C-STORE requests itself (see the module)."""
    original = getattr(dimse, "receive_primitive", None)
    requests = getattr(dimse, "msg_queue", None)
    if original is None or requests is None or not hasattr(dimse, "message"):
        return
    under_way: list[_Receiving] = []

    def watched() -> bool:
        return bool(
            pynetdicom_config.LOG_HANDLER_LEVEL != "none"
            or pynetdicom_config.STORE_RECV_CHUNKED_DATASET
            or assoc.get_handlers(evt.EVT_DIMSE_RECV)
        )

    def receive_primitive(primitive: P_DATA) -> None:
        values = getattr(primitive, "presentation_data_value_list", None)
        if dimse.message is not None or values is None or (not under_way and watched()):
            original(primitive)
            return
        for index, (context_id, data) in enumerate(values):
            if not under_way:
                request = None
                if data and data[0] & (_COMMAND | _LAST) == _COMMAND | _LAST:
                    request = store_request(data[1:])
                if request is None:
                    rest = primitive
                    if index:  # a message of ours ended in this P-DATA: the rest is theirs
                        rest = P_DATA()
                        rest.presentation_data_value_list = values[index:]
                    original(rest)
                    return
                under_way.append(_Receiving(request, context_id))
                continue
            receiving = under_way[0]
            if not data or data[0] & _COMMAND:  # a command before the data set: invalid
                LOGGER.warning(
                    "association aborted: a command arrived before the data set of C-STORE "
                    "SOP Instance %s had",
                    receiving.request.AffectedSOPInstanceUID,
                )
                under_way.clear()
                dimse.dul.event_queue.put("Evt19")  # as pynetdicom: abort the association
                return
            receiving.data.write(data[1:])
            if data[0] & _LAST:
                under_way.clear()
                request = receiving.request
                request.DataSet = receiving.data
                request._context_id = receiving.context_id
                requests.put((receiving.context_id, request))

    dimse.receive_primitive = receive_primitive
