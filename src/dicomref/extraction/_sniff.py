"""Whether a file without the ``DICM`` marker claims to be DICOM at all.

A Part 10 file says what it is with ``DICM`` at byte 128.  Some writers (Elekta Monaco plans,
old ACR-NEMA exports) leave out preamble and File Meta, so the file starts with its first
data element: in group 0002 (a meta group without preamble) or 0008 (the dataset itself),
little endian, or big endian.  Two bytes are weak evidence, though: any binary file may start
with ``08 00``.  :func:`starts_with_element` asks for the whole first element header to make
sense (a known VR or an implicit length, and a length that fits in the file) and, when the
file goes on, for the next element to be in the same group or a later one.  A file that
passes claims to be DICOM, and a scan that cannot read it reports it as a failure; a file
that does not is simply not DICOM (a LICENSE text, an NRRD, a zip, a viewer's ``.exe``).
"""

from __future__ import annotations

import struct
from typing import Final, Literal

#: VRs with a 2-byte length (8-byte header).
SHORT_VRS: Final = frozenset(
    vr.encode()
    for vr in "AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US".split()  # noqa: SIM905
)
#: VRs with a 2-byte reserved field and a 4-byte length (12-byte header).
LONG_VRS: Final = frozenset(
    vr.encode()
    for vr in "OB OD OF OL OV OW SQ SV UC UN UR UT UV".split()  # noqa: SIM905
)
#: Every VR of PS3.5.
KNOWN_VRS: Final = SHORT_VRS | LONG_VRS
#: VRs whose length may be undefined (0xFFFFFFFF).
UNDEFINED_OK: Final = frozenset({b"SQ", b"UN", b"OB", b"OW"})
#: Groups the first element of a file without preamble may be in.
FIRST_GROUPS: Final = frozenset({0x0002, 0x0008})
UNDEFINED: Final = 0xFFFFFFFF


def _element(buf: bytes, pos: int, size: int, big: bool) -> tuple[int, int] | None:
    """The (group, next position) of a plausible element header at ``pos``, else None.

    ``size`` is the file's size (``buf`` may hold less of it).  An undefined length gives
    ``size`` as the next position: the element may run to the end.
    """
    if pos + 8 > len(buf):
        return None
    order = ">" if big else "<"
    group, _ = struct.unpack_from(order + "HH", buf, pos)
    vr = buf[pos + 4 : pos + 6]
    if vr in KNOWN_VRS:
        if vr in LONG_VRS:
            if pos + 12 > len(buf):
                return None
            (length,) = struct.unpack_from(order + "I", buf, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from(order + "H", buf, pos + 6)
            start = pos + 8
        if length == UNDEFINED:
            return (group, size) if vr in UNDEFINED_OK else None
    elif big:
        return None  # no implicit VR big endian
    else:
        (length,) = struct.unpack_from("<I", buf, pos + 4)
        start = pos + 8
        if length == UNDEFINED:
            return group, size
    end = start + length
    return (group, end) if end <= size else None


def starts_with_element(buf: bytes, size: int) -> Literal["little", "big"] | None:
    """The byte order of the DICOM element the file (``size`` bytes, starting with ``buf``)
    starts with, or None when it does not start with one."""
    if size < 8 or len(buf) < 8:
        return None
    for big in (False, True):
        first = _element(buf, 0, size, big)
        if first is None or first[0] not in FIRST_GROUPS:
            continue
        group, after = first
        if after + 8 > min(size, len(buf)):  # nothing after it, or not in the bytes read
            return "big" if big else "little"
        second = _element(buf, after, size, big)
        if second is not None and second[0] >= group:
            return "big" if big else "little"
    return None
