"""Layouts: the header of the last files read, as patterns that read the next ones in C.

The slices of a series are written by one program: the same elements, in the same order,
with the same VRs, and mostly the same lengths; only values change (UIDs, positions,
numbers).  Once the walker (:mod:`._walker`) has read such a file, its header is turned
into a compiled regular expression, a *layout*, that matches any file laid out the same
way: each element's tag and VR literally, values skipped by count.  The few values that
do change length from slice to slice (SOP Instance UID, position, instance number) are
learnt from the first file that misses only because of them (:meth:`Layouts.learn`) and
matched from then on as a 2-byte length and a run of the characters their VR allows (UI,
DS, IS, CS, DA, TM, DT).  One ``match`` then reads a header that the walker's loop reads
element by element in Python: under half the time for a CT slice.

A match is proof, not a guess: every element header is compared byte for byte at the
place the previous element's length leads to (each variable length is checked against its
value's), so the match splits the bytes into exactly the elements the walker would, and
the tree built from it (:meth:`Layout.read`) is the walker's tree.  Anything a layout
cannot express is left to the walker: implicit VR, values past the first read, elements
of undefined length, ``UN``, kept values stored in another VR, private or sequence-tagged
values that begin with an item tag (the walker may read those as sequences).  Top-level
sequences of defined length are matched as opaque spans and read by the walker.

Learning costs a compile (about 2 ms for a CT header), so a :class:`Layouts` cache stops
learning when its layouts do not pay: see :meth:`Layouts.learn`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Final, NamedTuple

from dicomref.extraction._tree import PIXEL_TAGS, SEQUENCE_TAGS, WANTED, Item

#: Characters a value of these VRs may hold (PS3.5 6.2).  A run of them may reach into the
#: next element's header (a space is the first byte of group 0020): the match then backs
#: off to where that header's literal bytes fit, and the length check decides.
CHARSETS: Final[dict[bytes, bytes]] = {
    b"UI": rb"[0-9. \x00]",
    b"DS": rb"[0-9+\-.eE \\]",
    b"IS": rb"[0-9+\- \\]",
    b"CS": rb"[A-Z0-9_ \\]",
    b"DA": rb"[0-9.\- \\]",
    b"TM": rb"[0-9.:\- \\]",
    b"DT": rb"[0-9.+\- \\]",
}
SHORT_VRS: Final = frozenset(
    vr.encode()
    for vr in "AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US".split()  # noqa: SIM905
)
#: Long VRs a layout skips by count (SQ is matched as a span; UN is left to the walker).
LONG_VRS: Final = frozenset(
    vr.encode()
    for vr in "OB OD OF OL OV OW SV UC UR UT UV".split()  # noqa: SIM905
)
WANTED_VR: Final = {tag: vr.encode() for tag, vr in WANTED.items()}
ITEM_BYTES: Final = b"\xfe\xff\x00\xe0"
UNDEFINED: Final = 0xFFFFFFFF


def may_hold_items(tag: int, length: int) -> bool:
    """True when the walker reads a value of this long-VR element as a sequence if it
    begins with an item tag: sequence tags written with another VR, and private elements."""
    return (tag in SEQUENCE_TAGS or bool((tag >> 16) & 1)) and length >= 8


HEAD: Final = struct.Struct("<HH2sH").unpack_from
U32: Final = struct.Struct("<I").unpack_from
_META_TAGS: Final = {0x00020010: "syntax", 0x00020002: "media"}

#: Layouts kept (the most recently used), all tried on a file before the walker reads it.
KEPT: Final = 8
#: Layouts learnt for free; each further one must be earned by as many matches.
FREE_LEARNS: Final = 8
HITS_PER_LEARN: Final = 32


class Matched(NamedTuple):
    """What a layout read: as the walker's ``read_file`` would return, and the spans of the
    top-level sequences still to read (tag, start, end)."""

    syntax: str | None
    media: str | None
    tree: Item
    sequences: tuple[tuple[int, int, int], ...]


class Layout:
    """One compiled header layout (see the module docstring)."""

    __slots__ = (
        "_kept",
        "_lengths",
        "_match",
        "_meta",
        "_pack",
        "_pixels",
        "_sequences",
        "_tags",
        "_values",
        "lengths",
        "signature",
        "variable",
    )

    def __init__(
        self,
        pattern: bytes,
        tags: Sequence[int],
        kept: Sequence[int],
        checked: Sequence[tuple[int, int]],
        meta: Sequence[tuple[str, int]],
        sequences: Sequence[tuple[int, int]],
        pixels: int | None,
        signature: bytes,
        lengths: tuple[int, ...],
        variable: frozenset[int],
    ) -> None:
        #: The elements' tags and VRs, their lengths, and which lengths may vary (indices):
        #: what :meth:`Layouts.learn` compares a new header with.
        self.signature = signature
        self.lengths = lengths
        self.variable = variable
        self._match: Callable[[bytes], re.Match[bytes] | None] = re.compile(pattern).match
        self._tags = tuple(tags)
        self._kept = _getter(kept)
        self._lengths = _getter([length for length, _ in checked])
        self._values = _getter([value for _, value in checked])
        self._pack = struct.Struct(f"<{len(checked)}H").pack if checked else None
        self._meta = tuple(meta)
        self._sequences = tuple(sequences)
        self._pixels = pixels

    def read(self, buf: bytes, size: int) -> Matched | None:
        """The header of a file of ``size`` bytes whose first bytes are ``buf``, or None."""
        m = self._match(buf)
        if m is None:
            return None
        groups = m.groups()
        if self._pack is not None:
            lengths = self._lengths(groups)
            if self._pack(*map(len, self._values(groups))) != b"".join(lengths):
                return None
        if self._pixels is not None:  # the walker's check: the pixels fit in the file
            start = m.end()
            length = U32(groups[self._pixels])[0]
            if length != UNDEFINED and start + length > size:
                return None
        elif m.end() != size:
            return None
        tree: Item = dict(zip(self._tags, self._kept(groups), strict=True))
        syntax = media = None
        for name, index in self._meta:
            text = groups[index].decode("ascii", "replace").strip(" \0") or None
            if name == "syntax":
                syntax = text
            else:
                media = text
        if not self._sequences:
            return Matched(syntax, media, tree, ())
        spans = tuple((tag, m.start(index + 1), m.end(index + 1)) for tag, index in self._sequences)
        return Matched(syntax, media, tree, spans)


def _getter(indices: Sequence[int]) -> Callable[[tuple[bytes, ...]], tuple[bytes, ...]]:
    """``itemgetter`` that always returns a tuple (itemgetter of one index does not)."""
    if len(indices) == 1:
        only = indices[0]
        return lambda groups: (groups[only],)
    if not indices:
        return lambda groups: ()
    return itemgetter(*indices)


@dataclass(frozen=True, slots=True)
class _Element:
    """One element of a header a layout is learnt from: where, what, how long."""

    pos: int
    tag: int
    vr: bytes
    length: int
    meta: bool  # in the File Meta group


def _elements(
    buf: bytes, size: int, dataset_start: int
) -> tuple[list[_Element], _Element | None] | None:
    """The elements of a header (File Meta group included) and its pixel data element, or
    None when the header has something a layout cannot express."""
    if dataset_start < 132 or buf[128:132] != b"DICM":
        return None  # files without a preamble are left to the walker
    found: list[_Element] = []
    pos = 132
    end = len(buf)
    while pos < end:
        if pos + 12 > end:
            return None
        group, element, vr, length = HEAD(buf, pos)
        tag = (group << 16) | element
        meta = pos < dataset_start
        if vr in SHORT_VRS:
            if pos + 8 + length > end:
                return None
            if not meta and tag in WANTED_VR and vr != WANTED_VR[tag]:
                return None  # the walker converts such values: leave them to it
            found.append(_Element(pos, tag, vr, length, meta))
            pos += 8 + length
            continue
        if not (vr in LONG_VRS or vr == b"SQ") or buf[pos + 6 : pos + 8] != b"\0\0":
            return None  # UN, an unknown VR or implicit VR: the walker decides those
        length = U32(buf, pos + 8)[0]
        if not meta and tag in PIXEL_TAGS:
            return (found, _Element(pos, tag, vr, length, meta)) if pos >= dataset_start else None
        if length == UNDEFINED or pos + 12 + length > end:
            return None
        if meta and vr == b"SQ":
            return None
        if not meta and vr != b"SQ":
            if tag in WANTED_VR:
                return None  # no wanted value is stored in a long VR
            if may_hold_items(tag, length) and buf[pos + 12 : pos + 16] == ITEM_BYTES:
                return None  # the walker may read it as a sequence
        found.append(_Element(pos, tag, vr, length, meta))
        pos += 12 + length
    if pos != size or pos < dataset_start:
        return None  # the header does not end the file within the first read
    return found, None


class _Builder:
    """Turns the elements of one header into a pattern and the plan to read its groups."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.parts: list[bytes] = [rb"(?s)\A.{128}DICM"]
        self.groups = 0
        self.tags: list[int] = []
        self.kept: list[int] = []
        self.checked: list[tuple[int, int]] = []
        self.meta: list[tuple[str, int]] = []
        self.sequences: list[tuple[int, int]] = []

    def group(self, pattern: bytes) -> int:
        self.parts.append(b"(" + pattern + b")")
        self.groups += 1
        return self.groups - 1

    def literal(self, start: int, end: int) -> None:
        self.parts.append(re.escape(self.buf[start:end]))

    def add(self, e: _Element, variable: bool) -> None:
        pos, tag, vr, length = e.pos, e.tag, e.vr, e.length
        if vr not in SHORT_VRS:
            self.literal(pos, pos + 12)
            if vr == b"SQ":
                self.sequences.append((tag, self.group(rb".{%d}" % length)))
                return
            if not e.meta and may_hold_items(tag, length):
                self.parts.append(rb"(?!" + re.escape(ITEM_BYTES) + rb")")
            self.parts.append(rb".{%d}" % length)
            return
        needed = tag in _META_TAGS if e.meta else tag in WANTED_VR
        charset = CHARSETS.get(vr) if variable else None
        value = self.buf[pos + 8 : pos + 8 + length]
        if charset is not None and re.fullmatch(charset + rb"*", value):
            self.literal(pos, pos + 6)
            length_group = self.group(rb"..")
            value_group = self.group(charset + rb"*")
            self.checked.append((length_group, value_group))
        else:
            self.literal(pos, pos + 8)
            if not needed:
                self.parts.append(rb".{%d}" % length)
                return
            value_group = self.group(rb".{%d}" % length)
        if not needed:
            return
        if e.meta:
            self.meta.append((_META_TAGS[tag], value_group))
        else:
            self.tags.append(tag)
            self.kept.append(value_group)

    def layout(
        self,
        pixels: _Element | None,
        signature: bytes,
        lengths: tuple[int, ...],
        variable: frozenset[int],
    ) -> Layout:
        pixel_group = None
        if pixels is None:
            self.parts.append(rb"\Z")
        else:
            self.literal(pixels.pos, pixels.pos + 8)
            pixel_group = self.group(rb"....")
        return Layout(
            b"".join(self.parts),
            self.tags,
            self.kept,
            self.checked,
            self.meta,
            self.sequences,
            pixel_group,
            signature,
            lengths,
            variable,
        )


