"""pydicom datasets as light trees, and pydicom as the reader of what the walker leaves.

:func:`tree_from_dataset` turns a :class:`pydicom.Dataset` into the same light tree the
walker builds from bytes, so that references found in a Dataset and in a file go through the
one walk.  Values are taken raw where pydicom still holds them raw (the bytes the walker would
have kept); elements are converted only where needed (possible sequences, wanted values).

:func:`read_with_pydicom` reads the files the walker does not (Explicit VR Big Endian):
``dcmread(stop_before_pixels=True, force=True)`` with values over
:attr:`~._limits.ReadLimits.max_value` left unread (pydicom's ``defer_size``), then the
adapter, which refuses to read such a value where it would need it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import Final

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from dicomref.errors import DicomReadError, ReadLimitError
from dicomref.extraction._limits import DEFAULT_LIMITS, ReadLimits, describe_bytes
from dicomref.extraction._pydicom_warnings import recorded, report
from dicomref.extraction._tree import (
    MAX_DEPTH,
    SEQUENCE_TAGS,
    SPECIFIC_CHARACTER_SET,
    WANTED,
    Item,
    describe,
)
from dicomref.extraction._values import normalise
from dicomref.extraction._walker import UNDEFINED, parse_sequence_value

#: What pydicom raises on malformed input, as far as it is known (pydicom has no single
#: root for its reading errors).  Translated into DicomReadError at this boundary.
PYDICOM_READ_ERRORS: Final = (
    InvalidDicomError,
    BytesLengthException,
    EOFError,
    struct.error,
    zlib.error,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    RecursionError,
)

_ITEM_BYTES: Final = b"\xfe\xff\x00\xe0"


def read_with_pydicom(
    path: str, limits: ReadLimits = DEFAULT_LIMITS
) -> tuple[str | None, str | None, Item]:
    """Read ``path`` with pydicom: (transfer syntax, media storage SOP class, tree).

    pydicom's warnings on the way are logged naming the file (:mod:`._pydicom_warnings`).
    """
    read, notes = recorded(lambda: _read_with_pydicom(path, limits))
    report(path, notes)
    return read


def _read_with_pydicom(path: str, limits: ReadLimits) -> tuple[str | None, str | None, Item]:
    try:
        dataset = pydicom.dcmread(
            path, stop_before_pixels=True, force=True, defer_size=limits.max_value
        )
        tree = tree_from_dataset(dataset, path, max_value=limits.max_value)
        meta = getattr(dataset, "file_meta", None)
        syntax = media = None
        if isinstance(meta, Dataset):  # read lazily: a damaged meta element raises here
            syntax = _text(meta.get(0x00020010))
            media = _text(meta.get(0x00020002))
    except OSError as exc:
        raise DicomReadError(path, f"cannot read it: {exc.strerror or exc}") from exc
    except RecursionError as exc:
        raise DicomReadError(
            path,
            "its sequences are nested too deeply for pydicom to read: the file is damaged or "
            "deliberately malformed, and dicomref does not read it",
        ) from exc
    except PYDICOM_READ_ERRORS as exc:
        raise DicomReadError(
            path,
            f"pydicom cannot read it ({type(exc).__name__}: {exc}): the file is damaged — "
            "export it again from its source",
        ) from exc
    return syntax, media, tree


def tree_from_dataset(
    dataset: Dataset, label: str, depth: int = 0, *, max_value: int | None = None
) -> Item:
    """The light tree of ``dataset`` (``label`` names it in errors).

    Raises :class:`DicomReadError` for sequences nested deeper than the walker reads, and
    :class:`ReadLimitError` for a value it needs that is longer than ``max_value`` bytes.
    pydicom's own errors while converting lazily read elements pass through; callers
    translate them (:data:`PYDICOM_READ_ERRORS`).
    """
    if depth > MAX_DEPTH:
        raise DicomReadError(
            label,
            f"sequences nested deeper than {MAX_DEPTH} levels: dicomref does not read them",
        )
    item: Item = {}
    charsets = _charsets(dataset)
    for key in list(dataset.keys()):
        tag = int(key)
        if tag in WANTED:
            if max_value is not None:
                _check_length(dataset.get_item(tag, keep_deferred=True), tag, label, max_value)
            item[tag] = _leaf(dataset, tag, charsets)
            continue
        element = dataset.get_item(tag, keep_deferred=True)  # a deferred value stays unread
        if element is None or not _may_be_sequence(tag, element):
            continue
        if max_value is not None:
            _check_length(element, tag, label, max_value)
        converted = dataset[tag]
        if converted.VR == "SQ":
            item[tag] = [
                tree_from_dataset(child, label, depth + 1, max_value=max_value)
                for child in converted.value or ()
            ]
        elif (
            converted.VR == "UN"
            and (tag in SEQUENCE_TAGS or (tag >> 16) % 2 == 1)
            and isinstance(converted.value, bytes)
            and len(converted.value) >= 8
            and converted.value.startswith(_ITEM_BYTES)
        ):
            items = parse_sequence_value(converted.value, f"{label} {describe(tag)}")
            if items is not None:
                item[tag] = items
    return item


def _check_length(
    element: RawDataElement | DataElement | None, tag: int, label: str, max_value: int
) -> None:
    """Raise ReadLimitError for a value not yet read that is longer than ``max_value``."""
    if not isinstance(element, RawDataElement) or element.value is not None:
        return  # read already: it was no longer than pydicom's defer_size
    length = element.length
    if length != UNDEFINED and length > max_value:
        raise ReadLimitError(
            label,
            f"its value claims {length:,} bytes, more than the {describe_bytes(max_value)} "
            "dicomref reads of one value (ReadLimits.max_value): the file is damaged or "
            "deliberately malformed",
            limit="max_value",
            bound=max_value,
            tag=describe(tag),
        )


def _may_be_sequence(tag: int, element: RawDataElement | DataElement) -> bool:
    """Worth converting: a sequence, or an element whose bytes may hold one."""
    vr = element.VR
    if vr in ("SQ", "UN"):
        return True
    if vr is None and isinstance(element, RawDataElement):  # implicit VR, not converted yet
        return tag in SEQUENCE_TAGS or (tag >> 16) % 2 == 1 or element.length == UNDEFINED
    return False


def _leaf(dataset: Dataset, tag: int, charsets: list[str]) -> bytes:
    """The bytes the walker would keep for ``tag``: raw where possible, else re-encoded."""
    expected = WANTED[tag]
    element = dataset.get_item(tag)
    if isinstance(element, RawDataElement):
        value = element.value
        if value is None:
            return b""
        file_vr = element.VR
        if element.is_little_endian or (expected != "US" and file_vr not in ("US", "SS")):
            if file_vr is None or file_vr in (expected, "UN"):
                return bytes(value)
            return normalise(expected.encode(), file_vr.encode(), bytes(value))
    return _encode(dataset[tag].value, expected, charsets)


def _encode(value: object, expected: str, charsets: list[str]) -> bytes:
    """Encode a converted value as the walker stores it (text, or ``<H`` for US)."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    values: Iterable[object] = value if isinstance(value, MultiValue | list | tuple) else (value,)
    if expected == "US":
        numbers = []
        for number in values:
            try:
                numbers.append(int(str(number)) & 0xFFFF)
            except ValueError:
                continue
        return struct.pack(f"<{len(numbers)}H", *numbers)
    if expected == "PN":
        parts = []
        for name in values:
            if isinstance(name, PersonName):
                try:
                    parts.append(name.original_string or name.encode(charsets))
                except (LookupError, UnicodeError, ValueError):
                    parts.append(str(name).encode("utf-8"))
            else:
                parts.append(str(name).encode("utf-8"))
        return b"\\".join(parts)
    return "\\".join(str(part) for part in values).encode("utf-8")


def _charsets(dataset: Dataset) -> list[str]:
    element = dataset.get(SPECIFIC_CHARACTER_SET)
    value = element.value if isinstance(element, DataElement) else None
    if value is None:
        return ["iso8859"]
    names = [str(v) for v in value] if isinstance(value, MultiValue | list) else [str(value)]
    return pydicom.charset.convert_encodings(names)


def _text(element: DataElement | None) -> str | None:
    if element is None or element.value is None:
        return None
    return str(element.value).strip(" \0") or None
