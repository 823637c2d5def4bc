"""Item layouts: the items of a long sequence read all at once, in C.

A structure set's ContourSequence holds thousands of items laid out alike (a
ContourImageSequence of one item naming a slice, the geometric type, the point count, the
points), as does the list of every slice under RTReferencedSeriesSequence.  The walker
reads each element of each item in Python (about 8 µs a contour).  Here the first item,
once the walker has read it, becomes a pattern (:mod:`._layout` explains the idea for
headers; nested sequences of defined length are part of the pattern, item by item) and
``findall`` reads the rest of the sequence in one call; the checks then run column by
column, also in C (``map``, ``struct``): about 1 µs a contour.

The checks make a result proof, not a guess.  Every variable value's 2-byte length must be
the length of the value the pattern matched.  Every length of an item or of a nested
sequence must equal the bytes its pattern matched (a constant plus its variable values).
And the items found, which ``findall`` returns without overlap and in order, must add up
to exactly the bytes of the sequence left to read: so they tile it from its start to its
end, each matched exactly where the walker would have read it.  When any check fails the
walker reads the items as it always does.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from operator import add
from typing import Final

from dicomref.extraction._layout import (
    CHARSETS,
    HEAD,
    ITEM_BYTES,
    LONG_VRS,
    SHORT_VRS,
    U32,
    UNDEFINED,
    WANTED_VR,
    may_hold_items,
)
from dicomref.extraction._tree import Item

#: Shortest rest of a sequence worth a pattern, as a multiple of its first item's size.
MIN_ITEMS: Final = 4
#: Longest sequence read at once (bytes): longer ones are left to the walker.
MAX_SPAN: Final = 64 << 20
#: Shortest last value skipped by its length rather than matched (see ItemLayout.read).
MIN_TAIL: Final = 32
#: Compiled item layouts kept, by pattern.
CACHE_SIZE: Final = 256


@dataclass(slots=True)
class _Shape:
    """What one item of the pattern keeps: its wanted values and its sequences' items."""

    kept: list[tuple[int, int]] = field(default_factory=list)  # (tag, group)
    sequences: list[tuple[int, list[_Shape]]] = field(default_factory=list)

    def expression(self) -> str:
        """This item as a Python expression over ``row``, the groups of one match: a dict
        display with nested list displays, made of tag numbers and group indices only."""
        entries = [f"{tag}: row[{group}]" for tag, group in self.kept]
        entries += [
            f"{tag}: [{', '.join(child.expression() for child in children)}]"
            for tag, children in self.sequences
        ]
        return "{" + ", ".join(entries) + "}"

    def builder(self) -> Callable[[tuple[bytes, ...]], Item]:
        """A function making this item from a match's groups: compiled from
        :meth:`expression` (integers only), several times faster per item than a walk
        over the shape, which matters at thousands of items."""
        source = f"lambda row: {self.expression()}"
        built: Callable[[tuple[bytes, ...]], Item] = eval(source)
        return built


@dataclass(slots=True)
class _Scope:
    """A length field (of an item or a nested sequence) and what its value must be: the
    fixed bytes inside it plus the lengths of the variable values inside it."""

    group: int
    fixed: int = 0
    values: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # groups holding a skipped value's length


