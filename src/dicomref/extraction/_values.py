"""Reading the kept values of a light-tree item: text, UIDs, numbers, person names.

Every function tolerates garbage: a value that cannot be read as asked is None (or empty),
never an exception.
"""

from __future__ import annotations

import math
import struct

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.valuerep import TEXT_VR_DELIMS, PersonName

from dicomref._memo import Memo
from dicomref.extraction._pydicom_warnings import recorded, report
from dicomref.extraction._tree import Item

_BINARY_INTEGER_VRS = {b"US": "<H", b"SS": "<h", b"UL": "<I", b"SL": "<i"}

#: Values that stand for "no UID" in real data.
PLACEHOLDER_UIDS = frozenset({"", "0"})
_ASCII_CHARSETS = frozenset({"", "ISO_IR 6", "ISO 2022 IR 6"})


def raw(item: Item, tag: int) -> bytes | None:
    """The kept bytes of ``tag`` in ``item`` (None if absent or, wrongly, a sequence)."""
    value = item.get(tag)
    return value if type(value) is bytes else None


def _decoded(value: bytes) -> str | None:
    return value.decode("ascii", "replace").strip(" \0") or None


#: Texts already decoded (see :mod:`dicomref._memo`).
_TEXTS: Memo[bytes, str | None] = Memo(_decoded)


def text(item: Item, tag: int) -> str | None:
    """An ASCII value, undecodable bytes replaced, padding stripped; None if absent or empty."""
    value = item.get(tag)
    if type(value) is not bytes:
        return None
    return _TEXTS[value]


#: A UID value as stored (placeholders included); None if absent or empty.
uid = text


def hint(item: Item, tag: int) -> str | None:
    """A UID usable as a location hint: None for absent, empty and placeholder values."""
    value = text(item, tag)
    return None if value is None or value in PLACEHOLDER_UIDS else value


def integer(item: Item, tag: int) -> int | None:
    """The first value of an IS element as an int; None if absent or not a number."""
    value = item.get(tag)
    if type(value) is not bytes:
        return None
    try:
        return int(value)  # the common case: one value, maybe space-padded
    except ValueError:
        numbers = integers(item, tag)
        return numbers[0] if numbers else None


def integers(item: Item, tag: int) -> tuple[int, ...]:
    """Every readable value of a multi-valued IS element (unreadable ones left out)."""
    value = item.get(tag)
    if type(value) is not bytes:
        return ()
    numbers = []
    for part in value.split(b"\\"):
        try:
            numbers.append(int(part.strip(b" \0")))
        except ValueError:
            continue
    return tuple(numbers)


def unsigned_shorts(item: Item, tag: int) -> tuple[int, ...]:
    """Every value of a US element (stored little endian)."""
    value = raw(item, tag)
    if not value:
        return ()
    count = len(value) // 2
    return struct.unpack_from(f"<{count}H", value)


def decimals(item: Item, tag: int, count: int) -> tuple[float, ...] | None:
    """Exactly ``count`` finite DS values, or None."""
    value = item.get(tag)
    if type(value) is not bytes:
        return None
    return _DECIMALS[(value, count)]


def _decimals(key: tuple[bytes, int]) -> tuple[float, ...] | None:
    value, count = key
    parts = value.split(b"\\")
    if len(parts) != count:
        return None
    try:
        numbers = tuple(map(float, parts))
    except ValueError:
        try:
            numbers = tuple(float(part.strip(b" \0")) for part in parts)
        except ValueError:
            return None
    if not all(map(math.isfinite, numbers)):
        return None
    return numbers


def person_name(item: Item, tag: int, charsets: str | None, path: str = "") -> str | None:
    """A PN value decoded with the dataset's Specific Character Set (pydicom's decoder).

    ``charsets`` is the raw SpecificCharacterSet text (values separated by backslashes).
    Falls back to ASCII with replacement characters when the character set is unknown.
    What pydicom warns about while decoding is logged naming ``path`` (see
    :mod:`._pydicom_warnings`), for each file with that value.
    """
    value = raw(item, tag)
    if value is None:
        return None
    name, notes = _NAMES[(value, charsets)]
    if notes:
        report(path, notes)
    return name


def _person_name(key: tuple[bytes, str | None]) -> tuple[str | None, tuple[str, ...]]:
    value, charsets = key
    value = value.rstrip(b" \0")
    names = [part.strip() for part in (charsets or "").split("\\")]
    notes: tuple[str, ...] = ()
    if (value.isascii() and b"\x1b" not in value) or all(n in _ASCII_CHARSETS for n in names):
        decoded = value.decode("ascii", "replace")  # plain ASCII, no ISO 2022 escape
    else:
        try:
            decoded, notes = recorded(lambda: str(PersonName(value, convert_encodings(names))))
        except (LookupError, UnicodeError, ValueError):
            decoded = value.decode("ascii", "replace")
    decoded = decoded.strip(" \0").rstrip("=")  # no empty trailing component groups
    return decoded or None, notes


def decoded_text(item: Item, tag: int, charsets: str | None, path: str = "") -> str | None:
    """A text value (SH, LO…) decoded with the dataset's Specific Character Set, padding
    stripped; None if absent or empty.  As :func:`person_name` for the character sets and
    pydicom's warnings; for the values people name objects by (a structure set's label)."""
    value = raw(item, tag)
    if value is None:
        return None
    decoded, notes = _DECODED[(value, charsets)]
    if notes:
        report(path, notes)
    return decoded


def _decoded_text(key: tuple[bytes, str | None]) -> tuple[str | None, tuple[str, ...]]:
    value, charsets = key
    names = [part.strip() for part in (charsets or "").split("\\")]
    notes: tuple[str, ...] = ()
    if (value.isascii() and b"\x1b" not in value) or all(n in _ASCII_CHARSETS for n in names):
        decoded = value.decode("ascii", "replace")
    else:
        try:
            decoded, notes = recorded(
                lambda: decode_bytes(value, convert_encodings(names), TEXT_VR_DELIMS)
            )
        except (LookupError, UnicodeError, ValueError):
            decoded = value.decode("ascii", "replace")
    return decoded.strip(" \0") or None, notes


#: Decimal strings and names already read, by value and count or character sets.
_DECIMALS: Memo[tuple[bytes, int], tuple[float, ...] | None] = Memo(_decimals)
_NAMES: Memo[tuple[bytes, str | None], tuple[str | None, tuple[str, ...]]] = Memo(_person_name)
_DECODED: Memo[tuple[bytes, str | None], tuple[str | None, tuple[str, ...]]] = Memo(_decoded_text)


def normalise(expected: bytes, vr: bytes, value: bytes) -> bytes:
    """Store a wanted value in its dictionary form when the file used another VR.

    Only numbers need it: an ``IS`` tag written as ``US`` (or the reverse).  Other
    mismatches are kept as they are, for the decoders to judge.
    """
    if expected == b"IS" and vr in _BINARY_INTEGER_VRS:
        code = _BINARY_INTEGER_VRS[vr]
        width = struct.calcsize(code)
        count = len(value) // width
        binary = struct.unpack_from(f"<{count}{code[1]}", value)
        return "\\".join(str(n) for n in binary).encode()
    if expected == b"US" and vr in (b"IS", b"DS"):
        numbers: list[int] = []
        for part in value.split(b"\\"):
            try:
                numbers.append(int(float(part)) & 0xFFFF)
            except ValueError:
                continue
        return struct.pack(f"<{len(numbers)}H", *numbers)
    return value
