"""DICOM JSON (PS3.18 F.2) as a light tree: DICOMweb metadata read as files are read.

A DICOMweb server's instance metadata carries every sequence, so what an object references
can be read from it without the object.  :func:`tree_from_json` walks the raw dicts that
``json.loads`` gives (never :meth:`pydicom.Dataset.from_json`: on a 91 MB structure set's
metadata that takes 28 s, this walk tens of milliseconds) into the light tree of
:mod:`._tree`, holding what the header walker would hold for the same object in a file:

* a wanted tag (:data:`~._tree.WANTED`) as the bytes the file would have stored: text
  values joined by backslashes (non-ASCII text encoded in the object's Specific Character
  Set, as the file held it), numbers written as decimal text for IS and DS and packed
  little endian for US, person names as ``Alphabetic=Ideographic=Phonetic``,
  ``InlineBinary`` decoded and normalised as the walker normalises a value in another VR;
* every sequence (``"vr": "SQ"``, private ones included) as its list of items, and a
  ``UN`` (or private binary) ``InlineBinary`` value that holds items, read as the walker
  reads such bytes;
* top-level elements after the pixel data left out, as the walker stops there.

``BulkDataURI`` values are never fetched: a wanted value given only by one is absent.
Tags may be upper or lower case and in any order; a missing or empty ``Value`` is an empty
value.  What the metadata cannot be (a key that is not 8 hex digits, an element that is not
an object, a ``Value`` that is not a list, a sequence item that is not an object, a string
where a wanted value holds an object …) raises :class:`~dicomref.errors.DicomReadError`
naming the source, the tag and the sequence path to it; a wanted value longer than
:attr:`~._limits.ReadLimits.max_value` and sequences nested deeper than
:data:`~._tree.MAX_DEPTH` raise :class:`~dicomref.errors.ReadLimitError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from collections.abc import Callable, Mapping
from typing import Any, Final

from pydicom.charset import convert_encodings, encode_string
from pydicom.valuerep import PersonName

from dicomref.errors import DicomReadError, ReadLimitError
from dicomref.extraction._limits import DEFAULT_LIMITS, ReadLimits, describe_bytes
from dicomref.extraction._pydicom_warnings import recorded, report
from dicomref.extraction._summary import summarise
from dicomref.extraction._tree import (
    MAX_DEPTH,
    PIXEL_TAGS,
    SEQUENCE_TAGS,
    SOP_INSTANCE_UID,
    SPECIFIC_CHARACTER_SET,
    WANTED,
    Item,
    describe,
    keyword,
)
from dicomref.extraction._uids import UidCheck, check_uid
from dicomref.extraction._values import normalise
from dicomref.extraction._walker import parse_sequence_value
from dicomref.model import ObjectSummary

#: File Meta elements a server may include in metadata (read for the summary only).
TRANSFER_SYNTAX_KEY: Final = "00020010"
MEDIA_CLASS_KEY: Final = "00020002"

#: What to tell the reader of an error about malformed metadata.
MALFORMED: Final = (
    "the metadata does not follow DICOM JSON (PS3.18 F.2): read the object itself instead"
)
_ITEM_START: Final = b"\xfe\xff\x00\xe0"
_FIRST_PIXEL_TAG: Final = min(PIXEL_TAGS)
_NUMBER_VRS: Final = frozenset({"US", "SS", "UL", "SL", "IS", "DS"})
_BINARY_NUMBER_VRS: Final = frozenset({"US", "SS", "UL", "SL"})
_PN_GROUPS: Final = ("Alphabetic", "Ideographic", "Phonetic")


class _MalformedError(Exception):
    """Malformed metadata met inside the walk: becomes a DicomReadError naming where."""

    def __init__(self, reason: str, tag: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tag = tag
        self.where: list[str] = []  # innermost first

    def inside(self, tag: int, index: int) -> None:
        self.where.append(f"{keyword(tag)}[{index}]")

    def error(self, label: str) -> DicomReadError:
        place = f" in {'.'.join(reversed(self.where))}" if self.where else ""
        return DicomReadError(
            label,
            f"{self.reason}{place}: {MALFORMED}",
            tag=None if self.tag is None else describe(self.tag),
        )


#: Keys already parsed: a tag, or -1 for a key that is not one (a structure set repeats a
#: handful of keys hundreds of thousands of times).
_KEYS: dict[str, int] = {}
_MAX_KEYS: Final = 1 << 16
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def _tag(key: str) -> int:
    tag = _KEYS.get(key)
    if tag is None:
        ok = type(key) is str and len(key) == 8 and _HEX.issuperset(key)
        tag = int(key, 16) if ok else -1
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        _KEYS[key] = tag
    return tag


def parse(text: bytes | str, label: str, limits: ReadLimits = DEFAULT_LIMITS) -> Any:
    """``json.loads(text)``, its errors as :class:`DicomReadError` naming ``label``."""
    if len(text) > limits.max_metadata:
        raise ReadLimitError(
            label,
            f"its metadata is {len(text):,} bytes long, more than the "
            f"{describe_bytes(limits.max_metadata)} dicomref reads of one instance's metadata "
            "(ReadLimits.max_metadata)",
            limit="max_metadata",
            bound=limits.max_metadata,
        )
    try:
        # DICOM JSON is UTF-8 (PS3.18 F.1): no guessing of UTF-16 or UTF-32 from the bytes.
        return json.loads(text.decode("utf-8-sig") if isinstance(text, bytes) else text)
    except RecursionError as exc:
        raise nested_too_deeply(label) from exc
    except UnicodeDecodeError as exc:
        raise DicomReadError(
            label, f"its metadata is not UTF-8 text ({exc.reason} at byte {exc.start:,})"
        ) from exc
    except json.JSONDecodeError as exc:
        raise DicomReadError(
            label,
            f"its metadata is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}, "
            f"character {exc.pos:,}): the answer was cut short or is not DICOM JSON",
        ) from exc
    except ValueError as exc:  # an integer of more digits than Python converts (4,300)
        raise DicomReadError(
            label, f"its metadata holds a number dicomref does not read ({exc})"
        ) from exc


def nested_too_deeply(label: str) -> ReadLimitError:
    return ReadLimitError(
        label,
        f"its metadata nests sequences deeper than the {MAX_DEPTH} levels dicomref reads "
        "(real objects stay below 20): it is damaged or deliberately malformed",
        limit="max_depth",
        bound=MAX_DEPTH,
    )


def tree_from_json(
    dataset: Mapping[str, Any], label: str, limits: ReadLimits = DEFAULT_LIMITS
) -> tuple[str | None, str | None, Item]:
    """(transfer syntax, media storage SOP class, light tree) of one instance's metadata.

    The first two come from the File Meta elements where the server includes them (most do
    not: None).  ``label`` names the instance in errors (see the module docstring).
    """
    if not isinstance(dataset, dict):
        dataset = dict(dataset)
    walk = _Walk(label, limits, dataset)
    try:
        tree = walk.item(dataset, 0)
    except _MalformedError as problem:
        raise problem.error(label) from None
    except RecursionError as exc:  # a Mapping deeper than any JSON parser gives: refused
        raise nested_too_deeply(label) from exc
    if tree and max(tree) > _FIRST_PIXEL_TAG:
        pixels = [t for t in map(_tag, dataset) if t in PIXEL_TAGS]
        if pixels:  # the walker stops at the pixel data: what follows it is not read
            stop = min(pixels)
            tree = {tag: value for tag, value in tree.items() if tag < stop}
    return _meta_uid(dataset, TRANSFER_SYNTAX_KEY), _meta_uid(dataset, MEDIA_CLASS_KEY), tree


def sop_instance_of(dataset: object) -> str | None:
    """The SOPInstanceUID of an instance's metadata, for messages: None unless it is a UID."""
    if not isinstance(dataset, Mapping):
        return None
    element = dataset.get(f"{SOP_INSTANCE_UID:08X}")
    values = element.get("Value") if isinstance(element, Mapping) else None
    if isinstance(values, list) and values and isinstance(values[0], str):
        value = values[0].strip(" \0")
        if value and check_uid[value] is not UidCheck.INVALID:
            return value
    return None