class Layouts:
    """The layouts of the last files read (most recent first), and when to learn more.

    A layout starts with every length fixed; when a file with the same elements (tags and
    VRs, in order) misses only because some lengths differ, its layout is learnt again
    with those elements variable too.  So the few values that change length across a
    series (SOP Instance UID, position, instance number) end up variable, the rest fixed:
    fewer groups to check on every match.

    Safe to share between threads: the layouts are a tuple, replaced whole (a race loses
    at most a reordering, a layout or a count).
    """

    def __init__(self) -> None:
        self._layouts: tuple[Layout, ...] = ()
        self.hits = 0
        self.learnt = 0

    def read(self, buf: bytes, size: int) -> Matched | None:
        layouts = self._layouts
        for index, layout in enumerate(layouts):
            matched = layout.read(buf, size)
            if matched is not None:
                self.hits += 1
                if index:
                    self._layouts = (layout, *layouts[:index], *layouts[index + 1 :])
                return matched
        return None

    def learn(self, buf: bytes, size: int, dataset_start: int) -> None:
        """Learn the layout of a header the walker has just read without error (``buf``:
        the walker's first read; ``dataset_start``: where the File Meta group ended), while
        layouts pay: the first :data:`FREE_LEARNS` are free, then each must be earned by
        :data:`HITS_PER_LEARN` matches (a compile costs what about 50 matches save)."""
        if self.learnt >= FREE_LEARNS + self.hits // HITS_PER_LEARN:
            return
        found = _elements(buf, size, dataset_start)
        if found is None:
            return
        elements, pixels = found
        signature = b"".join(buf[e.pos : e.pos + 6] for e in elements)
        lengths = tuple(e.length for e in elements)
        variable: frozenset[int] = frozenset()
        rest = []
        for layout in self._layouts:
            if layout.signature == signature and len(layout.lengths) == len(lengths):
                pairs = zip(layout.lengths, lengths, strict=True)
                variable = layout.variable | {i for i, (a, b) in enumerate(pairs) if a != b}
            else:
                rest.append(layout)
        builder = _Builder(buf)
        for index, element in enumerate(elements):
            builder.add(element, index in variable)
        self.learnt += 1
        new = builder.layout(pixels, signature, lengths, variable)
        self._layouts = (new, *rest[: KEPT - 1])
