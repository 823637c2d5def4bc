"""Series metadata: a JSON array of instances, read one instance at a time.

WADO-RS series and study metadata is one JSON array holding every instance's dataset.
:func:`read_json_series` reads it as it arrives: from the whole text, or from the chunks of
an HTTP response (``response.iter_bytes()``), decoding each instance with
:meth:`json.JSONDecoder.raw_decode` as soon as its closing brace has arrived, so memory
holds one instance (not the series) beyond what the caller holds.  Each instance gives a
:class:`JsonInstance`, its summary or its error: a malformed instance (no SOP Instance
UID, a value that is not DICOM JSON, a value past a limit) is reported alone, naming its
index and SOP Instance UID, and the others are read.  Only text that is not JSON at all
ends the reading, with a last :class:`JsonInstance` saying where (what follows cannot be
told apart from the broken instance).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from dicomref.errors import DicomReadError, ReadLimitError
from dicomref.extraction._json import (
    MALFORMED,
    kind,
    nested_too_deeply,
    read_json,
    sop_instance_of,
)
from dicomref.extraction._limits import DEFAULT_LIMITS, ReadLimits, describe_bytes
from dicomref.model import ObjectSummary

_WHITESPACE: Final = " \t\n\r"
#: What may follow a value in an array: a number is whole only once one of them is held.
_SEPARATORS: Final = frozenset(_WHITESPACE + ",]")
#: Characters of a number's end that may still be to come ("e+226"): read to be sure.
_NUMBER_TAIL: Final = 8
#: Characters asked of the source at least when an instance is still incomplete (then twice
#: what is held: an instance of n characters is decoded O(log n) times, O(n) in all).
_STEP: Final = 1 << 12


@dataclass(frozen=True, slots=True)
class JsonInstance:
    """One instance of series metadata: its ``index`` in the array, and either its
    ``summary`` or the ``error`` that kept it from being read (the other is None)."""

    index: int
    summary: ObjectSummary | None = None
    error: DicomReadError | None = None


def read_json_series(
    document: bytes | str | Mapping[str, Any] | Iterable[bytes] | Iterable[Mapping[str, Any]],
    *,
    source: str,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Iterator[JsonInstance]:
    """Each instance of series (or study) metadata, in order, as it is read.

    ``document`` is the JSON text (bytes or str), an iterable of its chunks (bytes, UTF-8,
    split anywhere), or the already parsed array (an iterable of mappings).  A single JSON
    object is taken as a series of one, and no text at all (an HTTP 204) as a series of none.
    Each instance's ``summary.path`` is
    ``source[index]``; errors name ``source``, the index and the SOP Instance UID where it
    can be read.  Never raises for bad input: every problem is a :class:`JsonInstance`'s
    ``error``.  An instance's text longer than ``limits.max_metadata`` characters ends the
    reading with a :class:`~dicomref.errors.ReadLimitError`.
    """
    if isinstance(document, Mapping):
        yield _instance(document, 0, source, limits)
        return
    if isinstance(document, str):
        chunks: Iterator[bytes | str] = iter((document,))
    elif isinstance(document, bytes | bytearray | memoryview):
        chunks = iter((bytes(document),))
    else:
        parts = iter(document)
        first = next(parts, None)
        if first is None:
            return
        if isinstance(first, Mapping):
            yield _instance(first, 0, source, limits)
            for index, dataset in enumerate(parts, 1):
                yield _instance(dataset, index, source, limits)
            return
        chunks = _chained(first, parts)
    yield from _Stream(chunks, source, limits).instances()


def _chained(first: object, rest: Iterator[Any]) -> Iterator[bytes | str]:
    yield _chunk(first)
    for part in rest:
        yield _chunk(part)


def _chunk(part: object) -> bytes | str:
    if isinstance(part, bytes | str):
        return part
    if isinstance(part, bytearray | memoryview):
        return bytes(part)
    raise TypeError(
        f"read_json_series: chunks must be bytes, not {type(part).__name__} (or pass the "
        "parsed array: an iterable of mappings)"
    )


def _label(source: str, index: int) -> str:
    return f"{source}[{index}]"


def _instance(dataset: object, index: int, source: str, limits: ReadLimits) -> JsonInstance:
    """Read one parsed instance; its error, if any, names the index and the SOP UID."""
    label = _label(source, index)
    if not isinstance(dataset, Mapping):
        return JsonInstance(index, error=read_error(label, dataset))
    try:
        return JsonInstance(index, summary=read_json(dataset, source=label, limits=limits))
    except DicomReadError as exc:
        sop = sop_instance_of(dataset)
        if sop is None:
            return JsonInstance(index, error=exc)
        return JsonInstance(index, error=_renamed(exc, f"{label} (SOP Instance UID {sop})"))


def read_error(label: str, value: object) -> DicomReadError:
    """The error for an array entry that is not an instance's object."""
    return DicomReadError(
        label, f"the instance is a JSON {kind(value)}, not an object: {MALFORMED}"
    )


def _renamed(exc: DicomReadError, label: str) -> DicomReadError:
    """``exc`` (of the same class) naming ``label`` instead of its path."""
    if isinstance(exc, ReadLimitError):
        return ReadLimitError(
            label, exc.reason, limit=exc.limit, bound=exc.bound, offset=exc.offset, tag=exc.tag
        )
    return type(exc)(label, exc.reason, offset=exc.offset, tag=exc.tag)


