"""Deflated data sets received over C-STORE, measured before anything inflates them.

A Deflated Explicit VR Little Endian data set of 2 MB can inflate to 2 GiB.  The server
stores what it receives as it came, but pydicom inflates such a data set whole, in one
``zlib.decompress``, wherever it decodes it: when a C-MOVE or C-GET sends the object on,
when a duplicate is compared.  :func:`inflates_within` runs the raw deflate stream
(PS3.5 A.5: RFC 1951, no zlib header) through the inflater in pieces, keeping none of them,
and stops as soon as the count passes the bound: an object past it is refused before it is
written, at the cost of one piece of memory.
"""

from __future__ import annotations

import zlib
from typing import Final

DEFLATED_EXPLICIT_VR_LE: Final = "1.2.840.10008.1.2.1.99"
#: Bytes inflated at a time.
_PIECE: Final = 1 << 20


def inflates_within(data: bytes, limit: int) -> bool:
    """Whether the raw deflate stream ``data`` inflates to at most ``limit`` bytes.

    Raises ``zlib.error`` when the stream is damaged.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    pending = data
    while True:
        piece = inflater.decompress(pending, _PIECE)
        total += len(piece)
        if total > limit:
            return False
        pending = inflater.unconsumed_tail
        if inflater.eof or not (pending or piece):  # the end, or nothing more comes out
            return True