class ItemLayout:
    """One compiled item layout; :meth:`read` reads a run of items laid out alike."""

    __slots__ = ("_build", "_checked", "_findall", "_match", "_scopes", "_tail")

    def __init__(
        self,
        pattern: bytes,
        shape: _Shape,
        checked: list[tuple[int, int]],
        scopes: list[_Scope],
        tail: int | None,
    ) -> None:
        compiled = re.compile(pattern)
        # At least two groups (see item_layout), so findall gives a tuple per item.
        self._findall: Callable[[bytes, int, int], list[tuple[bytes, ...]]] = compiled.findall
        self._match: Callable[[bytes, int, int], re.Match[bytes] | None] = compiled.match
        self._tail = tail
        self._build = shape.builder()
        self._checked = checked
        self._scopes = scopes

    def read(self, buf: bytes, start: int, end: int) -> list[Item] | None:
        """The items of ``buf[start:end]``, or None unless all are laid out as learnt.

        Without a tail, one ``findall``; with one (a long last value, such as
        ContourData), a match per item, anchored where the last one's tail ends.
        """
        found_rows = (
            self._findall(buf, start, end)
            if self._tail is None
            else self._rows_with_tails(buf, start, end)
        )
        if found_rows is None:
            return None
        rows = found_rows
        n = len(rows)
        if not n:
            return None
        columns = list(zip(*rows, strict=True))
        short = struct.Struct(f"<{n}H").pack
        for length, value in self._checked:
            if short(*map(len, columns[value])) != b"".join(columns[length]):
                return None
        long_ = struct.Struct(f"<{n}I").unpack
        outer: tuple[int, ...] = ()
        for scope in self._scopes:
            found = long_(b"".join(columns[scope.group]))
            expected: Iterable[int] = repeat(scope.fixed, n)
            for value in scope.values:
                expected = map(add, expected, map(len, columns[value]))
            for skipped in scope.lengths:
                expected = map(add, expected, map(_little, columns[skipped]))
            if tuple(expected) != found:
                return None
            if not outer:
                outer = found  # the first scope is the item itself
        if sum(outer) + 8 * n != end - start:
            return None  # the items found do not tile the sequence: one is not laid out so
        build = self._build
        return [build(row) for row in rows]

    def _rows_with_tails(self, buf: bytes, pos: int, end: int) -> list[tuple[bytes, ...]] | None:
        match, tail = self._match, self._tail
        assert tail is not None
        rows: list[tuple[bytes, ...]] = []
        append = rows.append
        while pos < end:
            m = match(buf, pos, end)
            if m is None:
                return None
            row = m.groups()
            append(row)
            pos = m.end() + _little(row[tail])
        return rows if pos == end else None


def _little(value: bytes) -> int:
    return int.from_bytes(value, "little")