class _Stream:
    """The text of a JSON array arriving in chunks, read an instance at a time."""

    def __init__(self, chunks: Iterator[bytes | str], source: str, limits: ReadLimits) -> None:
        self.chunks = chunks
        self.source = source
        self.limits = limits
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.text = ""
        self.pos = 0
        self.done = False
        self.consumed = 0  # characters dropped from the front of ``text``
        self.undecodable: UnicodeDecodeError | None = None  # bytes that are not UTF-8 met
        self.json = json.JSONDecoder()

    def more(self, need: int) -> bool:
        """Read until ``need`` characters more than are held have arrived (or the end).

        False when nothing was added (the source is exhausted).
        """
        if self.pos:
            self.consumed += self.pos
            self.text, self.pos = self.text[self.pos :], 0
        start = len(self.text)
        parts = [self.text]
        held, need = start, start + need
        while not self.done and held < need:
            chunk = next(self.chunks, None)
            try:
                if chunk is None:
                    self.done = True
                    parts.append(self.decoder.decode(b"", final=True))
                elif isinstance(chunk, str):
                    parts.append(chunk)
                else:
                    parts.append(self.decoder.decode(chunk))
            except UnicodeDecodeError as exc:  # what came before is still read
                # exc.object: the bytes the decoder held and was given (no BOM); the start of
                # the bad bytes ends the text that is read
                parts.append(bytes(exc.object[: exc.start]).decode("utf-8"))
                self.undecodable, self.done = exc, True
                break
            held += len(parts[-1])
        self.text = "".join(parts)
        return len(self.text) > start

    def skip_space(self) -> str:
        """The next character that is not whitespace, not consumed: '' at the end of the
        text, U+FFFD where bytes that are not UTF-8 ended it (text that is not JSON, which
        :meth:`fatal` then names for what it is)."""
        while True:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(text):
                return text[pos]
            if not self.more(1):
                return "" if self.undecodable is None else "\ufffd"

    def instances(self) -> Iterator[JsonInstance]:
        index = 0
        try:
            first = self.skip_space()
            if first == "{":  # one instance, not in an array
                yield self.next_instance(0)
                if self.skip_space():
                    yield self.fatal(1, "text follows the instance's object")
                return
            if first == "":  # no text (an HTTP 204, or no chunks): no instances
                return
            if first != "[":
                yield self.fatal(0, f"it starts with {first!r}, not a JSON array of instances")
                return
            self.pos += 1
            if self.skip_space() == "]":
                self.pos += 1
            else:
                while True:
                    yield self.next_instance(index)
                    index += 1
                    after = self.skip_space()
                    if after == "]":
                        self.pos += 1
                        break
                    if after != ",":
                        shown = "the end of the text" if after == "" else repr(after)
                        yield self.fatal(index, f"{shown} follows an instance, not ',' or ']'")
                        return
                    self.pos += 1
                    self.skip_space()
            if self.skip_space():
                yield self.fatal(index, "text follows the array of instances")
        except _FatalError as fatal:
            yield fatal.instance

    def next_instance(self, index: int) -> JsonInstance:
        """Decode the value at ``pos`` (reading more while it is incomplete) and read it."""
        cap = self.limits.max_metadata
        while True:
            try:
                value, end = self.json.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                held = len(self.text) - self.pos
                if held > cap:
                    raise _FatalError(self.too_long(index)) from None
                if self.done or not self.more(max(held, _STEP)):
                    raise _FatalError(self.fatal(index, _syntax(exc, self.consumed))) from None
                continue
            except ValueError as exc:  # an integer of more digits than Python converts
                raise _FatalError(self.fatal(index, str(exc))) from None
            except RecursionError:
                raise _FatalError(
                    JsonInstance(index, error=nested_too_deeply(_label(self.source, index)))
                ) from None
            if (
                not isinstance(value, dict | list | str)
                and not self.done
                and len(self.text) - end < _NUMBER_TAIL
                and not _SEPARATORS.intersection(self.text[end:])
                and self.more(_NUMBER_TAIL)
            ):
                continue  # a number cut by the chunk's end ("1.5e") may go on in the next
            if end - self.pos > cap:
                raise _FatalError(self.too_long(index))
            self.pos = end
            return _instance(value, index, self.source, self.limits)

    def fatal(self, index: int, reason: str) -> JsonInstance:
        if self.undecodable is not None:
            reason = f"it is not UTF-8 text: {self.undecodable.reason}"
        return JsonInstance(
            index,
            error=DicomReadError(
                _label(self.source, index),
                f"the series metadata is not JSON from here on ({reason}): this instance and "
                "any after it are not read",
            ),
        )

    def too_long(self, index: int) -> JsonInstance:
        bound = self.limits.max_metadata
        return JsonInstance(
            index,
            error=ReadLimitError(
                _label(self.source, index),
                f"its metadata runs past the {describe_bytes(bound)} dicomref reads of one "
                "instance's metadata (ReadLimits.max_metadata): it and any instance after it "
                "are not read",
                limit="max_metadata",
                bound=bound,
            ),
        )


class _FatalError(Exception):
    """The stream cannot go on: ``instance`` is the last thing to report."""

    def __init__(self, instance: JsonInstance) -> None:
        super().__init__(str(instance.error))
        self.instance = instance


def _syntax(exc: json.JSONDecodeError, consumed: int) -> str:
    return f"{exc.msg} at character {consumed + exc.pos:,}"
