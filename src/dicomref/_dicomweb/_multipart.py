"""Reading a ``multipart/related`` answer (RFC 2046 §5.1, PS3.18 §8.6.1.2) as it streams.

:func:`iter_parts` takes the body as an iterator of byte chunks (httpx's
``Response.iter_bytes()``) and yields each part as soon as its closing delimiter has
arrived: one part in memory at a time, never the whole answer.  A part's
``Content-Length``, when given and confirmed by the delimiter after it, spares scanning
its body for the delimiter.  The (short) epilogue is
read to the end, so that a keep-alive connection is reused.  A part larger than
``max_part`` bytes, headers larger than :data:`MAX_HEADERS`, or a body that ends before
the closing delimiter raise :class:`MultipartError` (the caller names the server and the
request).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_PART: Final = 1 << 30
"""Largest part accepted by default (1 GiB): one DICOM object of a WADO-RS answer."""
MAX_HEADERS: Final = 16 * 1024
"""Largest header block of a part, and largest preamble, in bytes."""
_CRLF: Final = b"\r\n"
_BLANK_LINE: Final = b"\r\n\r\n"


class MultipartError(ValueError):
    """The body is not the ``multipart/related`` answer it claims to be, or a part is
    larger than allowed.  ``received``: bytes read so far."""

    def __init__(self, message: str, received: int) -> None:
        self.received = received
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Part:
    """One body part: its headers (names in lower case) and its bytes."""

    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def __repr__(self) -> str:
        return f"<Part {self.content_type or 'untyped'} {len(self.body)} bytes>"


def boundary_of(params: Mapping[str, str]) -> str:
    """The ``boundary`` parameter of a ``Content-Type``; ValueError when absent or invalid."""
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 70:
        raise ValueError("a multipart answer without a valid boundary parameter")
    return boundary


class _Stream:
    """A growing buffer over the chunk iterator; counts what was read."""

    __slots__ = ("buffer", "chunks", "received")

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.buffer = bytearray()
        self.received = 0

    def more(self) -> bool:
        for chunk in self.chunks:
            if chunk:
                self.buffer += chunk
                self.received += len(chunk)
                return True
        return False

    def find(self, marker: bytes, start: int, limit: int, what: str) -> int:
        """Index of ``marker`` at or after ``start``, reading more as needed; MultipartError
        when ``limit`` bytes from ``start`` pass without it, or the body ends."""
        scan = start
        while True:
            found = self.buffer.find(marker, scan)
            if found >= 0:
                if found - start > limit:
                    break
                return found
            if len(self.buffer) - start > limit + len(marker):
                break
            scan = max(start, len(self.buffer) - len(marker) + 1)
            if not self.more():
                raise MultipartError(
                    f"the answer ended inside {what} (after {self.received} bytes): "
                    "the server closed the connection early",
                    self.received,
                )
        raise MultipartError(f"{what} is larger than {limit} bytes", self.received)

    def need(self, count: int, what: str) -> None:
        while len(self.buffer) < count:
            if not self.more():
                raise MultipartError(
                    f"the answer ended inside {what} (after {self.received} bytes)", self.received
                )


def iter_parts(
    chunks: Iterable[bytes], boundary: str, *, max_part: int = DEFAULT_MAX_PART
) -> Iterator[Part]:
    """Each part of the multipart body ``chunks`` delimited by ``boundary``, in order."""
    stream = _Stream(chunks)
    delimiter = b"--" + boundary.encode("ascii")
    next_delimiter = _CRLF + delimiter
    start = stream.find(delimiter, 0, MAX_HEADERS, "the preamble")
    while True:
        after = start + len(delimiter)
        stream.need(after + 2, "a delimiter")
        if stream.buffer[after : after + 2] == b"--":
            _drain(stream)
            return
        line_end = stream.find(_CRLF, after, 256, "the line of a delimiter")
        if stream.buffer[after:line_end].strip(b" \t"):
            raise MultipartError(
                "a delimiter line holds more than the boundary: not the boundary the "
                "Content-Type names",
                stream.received,
            )
        headers_end = stream.find(_BLANK_LINE, line_end, MAX_HEADERS, "the headers of a part")
        headers = _headers(bytes(stream.buffer[line_end + 2 : headers_end]), stream.received)
        body_start = headers_end + 4
        body_end = _declared_end(stream, headers, body_start, next_delimiter, max_part)
        if body_end < 0:
            body_end = stream.find(next_delimiter, body_start, max_part, "a part")
        with memoryview(stream.buffer) as view:
            body = bytes(view[body_start:body_end])  # one copy, not two
        del stream.buffer[: body_end + 2]
        start = 0
        yield Part(headers, body)


def _declared_end(
    stream: _Stream, headers: dict[str, str], start: int, delimiter: bytes, max_part: int
) -> int:
    """Where the part ends by its Content-Length, if it has one and the delimiter is
    indeed there (no scan of the body); -1 otherwise (the body is then scanned)."""
    declared = headers.get("content-length", "")
    if not declared.isdigit():
        return -1
    length = int(declared)
    if length > max_part:
        raise MultipartError(f"a part is larger than {max_part} bytes", stream.received)
    end = start + length
    try:
        stream.need(end + len(delimiter), "a part")
    except MultipartError:
        return -1  # let the scan say what is wrong
    return end if stream.buffer[end : end + len(delimiter)] == delimiter else -1


def _drain(stream: _Stream) -> None:
    """Read the epilogue after the close delimiter to the end of the body (up to
    :data:`MAX_HEADERS` bytes), so that the connection can carry the next request; a
    longer epilogue is left unread (the connection is then closed, not reused)."""
    epilogue = len(stream.buffer)
    stream.buffer.clear()
    while epilogue <= MAX_HEADERS and stream.more():
        epilogue += len(stream.buffer)
        stream.buffer.clear()


def _headers(block: bytes, received: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(_CRLF):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise MultipartError(f"a part header is not 'Name: value': {line[:80]!r}", received)
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers
