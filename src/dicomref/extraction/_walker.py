"""The fast header walker: reads a DICOM file's header into the light tree (:mod:`._tree`).

Why not pydicom's reader on this path: ``pydicom.dcmread(path, stop_before_pixels=True)``
builds a complete :class:`~pydicom.Dataset` (an element object per element, Python values on
access, file-like reads per element) and has no header-only fast path; it costs about 880 µs
for pydicom's ``CT_small.dcm``.  ``dicomref scan`` reads millions of files, so this module
walks the bytes itself: one ``pread`` of the first 16 KiB, one ``struct`` unpack per element
header, set look-ups to decide what an element is, values skipped by offset except the few
:data:`~._tree.WANTED` ones, and every sequence kept.  pydicom is still the authority it
leans on: its data dictionary says which tags are sequences, and files this walker does not
read (Explicit VR Big Endian, headerless big-endian files) go to pydicom instead
(:class:`Header` then has no tree; see :mod:`._adapter`).  Deflated files are inflated here,
never past :attr:`ReadLimits.max_inflated` (see :mod:`._deflate`), and walked as explicit VR
little endian.

What it reads:

* a 128-byte preamble with ``DICM`` and the File Meta group (explicit VR little endian), or
  no preamble at all (the first element must be in group 0002 or 0008, with a header that
  makes sense: see :mod:`._sniff`);
* Explicit and Implicit VR Little Endian and every encapsulated syntax (their headers are
  explicit VR LE), checking the first element like pydicom does when a file disagrees with
  its transfer syntax, and each sequence item of an explicit file likewise (writers switch
  to implicit VR inside sequences); an element whose VR is not two capital letters is read
  as implicit VR, as pydicom does;
* sequences and items of defined and undefined length; ``UN`` elements of undefined length
  as sequences (PS3.5 6.2.2); ``UN`` elements of defined length whose tag is a sequence in
  the dictionary, and private elements whose value starts with an item tag, as sequences
  when they parse as one (kept as opaque bytes when they do not);
* encapsulated values inside items (icon images) skipped fragment by fragment.

It stops at (7FE0,0010) PixelData, (7FE0,0008) FloatPixelData and (7FE0,0009)
DoubleFloatPixelData at top level and never reads their values (a native pixel value longer
than the file is reported as truncation all the same).  The first read is 16 KiB, which holds
the header of most images (a 64 KiB first read measured 9 µs more per file, most of the
budget); a file longer than that is read further, forward only, in chunks from 64 KiB doubling
to 8 MiB and only where the walk needs bytes: skipped values are never read, though a chunk
read for the header may run into the pixels.

Every failure raises :class:`~dicomref.errors.DicomReadError` (or :class:`NotDicomError`)
naming the path, the byte offset, the element and what to do about it; a file that would pass
one of the :class:`~._limits.ReadLimits` raises :class:`~dicomref.errors.ReadLimitError`.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from typing import Final

from dicomref.errors import DicomReadError, NotDicomError, ReadLimitError
from dicomref.extraction._deflate import inflate
from dicomref.extraction._items import MAX_SPAN, MIN_ITEMS, item_layout
from dicomref.extraction._layout import Layouts
from dicomref.extraction._limits import DEFAULT_LIMITS, ReadLimits, describe_bytes
from dicomref.extraction._sniff import starts_with_element
from dicomref.extraction._tree import (
    DICOMDIR_CLASS,
    MAX_DEPTH,
    PIXEL_TAGS,
    SEQUENCE_TAGS,
    SOP_CLASS_UID,
    WANTED,
    Item,
    describe,
    keyword,
    tag_text,
)
from dicomref.extraction._values import normalise

UNDEFINED: Final = 0xFFFFFFFF
FIRST_READ: Final = 16 * 1024
SECOND_READ: Final = 64 * 1024
MAX_CHUNK: Final = 8 * 1024 * 1024

IMPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2"
DEFLATED: Final = "1.2.840.10008.1.2.1.99"
#: Transfer syntaxes whose data set is not the file's bytes as they are: never laid out;
#: Deflated is inflated and walked (:meth:`_Walker.inflated`), the others go to pydicom.
PYDICOM_SYNTAXES: Final = frozenset(
    {
        "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
        "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    }
)


def _swapped(tag: int) -> int:
    """A tag as its four little-endian bytes read as one ``<I``: ``(element << 16) | group``.

    The walker compares tags in this form so that it needs one unpack per header.  The
    transformation is its own inverse.
    """
    return ((tag & 0xFFFF) << 16) | (tag >> 16)


_ITEM: Final = _swapped(0xFFFEE000)
_ITEM_END: Final = _swapped(0xFFFEE00D)
_SEQUENCE_END: Final = _swapped(0xFFFEE0DD)
_TRANSFER_SYNTAX: Final = _swapped(0x00020010)
_MEDIA_CLASS: Final = _swapped(0x00020002)
_META_KEPT: Final = frozenset({_TRANSFER_SYNTAX, _MEDIA_CLASS})

_PIXELS: Final = frozenset(_swapped(t) for t in PIXEL_TAGS)
_WANTED_VR: Final = {_swapped(t): vr.encode() for t, vr in WANTED.items()}
_KEEP: Final = frozenset(_WANTED_VR)
_KEEP_TOP: Final = _KEEP | _PIXELS
_SEQUENCES: Final = frozenset(_swapped(t) for t in SEQUENCE_TAGS)
# Implicit VR: one look-up finds everything that is not skipped by length.
#: Eight zero bytes read as an element header: tag (0000,0000), length 0.  Never an element
#: of a data set: at top level after the SOP Class UID, zero padding at the end of the file
#: (the data set ends there, as if pydicom had read the zeros); anywhere else, a file whose
#: rest is zeros (a copy preallocated and never completed), refused at once instead of
#: walked 8 bytes at a time (a minute per 2 GB).
_ZEROS: Final = 0
_IMPLICIT_SPECIAL: Final = _KEEP | _SEQUENCES | {_ITEM, _ITEM_END, _SEQUENCE_END, _ZEROS}
_IMPLICIT_SPECIAL_TOP: Final = _IMPLICIT_SPECIAL | _PIXELS

# VRs with a 2-byte length (8-byte header) and with a 4-byte length (12-byte header).
_SHORT_VRS: Final = frozenset(
    vr.encode()
    for vr in (
        "AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US".split()  # noqa: SIM905
    )
)
_LONG_VRS: Final = frozenset(
    vr.encode()
    for vr in "OB OD OF OL OV OW SQ SV UC UN UR UT UV".split()  # noqa: SIM905
)

# Non-blocking so that a FIFO met during a scan is refused instead of hanging the scan.
_OPEN_FLAGS: Final = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)

_HEAD_EXPLICIT = struct.Struct("<I2sH").unpack_from
_HEAD_IMPLICIT = struct.Struct("<II").unpack_from
_U32 = struct.Struct("<I").unpack_from

_RECOPY = "it is truncated — copy it again from its source"
_DAMAGED = "the file is damaged — export it again from the system that wrote it"


@dataclass(frozen=True, slots=True)
class Header:
    """What the walker learnt of one file.

    ``tree`` is None when the walker did not read the dataset: the file is a DICOMDIR
    (``media_class`` says so) or its transfer syntax is one this walker leaves to pydicom.
    """

    path: str
    size: int
    mtime_ns: int
    transfer_syntax: str | None
    media_class: str | None
    tree: Item | None


def read_header(path: str | os.PathLike[str], limits: ReadLimits = DEFAULT_LIMITS) -> Header:
    """Walk the header of the DICOM file at ``path``, within ``limits``.

    Raises :class:`DicomReadError` for files that cannot be read (OS errors included),
    :class:`NotDicomError` for files that are not DICOM and :class:`ReadLimitError` for
    files past a limit.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, _OPEN_FLAGS)
    except OSError as exc:
        raise DicomReadError(name, f"cannot open it: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DicomReadError(
                name, "it is not a regular file (a directory, pipe or device): give a file"
            )
        size = info.st_size
        buf = os.pread(fd, FIRST_READ, 0)
        syntax, media, tree = _read_laid_out(name, fd, size, buf, limits)
    except OSError as exc:
        raise DicomReadError(name, f"cannot read it: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return Header(name, info.st_size, info.st_mtime_ns, syntax, media, tree)


def read_header_bytes(
    data: bytes, label: str, limits: ReadLimits = DEFAULT_LIMITS
) -> tuple[str | None, str | None, Item | None]:
    """Walk the header of a whole DICOM file held in memory (a WADO-RS part): its transfer
    syntax, media storage class and dataset tree, as :func:`read_header` gives them (tree
    None: a DICOMDIR, or a syntax left to pydicom).  ``label`` names it in errors.  Raises
    as :func:`read_header`."""
    return _read_laid_out(label, None, len(data), data, limits)


#: The layouts of recently read headers (see :mod:`._layout`), per process.
_LAYOUTS: Final = Layouts()


def _read_laid_out(
    name: str, fd: int | None, size: int, buf: bytes, limits: ReadLimits
) -> tuple[str | None, str | None, Item | None]:
    """``read_file``, through a known layout when one matches; else the walk, and then,
    while layouts pay, the layout of this file for the next ones."""
    matched = _LAYOUTS.read(buf, size) if size >= 132 else None
    if (
        matched is not None
        and matched.media != DICOMDIR_CLASS
        and matched.syntax not in PYDICOM_SYNTAXES
    ):
        if matched.sequences:
            walker = _Walker(name, fd, size, buf, limits)
            for tag, start, end in matched.sequences:
                matched.tree[tag], _ = walker.sequence(start, end, False, 1, tag)
        return matched.syntax, matched.media, matched.tree
    walker = _Walker(name, fd, size, buf, limits)
    read = walker.read_file()
    # A header the walker had to read past the first read for cannot be laid out: not
    # worth looking at its elements again.
    if read[2] is not None and walker.explicit_dataset and walker.buf is buf:
        _LAYOUTS.learn(buf, size, walker.dataset_start)
    return read


def parse_sequence_value(value: bytes, label: str) -> list[Item] | None:
    """Read ``value`` (the bytes of a ``UN`` or private element) as a sequence's items.

    Returns None when the bytes do not parse as items.  Used by the pydicom adapter so that
    values pydicom leaves as bytes are read exactly as the walker reads them.
    """
    walker = _Walker(label, None, len(value), value)
    try:
        items, _ = walker.sequence(0, len(value), False, 1, 0)
    except DicomReadError:
        return None
    return items


def _letters(first: int, second: int) -> bool:
    """True when two bytes can be an explicit VR (two capital letters), as pydicom decides."""
    return 0x40 < first < 0x5B and 0x40 < second < 0x5B


def _tag(swapped: int) -> int:
    return ((swapped & 0xFFFF) << 16) | (swapped >> 16)


class _Walker:
    """One walk over one file (or one bytes value when ``fd`` is None).

    ``buf`` holds the bytes of the file from offset ``base``; every position is absolute.
    The walk only moves forward, so the window is replaced, never extended backwards.
    """

    __slots__ = (
        "base",
        "buf",
        "chunk",
        "cut",
        "dataset_start",
        "explicit_dataset",
        "fd",
        "limits",
        "path",
        "size",
        "stack",
    )

    def __init__(
        self,
        path: str,
        fd: int | None,
        size: int,
        buf: bytes,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> None:
        self.path = path
        self.limits = limits
        # True when ``buf`` (with ``fd`` None) is the start of a longer inflated data set.
        self.cut = False
        self.fd = fd
        self.size = size
        self.buf = buf
        self.base = 0
        self.chunk = SECOND_READ
        # The sequences being read, outermost first: [tag, item index]; for messages only.
        self.stack: list[list[int]] = []
        # Where the dataset began, and whether it was read as explicit VR (read_file).
        self.dataset_start = 0
        self.explicit_dataset = False

    # -- bytes -------------------------------------------------------------------------

    def more(self, pos: int, need: int) -> tuple[bytes, int, int]:
        """Make ``min(need, size - pos)`` bytes from ``pos`` available; return the window."""
        buf, base = self.buf, self.base
        lim = base + len(buf)
        if pos >= base and (pos + need <= lim or lim >= self.size or self.fd is None):
            return buf, base, lim
        want = min(max(need, self.chunk), self.size - pos)
        self.chunk = min(self.chunk * 2, MAX_CHUNK)
        assert self.fd is not None
        parts = []
        got = 0
        while got < want:
            part = os.pread(self.fd, want - got, pos + got)
            if not part:
                raise DicomReadError(
                    self.path,
                    f"the file ended at byte {pos + got:,} while being read (it was "
                    f"{self.size:,} bytes when opened): it is being written or truncated — "
                    "read it again once it is complete",
                    offset=pos + got,
                )
            parts.append(part)
            got += len(part)
        self.buf = buf = parts[0] if len(parts) == 1 else b"".join(parts)
        self.base = pos
        return buf, pos, pos + len(buf)

    # -- errors --------------------------------------------------------------------------

    def place(self) -> str:
        """Where the walk is, as a path: ``ROIContourSequence[3].ContourSequence[0]``."""
        return ".".join(
            f"{keyword(tag)}[{index}]" if index >= 0 else keyword(tag) for tag, index in self.stack
        )

    def _inside(self, seq: int) -> str:
        if self.stack:
            return f", inside {self.place()}"
        return f", inside {describe(seq)}" if seq else ""

    def cut_header(self, pos: int, seq: int) -> DicomReadError:
        return DicomReadError(
            self.path,
            f"the file ends at byte {self.size:,} in the middle of an element header"
            f"{self._inside(seq)}: {_RECOPY}",
            offset=pos,
        )

    def overrun(
        self, pos: int, swapped: int, length: int, start: int, stop: int, seq: int
    ) -> DicomReadError:
        if stop >= self.size:
            reason = (
                f"its value claims {length:,} bytes from byte {start:,} but the file ends at "
                f"byte {self.size:,}{self._inside(seq)}: it is truncated or damaged — copy it "
                "again from its source"
            )
        else:
            reason = (
                f"its value claims {length:,} bytes from byte {start:,}, past the end of its "
                f"item at byte {stop:,}{self._inside(seq)}: {_DAMAGED}"
            )
        return DicomReadError(self.path, reason, offset=pos, tag=describe(_tag(swapped)))

    def overrun_at(self, pos: int, stop: int, seq: int, *, explicit: bool) -> DicomReadError:
        """The overrun error for the element whose header is at ``pos`` (in the window)."""
        i = pos - self.base
        if explicit:
            swapped, vr, length = _HEAD_EXPLICIT(self.buf, i)
            start = pos + 8
            if vr in _LONG_VRS:
                length = _U32(self.buf, i + 8)[0]
                start = pos + 12
        else:
            swapped, length = _HEAD_IMPLICIT(self.buf, i)
            start = pos + 8
        return self.overrun(pos, swapped, length, start, stop, seq)

    def unterminated(self, seq: int, what: str) -> DicomReadError:
        inside = self.place() if self.stack else describe(seq)
        return DicomReadError(
            self.path,
            f"the file ends at byte {self.size:,} inside {inside} before the end of "
            f"its {what}: {_RECOPY}",
            offset=self.size,
            tag=describe(seq),
        )

    def zeros(self, pos: int, seq: int) -> DicomReadError:
        return DicomReadError(
            self.path,
            f"found zero bytes where a data element should be{self._inside(seq)}: the rest "
            "of the file is probably zeros, as a copy that never completed leaves it — copy "
            "it again from its source",
            offset=pos,
        )

    def stray(self, pos: int, swapped: int, seq: int) -> DicomReadError:
        return DicomReadError(
            self.path,
            f"found {tag_text(_tag(swapped))} where a data element should be"
            f"{self._inside(seq)}: {_DAMAGED}",
            offset=pos,
        )

    # -- the file ------------------------------------------------------------------------

    def read_file(self) -> tuple[str | None, str | None, Item | None]:
        """Read preamble, meta and dataset: (transfer syntax, media class, tree or None)."""
        size, buf = self.size, self.buf
        if size == 0:
            raise NotDicomError(self.path, "the file is empty (0 bytes): was a copy interrupted?")
        syntax: str | None = None
        media: str | None = None
        if size >= 132 and buf[128:132] == b"DICM":
            pos, syntax, media = self.meta(132)
        else:
            order = starts_with_element(buf, size)
            if order is None:
                raise NotDicomError(
                    self.path,
                    "no 'DICM' marker at byte 128 and the file does not start with a DICOM "
                    "element: it is not a DICOM file",
                )
            if order == "big":  # a big-endian header: pydicom reads it
                return None, None, None
            pos = 0
            if buf[0] == 0x02:  # group 0002: File Meta without a preamble
                pos, syntax, media = self.meta(0)
        if syntax == DEFLATED and media != DICOMDIR_CLASS:
            return syntax, media, self.inflated(pos)
        if media == DICOMDIR_CLASS or syntax in PYDICOM_SYNTAXES:
            return syntax, media, None
        implicit = syntax == IMPLICIT_VR_LITTLE_ENDIAN
        if pos + 6 <= size:  # the first element decides, as in pydicom
            buf, base = self.buf, self.base
            if pos < base or pos + 6 > base + len(buf):
                buf, base, _ = self.more(pos, 6)
            implicit = not _letters(buf[pos - base + 4], buf[pos - base + 5])
        self.dataset_start, self.explicit_dataset = pos, not implicit
        read = self.implicit if implicit else self.explicit
        tree, _ = read(pos, size, 0, 0)
        return syntax, media, tree

    def inflated(self, pos: int) -> Item:
        """The data set of a Deflated file (from ``pos``), inflated within
        :attr:`ReadLimits.max_inflated` and walked as explicit VR little endian."""
        bound = self.limits.max_inflated
        source = self.fd if self.fd is not None else self.buf  # bytes: never moved (base 0)
        data, complete = inflate(self.path, source, pos, self.size, bound)
        inner = _Walker(self.path, None, len(data), data, self.limits)
        inner.cut = not complete
        implicit = len(data) >= 6 and not _letters(data[4], data[5])  # as pydicom decides
        too_big = (
            f"its deflated data set inflates past {describe_bytes(bound)} before its header "
            "ends (ReadLimits.max_inflated): a deflate bomb, or a header bigger than dicomref "
            "reads; raise the limit only for a file you trust"
        )
        try:
            tree, end = (inner.implicit if implicit else inner.explicit)(0, len(data), 0, 0)
        except ReadLimitError:
            raise
        except DicomReadError as exc:
            if inner.cut:
                raise ReadLimitError(self.path, too_big, limit="max_inflated", bound=bound) from exc
            raise DicomReadError(
                self.path,
                f"{exc.reason} (byte offsets count from the start of the inflated data set)",
                offset=exc.offset,
                tag=exc.tag,
            ) from exc
        if inner.cut and end + 12 > len(data):  # it did not stop at the pixel data
            raise ReadLimitError(self.path, too_big, limit="max_inflated", bound=bound)
        return tree

    def meta(self, pos: int) -> tuple[int, str | None, str | None]:
        """Read the File Meta group from ``pos``: (end of group, transfer syntax, media class)."""
        syntax: str | None = None
        media: str | None = None
        size = self.size
        buf, base = self.buf, self.base
        lim = base + len(buf)
        head, u32, short, long_, wanted = _HEAD_EXPLICIT, _U32, _SHORT_VRS, _LONG_VRS, _META_KEPT
        while pos + 8 <= size:
            if pos + 12 > lim:
                buf, base, lim = self.more(pos, 12)
            i = pos - base
            swapped, vr, length = head(buf, i)
            if swapped & 0xFFFF != 0x0002:
                break
            if vr in short:
                start = pos + 8
            elif vr in long_:
                if pos + 12 > size:
                    raise self.cut_header(pos, 0)
                length = u32(buf, i + 8)[0]
                start = pos + 12
            elif _letters(vr[0], vr[1]):
                start = pos + 8
            else:  # implicit VR meta (non-conformant, read by pydicom all the same)
                length = u32(buf, i + 4)[0]
                start = pos + 8
            end = start + length
            if end > size or length == UNDEFINED:
                raise self.overrun(pos, swapped, length, start, size, 0)
            if swapped in wanted:
                if end > lim:
                    buf, base, lim = self.more(start, length)
                text = buf[start - base : end - base].decode("ascii", "replace").strip(" \0")
                if swapped == _TRANSFER_SYNTAX:
                    syntax = text or None
                else:
                    media = text or None
            pos = end
        return pos, syntax, media

    # -- datasets ------------------------------------------------------------------------

    def explicit(self, pos: int, end: int, depth: int, seq: int) -> tuple[Item, int]:
        """Read one Explicit VR Little Endian dataset from ``pos``.

        ``end`` is its absolute end (the file size at top level) or UNDEFINED for an item
        that ends with an item delimiter.  ``depth`` counts enclosing sequences (0: the top
        level, which stops at pixel data); ``seq`` is the enclosing sequence's tag.
        Returns the item and the position after it.

        The inner loop is the hot path of ``dicomref scan``: it runs over the window with
        window-relative positions, one unpack and two set look-ups per element, while the
        whole header is in the window and nothing needs attention; any other element (a
        sequence, a delimiter, a value past the window …) goes to :meth:`explicit_one`.
        """
        item: Item = {}
        stop = self.size if end == UNDEFINED else end
        top = depth == 0
        keep, wanted_vr = _KEEP, _WANTED_VR
        attend = _KEEP_TOP if top else _KEEP
        short, long_, head, u32 = _SHORT_VRS, _LONG_VRS, _HEAD_EXPLICIT, _U32
        while pos < stop:
            buf, base = self.buf, self.base
            blen = len(buf)
            end_i = min(stop - base, blen - 11)  # i < end_i: a whole 12-byte header is here
            i = prev = pos - base
            while i < end_i:
                prev = i
                swapped, vr, length = head(buf, i)
                if vr in short:
                    i += 8 + length
                    if swapped in keep:
                        if i > blen or vr != wanted_vr[swapped]:
                            i = prev
                            break
                        item[((swapped & 0xFFFF) << 16) | (swapped >> 16)] = buf[prev + 8 : i]
                elif vr in long_:
                    length = u32(buf, i + 8)[0]
                    if vr == b"SQ" and swapped not in attend:  # read it here: no detour
                        start = base + i + 12
                        after = UNDEFINED if length == UNDEFINED else start + length
                        if after != UNDEFINED and after > stop:
                            raise self.overrun(base + i, swapped, length, start, stop, seq)
                        tag = ((swapped & 0xFFFF) << 16) | (swapped >> 16)
                        item[tag], pos = self.sequence(start, after, False, depth + 1, tag)
                        buf, base = self.buf, self.base
                        blen = len(buf)
                        end_i = min(stop - base, blen - 11)
                        i = prev = pos - base
                        continue
                    if vr == b"UN" or length == UNDEFINED or swapped in attend:
                        break
                    i += 12 + length
                else:
                    break
            else:
                pos = i + base
                if pos > stop:
                    raise self.overrun_at(prev + base, stop, seq, explicit=True)
                if pos == stop:
                    break
            pos, done = self.explicit_one(item, i + base, end, depth, seq, stop)
            if done:
                return item, pos
        if end == UNDEFINED:
            raise self.unterminated(seq, "item")
        return item, pos

    def explicit_one(
        self, item: Item, pos: int, end: int, depth: int, seq: int, stop: int
    ) -> tuple[int, bool]:
        """Read the one explicit-VR element at ``pos``: (next position, dataset finished)."""
        top = depth == 0
        buf, base, lim = self.more(pos, 12)
        if pos + 8 > lim:
            if top:
                return self.size, True  # fewer than 8 trailing bytes: ignored, as by pydicom
            raise self.cut_header(pos, seq)
        swapped, vr, length = _HEAD_EXPLICIT(buf, pos - base)
        if vr in _SHORT_VRS:
            start = pos + 8
        elif vr in _LONG_VRS:
            if pos + 12 > lim:
                raise self.cut_header(pos, seq)
            length = _U32(buf, pos - base + 8)[0]
            if top and swapped in _PIXELS:
                return self.pixels(pos, swapped, length, pos + 12), True
            if vr == b"SQ" or vr == b"UN" or length == UNDEFINED:
                return self.explicit_long(item, pos, swapped, vr, length, depth, seq, stop), False
            start = pos + 12
        elif swapped == _ITEM_END:
            if end == UNDEFINED:
                return pos + 8, True
            raise self.stray(pos, swapped, seq)
        else:
            return self.irregular(item, pos, swapped, vr, depth, seq, stop), False
        after = start + length
        if after > stop:
            raise self.overrun(pos, swapped, length, start, stop, seq)
        if swapped in _KEEP:
            self.keep(item, pos, swapped, vr, length, start, stop, seq)
        return after, False

    def implicit(self, pos: int, end: int, depth: int, seq: int) -> tuple[Item, int]:
        """Read one Implicit VR Little Endian dataset; arguments as for :meth:`explicit`."""
        item: Item = {}
        stop = self.size if end == UNDEFINED else end
        top = depth == 0
        keep = _KEEP
        attend = _IMPLICIT_SPECIAL_TOP if top else _IMPLICIT_SPECIAL
        head = _HEAD_IMPLICIT
        while pos < stop:
            buf, base = self.buf, self.base
            blen = len(buf)
            end_i = min(stop - base, blen - 7)  # i < end_i: a whole 8-byte header is here
            i = prev = pos - base
            while i < end_i:
                prev = i
                swapped, length = head(buf, i)
                if swapped in keep:
                    i += 8 + length
                    if i > blen:
                        i = prev
                        break
                    item[((swapped & 0xFFFF) << 16) | (swapped >> 16)] = buf[prev + 8 : i]
                elif (
                    swapped in attend
                    or length == UNDEFINED
                    or (swapped & 1 and length >= 8)  # private: maybe a sequence
                ):
                    break
                else:
                    i += 8 + length
            else:
                pos = i + base
                if pos > stop:
                    raise self.overrun_at(prev + base, stop, seq, explicit=False)
                if pos == stop:
                    break
            pos, done = self.implicit_one(item, i + base, end, depth, seq, stop)
            if done:
                return item, pos
        if end == UNDEFINED:
            raise self.unterminated(seq, "item")
        return item, pos

    def implicit_one(
        self, item: Item, pos: int, end: int, depth: int, seq: int, stop: int
    ) -> tuple[int, bool]:
        """Read the one implicit-VR element at ``pos``: (next position, dataset finished)."""
        buf, base, lim = self.more(pos, 12)
        if pos + 8 > lim:
            if depth == 0:
                return self.size, True
            raise self.cut_header(pos, seq)
        swapped, length = _HEAD_IMPLICIT(buf, pos - base)
        if swapped == _ITEM_END:
            if end == UNDEFINED:
                return pos + 8, True
            raise self.stray(pos, swapped, seq)
        if depth == 0 and swapped in _PIXELS:
            return self.pixels(pos, swapped, length, pos + 8), True
        if swapped == _ZEROS and length == 0:
            if depth == 0 and SOP_CLASS_UID in item:
                return self.size, True  # zero padding after the data set
            raise self.zeros(pos, seq)
        return self.implicit_element(item, pos, swapped, length, depth, seq, stop, True), False

    # -- the less common elements --------------------------------------------------------

    def keep(
        self,
        item: Item,
        pos: int,
        swapped: int,
        vr: bytes | None,
        length: int,
        start: int,
        stop: int,
        seq: int,
    ) -> int:
        """Store the value of a wanted element; return the position after it."""
        end = start + length
        if length == UNDEFINED or end > stop:
            raise self.overrun(pos, swapped, length, start, stop, seq)
        if length > self.limits.max_value:
            bound = self.limits.max_value
            raise ReadLimitError(
                self.path,
                f"its value claims {length:,} bytes, more than the {describe_bytes(bound)} "
                f"dicomref reads of one value (ReadLimits.max_value){self._inside(seq)}: "
                "the file is damaged or deliberately malformed",
                limit="max_value",
                bound=bound,
                offset=pos,
                tag=describe(_tag(swapped)),
            )
        buf, base, _ = self.more(start, length)
        value = buf[start - base : end - base]
        if vr is not None and vr != _WANTED_VR[swapped]:
            value = normalise(_WANTED_VR[swapped], vr, value)
        item[_tag(swapped)] = value
        return end

    def explicit_long(
        self,
        item: Item,
        pos: int,
        swapped: int,
        vr: bytes,
        length: int,
        depth: int,
        seq: int,
        stop: int,
    ) -> int:
        """An explicit element that is SQ, UN or of undefined length: return the next position."""
        start = pos + 12
        tag = _tag(swapped)
        if vr == b"SQ" or (vr == b"UN" and length == UNDEFINED):
            end = UNDEFINED if length == UNDEFINED else start + length
            if end != UNDEFINED and end > stop:
                raise self.overrun(pos, swapped, length, start, stop, seq)
            item[tag], after = self.sequence(start, end, False, depth + 1, tag)
            return after
        if length == UNDEFINED:  # encapsulated data (icon images): skip its fragments
            return self.fragments(start, tag)
        end = start + length
        if end > stop:
            raise self.overrun(pos, swapped, length, start, stop, seq)
        if (swapped in _SEQUENCES or swapped & 1) and self.starts_with_item(start, length):
            self.try_sequence(item, tag, start, end, False, depth)
        elif swapped in _KEEP:
            self.keep(item, pos, swapped, None, length, start, stop, seq)
        return end

    def implicit_element(
        self,
        item: Item,
        pos: int,
        swapped: int,
        length: int,
        depth: int,
        seq: int,
        stop: int,
        implicit_items: bool,
    ) -> int:
        """An implicit-VR element that may be a sequence or is wanted: return the next position.

        ``implicit_items``: read the items as implicit VR (True in an implicit dataset) or
        check each item's encoding (an implicit element met inside an explicit dataset).
        """
        start = pos + 8
        tag = _tag(swapped)
        if swapped in (_ITEM, _SEQUENCE_END):
            raise self.stray(pos, swapped, seq)
        if length == UNDEFINED:
            item[tag], after = self.sequence(start, UNDEFINED, implicit_items, depth + 1, tag)
            return after
        end = start + length
        if end > stop:
            raise self.overrun(pos, swapped, length, start, stop, seq)
        if swapped in _SEQUENCES:
            item[tag], after = self.sequence(start, end, implicit_items, depth + 1, tag)
            return after
        if swapped in _KEEP:
            return self.keep(item, pos, swapped, None, length, start, stop, seq)
        if swapped & 1 and self.starts_with_item(start, length):
            self.try_sequence(item, tag, start, end, implicit_items, depth)
        return end

    def irregular(
        self, item: Item, pos: int, swapped: int, vr: bytes, depth: int, seq: int, stop: int
    ) -> int:
        """An explicit-dataset element with an unknown VR or a delimiter: the next position."""
        if swapped in (_ITEM, _SEQUENCE_END):
            raise self.stray(pos, swapped, seq)
        buf, base, _ = self.more(pos, 8)
        i = pos - base
        if not _letters(vr[0], vr[1]):  # implicit VR inside an explicit dataset
            length = _U32(buf, i + 4)[0]
            if swapped == _ZEROS and length == 0:
                if depth == 0 and SOP_CLASS_UID in item:
                    return self.size  # zero padding after the data set
                raise self.zeros(pos, seq)
            if length != UNDEFINED and pos + 8 + length > stop:
                raise DicomReadError(
                    self.path,
                    f"its VR bytes {vr.hex(' ')} are not a VR, and read as implicit VR its "
                    f"value would run {length:,} bytes from byte {pos + 8:,}, past byte "
                    f"{stop:,}{self._inside(seq)}: {_DAMAGED}",
                    offset=pos,
                    tag=describe(_tag(swapped)),
                )
            if depth == 0 and swapped in _PIXELS:
                self.pixels(pos, swapped, length, pos + 8)
                return self.size
            return self.implicit_element(item, pos, swapped, length, depth, seq, stop, False)
        length = int(_HEAD_EXPLICIT(buf, i)[2])  # an unknown VR: taken to have a 2-byte length
        start = pos + 8
        if start + length > stop:
            raise self.overrun(pos, swapped, length, start, stop, seq)
        if swapped in _KEEP:
            return self.keep(item, pos, swapped, vr, length, start, stop, seq)
        return start + length

    def pixels(self, pos: int, swapped: int, length: int, start: int) -> int:
        """Stop at top-level pixel data: return ``pos``, after checking the file holds it all.

        The value is not read, but a native pixel data value longer than the rest of the
        file means the file was cut short: the image is damaged even if its header is whole.
        """
        if length != UNDEFINED and start + length > self.size and not self.cut:
            raise self.overrun(pos, swapped, length, start, self.size, 0)
        return pos

    def starts_with_item(self, start: int, length: int) -> bool:
        """True when a value of ``length`` bytes at ``start`` begins with an item tag."""
        if length < 8:
            return False
        buf, base, _ = self.more(start, 4)
        return bool(_U32(buf, start - base)[0] == _ITEM)

    def try_sequence(
        self, item: Item, tag: int, start: int, end: int, implicit: bool, depth: int
    ) -> None:
        """Keep ``[start, end)`` as a sequence if it parses as one; otherwise leave it out."""
        depth_before = len(self.stack)
        try:
            items, _ = self.sequence(start, end, implicit, depth + 1, tag)
        except DicomReadError:
            del self.stack[depth_before:]
            return
        item[tag] = items

    def fragments(self, pos: int, tag: int) -> int:
        """Skip the items of an encapsulated value; return the position after its delimiter."""
        size = self.size
        while True:
            buf, base, lim = self.more(pos, 8)
            if pos + 8 > lim:
                raise self.unterminated(tag, "encapsulated value")
            swapped, length = _HEAD_IMPLICIT(buf, pos - base)
            if swapped == _SEQUENCE_END:
                return pos + 8
            if swapped != _ITEM or pos + 8 + length > size:
                raise DicomReadError(
                    self.path,
                    f"the fragments of {describe(tag)} are malformed at byte {pos:,}: {_DAMAGED}",
                    offset=pos,
                    tag=describe(tag),
                )
            pos += 8 + length

    # -- sequences -----------------------------------------------------------------------

    def sequence(
        self, pos: int, end: int, implicit: bool, depth: int, tag: int
    ) -> tuple[list[Item], int]:
        """Read the items of sequence ``tag`` from ``pos`` to ``end`` (or its delimiter).

        ``implicit``: every item is implicit VR; otherwise each item's first element says.
        """
        if depth > MAX_DEPTH:
            raise DicomReadError(
                self.path,
                f"sequences nested deeper than {MAX_DEPTH} levels: the file is damaged or "
                "deliberately malformed, and dicomref does not read it",
                offset=pos,
                tag=describe(tag),
            )
        items: list[Item] = []
        size = self.size
        limit = size if end == UNDEFINED else end
        place = [tag, -1]
        self.stack.append(place)
        buf, base = self.buf, self.base
        lim = base + len(buf)
        while end == UNDEFINED or pos < end:
            if pos + 14 > lim or pos < base:
                buf, base, lim = self.more(pos, 14)
                if pos + 8 > lim:
                    raise self.unterminated(tag, "sequence")
            swapped, length = _HEAD_IMPLICIT(buf, pos - base)
            if swapped == _SEQUENCE_END:
                if end == UNDEFINED:
                    self.stack.pop()
                    return items, pos + 8
                raise self.stray(pos, swapped, tag)
            if swapped != _ITEM:
                raise DicomReadError(
                    self.path,
                    f"expected an item (FFFE,E000) in {describe(tag)} but found "
                    f"{tag_text(_tag(swapped))}: {_DAMAGED}",
                    offset=pos,
                    tag=describe(tag),
                )
            start = pos + 8
            item_end = UNDEFINED if length == UNDEFINED else start + length
            if item_end != UNDEFINED and item_end > limit:
                raise DicomReadError(
                    self.path,
                    f"an item of {describe(tag)} claims {length:,} bytes from byte {start:,}, "
                    f"past the end of {'the file' if limit == size else 'its sequence'} at "
                    f"byte {limit:,}: " + (_RECOPY if limit == size else _DAMAGED),
                    offset=pos,
                    tag=describe(tag),
                )
            place[1] += 1
            if length == 0:
                items.append({})
                pos = start
                continue
            item_implicit = implicit
            if not implicit:
                if start + 6 > size:
                    raise self.unterminated(tag, "item")
                if start + 6 > lim:
                    buf, base, lim = self.more(start, 6)
                first, second = buf[start - base + 4], buf[start - base + 5]
                item_implicit = not (0x40 < first < 0x5B and 0x40 < second < 0x5B)  # _letters
            read = self.implicit if item_implicit else self.explicit
            child, pos = read(start, item_end, depth, tag)
            items.append(child)
            if (
                len(items) == 1
                and not item_implicit
                and item_end != UNDEFINED
                and end != UNDEFINED
                and MIN_ITEMS * (length + 8) <= end - pos <= MAX_SPAN
            ):
                rest = self.laid_out_items(start - 8, item_end, pos, end)
                if rest is not None:
                    items.extend(rest)
                    pos = end
                    break
            buf, base = self.buf, self.base
            lim = base + len(buf)
        self.stack.pop()
        return items, pos

    def laid_out_items(self, first: int, first_end: int, pos: int, end: int) -> list[Item] | None:
        """The items from ``pos`` to ``end``, read at once through the layout of the first
        item (header at ``first``, value ending at ``first_end``; see :mod:`._items`), or
        None if they are not all laid out like it."""
        buf, base, _ = self.more(first, first_end - first)
        layout = item_layout(buf, first - base, first_end - base)
        if layout is None:
            return None
        buf, base, _ = self.more(pos, end - pos)
        return layout.read(buf, pos - base, end - base)
