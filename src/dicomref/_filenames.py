"""File names of any bytes: kept exactly in the catalog, shown readably.

On Linux a file name is bytes, not text: ``caf\\xe9.dcm`` (Latin-1) is a valid name that is
not valid UTF-8.  Python hands such a name over as a ``str`` holding a lone surrogate per
undecodable byte (``'caf\\udce9.dcm'``, PEP 383 "surrogateescape"), which ``open`` takes
back, but which no UTF-8 text column, JSON document or terminal can hold.  So:

* :func:`stored_path` / :func:`os_path`: the catalog keeps each surrogate as the
  noncharacter U+FDD0 followed by its four hex digits (and a U+FDD0 of the name itself
  doubled), valid UTF-8 for SQLite and PostgreSQL alike, and turned back into the exact name
  when read.  Names of valid UTF-8 without U+FDD0 (all real ones) are stored as they are.
* :func:`printable_path`: for people, each undecodable byte as ``\\xe9``, control characters
  as ``\\n``, ``\\t``, ``\\x1b``, and a backslash as ``\\\\`` (so that the form stays lossless):
  one line, whatever the name holds.
* JSON (:func:`json_safe`): a lone surrogate as its ``\\udce9`` escape, which is valid JSON
  and which Python's ``json.loads`` turns back into the name ``open`` takes.
"""

from __future__ import annotations

import re
from typing import Final

#: The escape of the stored form: a noncharacter (Unicode reserves them for internal use).
MARK: Final = "\ufdd0"
_TO_STORE: Final = re.compile("[\ud800-\udfff\ufdd0]")
_STORED: Final = re.compile("\ufdd0(\ufdd0|[0-9a-f]{4})")
_SURROGATES: Final = re.compile("[\ud800-\udfff]")
#: What printable_path escapes: surrogates, C0 and C1 controls, DEL, backslash.
_UNPRINTABLE: Final = re.compile("[\ud800-\udfff\x00-\x1f\x7f-\x9f\\\\]")
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _store_one(match: re.Match[str]) -> str:
    char = match.group()
    return MARK + MARK if char == MARK else f"{MARK}{ord(char):04x}"


def _os_one(match: re.Match[str]) -> str:
    code = match.group(1)
    return MARK if code == MARK else chr(int(code, 16))


def stored_path(path: str) -> str:
    """``path`` as the catalog stores it: valid UTF-8 text, reversible by :func:`os_path`."""
    if path.isascii():
        return path
    return _TO_STORE.sub(_store_one, path)


def os_path(stored: str) -> str:
    """The path :func:`stored_path` stored as ``stored``, exactly."""
    if stored.isascii() or MARK not in stored:
        return stored
    return _STORED.sub(_os_one, stored)


def _printable_one(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code > 0xFF:  # another lone surrogate
        return f"\\u{code:04x}"
    return f"\\x{code:02x}"


def printable_path(path: object) -> str:
    """``path`` (a str or an os.PathLike) for a message or a line of output: undecodable
    bytes, control characters and backslashes backslash-escaped, the rest as it is."""
    text = str(path)
    if text.isprintable() and "\\" not in text:
        return text
    return _UNPRINTABLE.sub(_printable_one, text)


def json_safe(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with each lone surrogate
    written as its ``\\uXXXX`` escape, so that it can be written as UTF-8."""
    if text.isascii():
        return text
    return _SURROGATES.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
