"""Bounds on what reading one file may cost, whatever the file claims.

A file is input from anywhere: a 3 MB Deflated file can inflate to 3 GiB, and a 2-byte
length field can claim a value of 4 GiB.  :class:`ReadLimits` says how much the reader gives
one file; a file past a bound fails alone with :class:`~dicomref.errors.ReadLimitError`
(naming the file, the limit and its value), and a scan goes on with the next file.  The
defaults are far above anything real data needs: a header walk reads no pixel data, and the
largest real structure sets measured here are tens of MB.

The server reuses both: ``ReadLimits`` for what it accepts over C-STORE, ``ReadLimitError``
to refuse an object that passes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MIB: Final = 1 << 20
#: Bytes a Deflated file's data set may inflate to, up to its pixel data.
DEFAULT_MAX_INFLATED: Final = 256 * MIB
#: Bytes of one value the reader keeps (a UID, a name, a list of frame numbers …).
DEFAULT_MAX_VALUE: Final = 16 * MIB
#: Characters of one instance's DICOM JSON metadata (a 27 MB structure set gives 91 MB).
DEFAULT_MAX_METADATA: Final = 1024 * MIB


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """How much reading one file's header may take.

    ``max_inflated``: bytes the data set of a Deflated Explicit VR Little Endian file may
    inflate to before its header has been read (inflating stops there: a deflate bomb
    costs at most this much memory).  ``max_value``: bytes of any single value the reader
    keeps.  ``max_metadata``: characters of one instance's DICOM JSON metadata
    (:mod:`._json`) read before the instance is refused.  All must be positive.
    """

    max_inflated: int = DEFAULT_MAX_INFLATED
    max_value: int = DEFAULT_MAX_VALUE
    max_metadata: int = DEFAULT_MAX_METADATA

    def __post_init__(self) -> None:
        for name in ("max_inflated", "max_value", "max_metadata"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ReadLimits.{name} must be a positive number of bytes")


#: The limits used when none are given.
DEFAULT_LIMITS: Final = ReadLimits()


def describe_bytes(count: int) -> str:
    """``count`` bytes for a message: ``512 MiB``, ``1,000 bytes``."""
    if count >= MIB and count % MIB == 0:
        return f"{count // MIB:,} MiB"
    return f"{count:,} bytes"
