"""A received C-STORE data set as a DICOM file: preamble, prefix and file meta, by hand.

pynetdicom's ``Event.encoded_dataset()`` builds the file meta as a pydicom data set and
writes it with pydicom's writer: ~1 ms per object, in the thread that answers the C-STORE
(the server waits for that answer before it sends the next object).  The file meta of a
received object is always the same seven elements in Explicit VR Little Endian, so
:func:`file_header` encodes them directly, byte for byte what pynetdicom writes
(``tests/test_part10.py`` compares them), in a few microseconds.
"""

from __future__ import annotations

import struct

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

PREAMBLE = b"\x00" * 128 + b"DICM"


def _element(element: int, vr: bytes, value: bytes) -> bytes:
    """One group-0002 element, Explicit VR Little Endian (``value`` of even length)."""
    if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR"):
        return struct.pack("<HH2sHI", 0x0002, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _uid(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def _text(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b" " if len(raw) % 2 else raw


def file_header(sop_class: str, sop_instance: str, transfer_syntax: str) -> bytes:
    """The preamble, ``DICM`` and the file meta of a received object; its data set's
    bytes, as received, follow."""
    body = b"".join(
        (
            _element(0x0001, b"OB", b"\x00\x01"),
            _element(0x0002, b"UI", _uid(sop_class)),
            _element(0x0003, b"UI", _uid(sop_instance)),
            _element(0x0010, b"UI", _uid(transfer_syntax)),
            _element(0x0012, b"UI", _uid(PYNETDICOM_IMPLEMENTATION_UID)),
            _element(0x0013, b"SH", _text(PYNETDICOM_IMPLEMENTATION_VERSION)),
        )
    )
    length = _element(0x0000, b"UL", struct.pack("<I", len(body)))
    return PREAMBLE + length + body