class _Builder:
    """Turns the bytes of one item into a pattern, its groups' plan and its shape."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.parts: list[bytes] = [rb"(?s)"]
        self.groups = 0
        self.checked: list[tuple[int, int]] = []
        self.scopes: list[_Scope] = []
        self.open: list[_Scope] = []
        self.tail_group: int | None = None

    def group(self, pattern: bytes) -> int:
        self.parts.append(b"(" + pattern + b")")
        self.groups += 1
        return self.groups - 1

    def fixed(self, count: int) -> None:
        for scope in self.open:
            scope.fixed += count

    def item(self, pos: int, end: int, depth: int) -> _Shape | None:
        """The item whose header is at ``pos`` and whose value ends at ``end``."""
        if depth > 8:
            return None
        self.fixed(8)
        self.parts.append(re.escape(ITEM_BYTES))
        scope = _Scope(self.group(rb"...."))
        self.scopes.append(scope)
        self.open.append(scope)
        shape = _Shape()
        pos += 8
        while pos < end:
            if pos + 8 > end:
                return None
            group, element, vr, length = HEAD(self.buf, pos)
            tag = (group << 16) | element
            if vr in SHORT_VRS:
                if pos + 8 + length > end or (tag in WANTED_VR and vr != WANTED_VR[tag]):
                    return None
                if depth == 0 and pos + 8 + length == end and self.tail(pos, tag, 8, length):
                    pos = end
                    break
                self.short(pos, tag, vr, length, shape)
                pos += 8 + length
                continue
            if pos + 12 > end or self.buf[pos + 6 : pos + 8] != b"\0\0":
                return None
            length = U32(self.buf, pos + 8)[0]
            after = pos + 12 + length
            if length == UNDEFINED or after > end or tag in WANTED_VR:
                return None
            if depth == 0 and after == end and vr in LONG_VRS and self.tail(pos, tag, 12, length):
                pos = end
                break
            if vr == b"SQ":
                children = self.sequence(pos, after, depth)
                if children is None:
                    return None
                shape.sequences.append((tag, children))
            elif vr in LONG_VRS:
                if may_hold_items(tag, length) and self.buf[pos + 12 : pos + 16] == ITEM_BYTES:
                    return None  # the walker may read it as a sequence
                self.fixed(12 + length)
                self.parts.append(re.escape(self.buf[pos : pos + 12]))
                if may_hold_items(tag, length):
                    self.parts.append(rb"(?!" + re.escape(ITEM_BYTES) + rb")")
                self.parts.append(rb".{%d}" % length)
            else:
                return None  # UN or an unknown VR: the walker decides
            pos = after
        self.open.pop()
        return shape if pos == end else None

    def tail(self, pos: int, tag: int, head: int, length: int) -> bool:
        """Make the last element of the outer item, if long and not wanted, its tail: its
        header matched, its value skipped by its length (never scanned).  True if so."""
        if length < MIN_TAIL or tag in WANTED_VR or may_hold_items(tag, length):
            return False
        self.fixed(head)
        self.parts.append(re.escape(self.buf[pos : pos + head - (4 if head == 12 else 2)]))
        self.tail_group = self.group(rb"...." if head == 12 else rb"..")
        for scope in self.open:
            scope.lengths.append(self.tail_group)
        return True

    def sequence(self, pos: int, end: int, depth: int) -> list[_Shape] | None:
        """A nested sequence of defined length: each of its items, as learnt."""
        self.fixed(12)
        self.parts.append(re.escape(self.buf[pos : pos + 8]))
        scope = _Scope(self.group(rb"...."))
        self.scopes.append(scope)
        self.open.append(scope)
        children = []
        pos += 12
        while pos < end:
            if pos + 8 > end or self.buf[pos : pos + 4] != ITEM_BYTES:
                return None
            length = U32(self.buf, pos + 4)[0]
            if length == UNDEFINED or pos + 8 + length > end:
                return None
            child = self.item(pos, pos + 8 + length, depth + 1)
            if child is None:
                return None
            children.append(child)
            pos += 8 + length
        self.open.pop()
        return children

    def short(self, pos: int, tag: int, vr: bytes, length: int, shape: _Shape) -> None:
        value = self.buf[pos + 8 : pos + 8 + length]
        charset = CHARSETS.get(vr)
        kept = tag in WANTED_VR
        self.fixed(8)
        if charset is not None and re.fullmatch(charset + rb"*", value):
            self.parts.append(re.escape(self.buf[pos : pos + 6]))
            length_group = self.group(rb"..")
            value_group = self.group(charset + rb"*")
            self.checked.append((length_group, value_group))
            for scope in self.open:
                scope.values.append(value_group)
        else:
            self.fixed(length)
            self.parts.append(re.escape(self.buf[pos : pos + 8]))
            if not kept:
                self.parts.append(rb".{%d}" % length)
                return
            value_group = self.group(rb".{%d}" % length)
        if kept:
            shape.kept.append((tag, value_group))


_CACHE: dict[bytes, ItemLayout] = {}


def item_layout(buf: bytes, pos: int, end: int) -> ItemLayout | None:
    """The layout of the explicit-VR item at ``pos`` (its header) ending at ``end``, or
    None when it holds something a layout cannot express (undefined lengths, ``UN``, a
    wanted value in another VR, a private value that may be a sequence …)."""
    builder = _Builder(buf)
    shape = builder.item(pos, end, 0)
    if shape is None:
        return None
    if builder.groups == 1:
        builder.group(b"")  # so that findall gives tuples
    pattern = b"".join(builder.parts)
    layout = _CACHE.get(pattern)
    if layout is None:
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.clear()
        layout = _CACHE[pattern] = ItemLayout(
            pattern, shape, builder.checked, builder.scopes, builder.tail_group
        )
    return layout