def _meta_uid(dataset: Mapping[str, Any], key: str) -> str | None:
    element = dataset.get(key)
    values = element.get("Value") if isinstance(element, dict) else None
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str):
        value = values[0].strip(" \0")
        if value and check_uid[value] is UidCheck.OK:
            return value
    return None


class _Walk:
    """One instance's walk: where errors point, the limits, the character sets."""

    __slots__ = ("_encodings", "charsets", "label", "max_value")

    def __init__(self, label: str, limits: ReadLimits, dataset: dict[str, Any]) -> None:
        self.label = label
        self.max_value = limits.max_value
        element = dataset.get(f"{SPECIFIC_CHARACTER_SET:08X}")
        values = element.get("Value") if isinstance(element, dict) else None
        self.charsets = (
            [v.strip() if isinstance(v, str) else "" for v in values]
            if isinstance(values, list)
            else []
        )
        self._encodings: list[str] | None = None

    def item(self, obj: dict[str, Any], depth: int) -> Item:
        """The light tree of one dataset or sequence item at ``depth`` (0: top level)."""
        out: Item = {}
        keys, wanted = _KEYS, WANTED
        for key, element in obj.items():
            tag = keys.get(key)
            if tag is None:
                tag = _tag(key)
            if tag < 0:
                raise _MalformedError(
                    f"the key {str(key)[:40]!r} is not a tag (8 hex digits)", None
                )
            if not isinstance(element, dict):
                raise _MalformedError(f"the element is a JSON {kind(element)}, not an object", tag)
            vr = element.get("vr")
            if vr == "SQ" or (vr is None and tag in SEQUENCE_TAGS and tag not in wanted):
                out[tag] = self.sequence(tag, element, depth + 1)
            elif tag in wanted:
                value = self.leaf(tag, vr, element)
                if value is not None:
                    out[tag] = value
            elif (tag in SEQUENCE_TAGS or (tag >> 16) & 1) and "InlineBinary" in element:
                items = self.binary_items(tag, element)
                if items is not None:
                    out[tag] = items
        return out

    def sequence(self, tag: int, element: dict[str, Any], depth: int) -> list[Item]:
        """The items of a sequence element whose items sit at ``depth``."""
        if depth > MAX_DEPTH:
            raise nested_too_deeply(self.label)
        values = element.get("Value")
        if values is None:
            return []
        if not isinstance(values, list):
            raise _MalformedError(
                f"the sequence's Value is a JSON {kind(values)}, not an array", tag
            )
        items = []
        item = self.item
        for index, child in enumerate(values):
            if not isinstance(child, dict):
                raise _MalformedError(
                    f"item {index} of the sequence is a JSON {kind(child)}, not an object", tag
                )
            try:
                items.append(item(child, depth))
            except _MalformedError as problem:
                problem.inside(tag, index)
                raise
        return items

    def binary_items(self, tag: int, element: dict[str, Any]) -> list[Item] | None:
        """A UN (or private binary) value holding items, read as the walker reads it."""
        inline = element.get("InlineBinary")
        if not isinstance(inline, str) or not inline.startswith("/v8A4"):  # FE FF 00 E0
            return None
        value = self.decoded(tag, inline)
        if value is None or len(value) < 8 or not value.startswith(_ITEM_START):
            return None
        return parse_sequence_value(value, f"{self.label} {describe(tag)}")

    def decoded(self, tag: int, inline: str) -> bytes | None:
        """The bytes of an InlineBinary value; None if it is not base64."""
        if len(inline) // 4 * 3 > self.max_value:
            raise self.too_long(tag, len(inline) // 4 * 3)
        try:
            return base64.b64decode(inline, validate=True)
        except (binascii.Error, ValueError):
            return None

    def leaf(self, tag: int, vr: object, element: dict[str, Any]) -> bytes | None:
        """The bytes the file would hold for wanted ``tag``; None for a BulkDataURI."""
        expected = WANTED[tag]
        values = element.get("Value")
        if values is None:
            inline = element.get("InlineBinary")
            if inline is not None:
                raw = self.decoded(tag, inline) if isinstance(inline, str) else None
                if raw is None:
                    raise _MalformedError("its InlineBinary is not base64 text", tag)
                if isinstance(vr, str) and vr != expected and vr in _NUMBER_VRS:
                    return normalise(expected.encode(), vr.encode(), raw)
                return raw
            return None if "BulkDataURI" in element else b""
        if not isinstance(values, list):
            raise _MalformedError(f"its Value is a JSON {kind(values)}, not an array", tag)
        if expected == "US":
            return _unsigned_shorts(values)
        if expected == "PN":
            text = "\\".join([_person_name(tag, v) for v in values])
        elif len(values) == 1 and type(values[0]) is str:  # most values: one string
            text = values[0]
        else:
            convert = _NUMBER_TEXT.get(expected, _number_text)
            text = "\\".join([_text(tag, v, convert) for v in values])
        if len(text) > self.max_value:
            raise self.too_long(tag, len(text))
        if text.isascii():
            return text.encode("ascii")
        encoded = self.encoded(text, expected == "PN")
        if len(encoded) > self.max_value:
            raise self.too_long(tag, len(encoded))
        return encoded

    def encoded(self, text: str, name: bool) -> bytes:
        """Non-ASCII ``text`` in the object's character sets, as the file held it."""
        chosen = self.encodings()
        call: Callable[[], bytes]
        if name:
            call = lambda: b"\\".join(  # noqa: E731
                PersonName(part).encode(chosen) for part in text.split("\\")
            )
        else:
            call = lambda: encode_string(text, chosen)  # noqa: E731
        try:
            encoded, notes = recorded(call)
        except (LookupError, UnicodeError, ValueError):
            return text.encode("utf-8", "replace")
        report(self.label, notes)
        return encoded

    def encodings(self) -> list[str]:
        """Python's names of the object's character sets (found once per instance)."""
        if self._encodings is None:
            charsets = self.charsets or [""]
            notes: tuple[str, ...] = ()
            try:
                found, notes = recorded(lambda: convert_encodings(charsets))
            except (LookupError, ValueError):
                found = ["iso8859"]
            report(self.label, notes)
            self._encodings = found
        return self._encodings

    def too_long(self, tag: int, length: int) -> ReadLimitError:
        bound = self.max_value
        return ReadLimitError(
            self.label,
            f"its value holds {length:,} bytes, more than the {describe_bytes(bound)} "
            "dicomref reads of one value (ReadLimits.max_value): the metadata is damaged or "
            "deliberately malformed",
            limit="max_value",
            bound=bound,
            tag=describe(tag),
        )


def kind(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _number_text(value: float) -> str:
    """A JSON number as a DS value (``repr``: exact, reads back as the same float)."""
    return repr(value) if math.isfinite(value) else str(value)


def _integer_text(value: float) -> str:
    """A JSON number as an IS value: an integral float without its ``.0``."""
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(value)


_NUMBER_TEXT: Final[dict[str, Callable[[float], str]]] = {"IS": _integer_text}


def _text(tag: int, value: object, convert: Callable[[float], str]) -> str:
    """One value of a text or number element as the file's text."""
    if isinstance(value, str):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return str(int(value))
        except ValueError:  # more digits than Python converts (4,300)
            raise _MalformedError(
                f"its Value holds an integer of {value.bit_length():,} bits", tag
            ) from None
    if isinstance(value, float):
        return convert(float(value))
    raise _MalformedError(
        f"its Value holds a JSON {kind(value)} where a string or number goes", tag
    )


def _person_name(tag: int, value: object) -> str:
    """A PN value ({"Alphabetic": …, "Ideographic": …, "Phonetic": …}) as the file's text."""
    if value is None:
        return ""
    if isinstance(value, str):  # not PS3.18, but written by some servers
        return value
    if not isinstance(value, dict):
        raise _MalformedError(f"its Value holds a JSON {kind(value)} where a person name goes", tag)
    groups = []
    for group in _PN_GROUPS:
        part = value.get(group)
        if part is None:
            part = ""
        elif not isinstance(part, str):
            raise _MalformedError(f"its {group} name is a JSON {kind(part)}, not a string", tag)
        groups.append(part)
    return "=".join(groups).rstrip("=")


def _unsigned_shorts(values: list[Any]) -> bytes:
    """US values as the file stores them (little endian); unreadable ones left out."""
    numbers = []
    for value in values:
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            numbers.append(int(value) & 0xFFFF)
            continue
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                continue
        if isinstance(value, float) and math.isfinite(value):
            numbers.append(int(value) & 0xFFFF)
    return struct.pack(f"<{len(numbers)}H", *numbers)


def read_json(
    document: Mapping[str, Any] | list[Any] | bytes | str,
    *,
    source: str,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> ObjectSummary:
    """The summary of one instance from its DICOM JSON metadata (PS3.18 F.2).

    ``document`` is the instance's dataset as parsed JSON (a mapping), or as WADO-RS
    instance metadata answers it (an array of that one mapping), or the JSON text itself
    (bytes or str).  ``source`` names it in the summary's ``path`` and in errors (a URL, a
    file name).  The summary and its references are those
    :func:`~dicomref.extraction.read_object` gives for the object's file, but ``size`` and
    ``mtime_ns``, which are 0 (metadata is not the object), and ``transfer_syntax``, which
    is the metadata's (0002,0010) where the server includes it, else None.  Raises as
    ``read_object`` does: :class:`~dicomref.errors.DicomReadError` (not JSON, not DICOM
    JSON, an identity UID missing or not a UID), :class:`~dicomref.errors.NotAnInstanceError`,
    :class:`~dicomref.errors.ReadLimitError` (past one of ``limits``).
    """
    parsed = parse(document, source, limits) if isinstance(document, bytes | str) else document
    if isinstance(parsed, list):
        if len(parsed) != 1:
            raise DicomReadError(
                source,
                f"its metadata is an array of {len(parsed):,} instances, not one: read it with "
                "read_json_series()",
            )
        parsed = parsed[0]
    if not isinstance(parsed, Mapping):
        raise DicomReadError(
            source, f"its metadata is a JSON {kind(parsed)}, not an object: {MALFORMED}"
        )
    syntax, media, tree = tree_from_json(parsed, source, limits)
    return summarise(source, 0, 0, syntax, media, tree)
