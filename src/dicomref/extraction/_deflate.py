"""Inflating a Deflated Explicit VR Little Endian data set, never past a bound.

pydicom inflates the whole rest of such a file in one ``zlib.decompress``: a 3 MB file
that inflates to 3 GiB costs 3 GiB, twice over.  Here the raw deflate stream (PS3.5 A.5:
RFC 1951, no zlib header) is read in chunks and inflated with ``max_length``, so that no
more than ``limit`` bytes ever exist; the caller learns whether the stream ended within
them.  A header walk needs only the part before the pixel data, so a real image whose
pixels inflate past the limit still reads (see ``_Walker.inflated``).
"""

from __future__ import annotations

import os
import zlib
from typing import Final

from dicomref.errors import DicomReadError

#: Compressed bytes read at a time.
CHUNK: Final = 256 * 1024


def inflate(path: str, source: int | bytes, start: int, end: int, limit: int) -> tuple[bytes, bool]:
    """Inflate the deflate stream at ``[start, end)`` of ``source`` (a file descriptor, or
    the file's bytes): (at most ``limit`` inflated bytes, whether the stream ended there)."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    parts: list[bytes] = []
    total = 0
    pos = start
    try:
        while pos < end:
            if isinstance(source, int):
                chunk = os.pread(source, min(CHUNK, end - pos), pos)
                if not chunk:
                    break  # the file shrank while being read: what was inflated is all
            else:
                chunk = source[pos : min(pos + CHUNK, end)]
            pos += len(chunk)
            while chunk:
                if total >= limit:
                    return b"".join(parts), False
                data = inflater.decompress(chunk, limit - total)
                parts.append(data)
                total += len(data)
                if inflater.eof:
                    return b"".join(parts), True
                chunk = inflater.unconsumed_tail
        parts.append(inflater.flush())
    except zlib.error as exc:
        raise DicomReadError(
            path,
            f"its deflated data set cannot be inflated ({exc}): the file is damaged — "
            "export it again from its source",
            offset=pos,
        ) from exc
    return b"".join(parts), True
