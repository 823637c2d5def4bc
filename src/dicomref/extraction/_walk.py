"""The generic reference walk over a light tree (DESIGN §3, "generic first").

Every item of every sequence, at any depth, that holds a ReferencedSOPInstanceUID is a
reference.  Its ``path`` is the chain of sequence keywords with item indices that leads to
it; its kind comes from :mod:`._rules`; its location hints come from the items around it:

* an enclosing (or its own) item's StudyInstanceUID / SeriesInstanceUID (RTReferencedSeries,
  ReferencedSeriesSequence, StudiesContainingOtherReferencedInstances, the SR evidence
  sequences …);
* an enclosing item whose reference is a study (RTReferencedStudySequence,
  ReferencedStudySequence) or a series (see :data:`~._rules.LEVEL_SEQUENCES`): its
  ReferencedSOPInstanceUID is the study (series) of everything below, unless the item holds
  a StudyInstanceUID (SeriesInstanceUID) of its own — so a contour image in another study is
  looked for in the study its RTReferencedStudySequence item names, not the source's own;
* then, for references still without a hint, the hints of another reference to the same
  target in the same object (an RTSTRUCT's ROIContourSequence contour images are located by
  the same UIDs listed under RTReferencedSeriesSequence).

Placeholder UIDs ("0", empty) are never hints; a placeholder target is still reported.
Sequence items are unique places, so no two references share a path: nothing is collapsed.

A structure set holds thousands of contour image references, so the walk is written for
them: references are plain tuples (:data:`RawReference`) until their hints are final, and
each chain of sequences remembers the kinds already decided under it.
"""

from __future__ import annotations

from typing import TypeAlias

from dicomref.extraction._rules import Context, classify
from dicomref.extraction._tree import (
    REFERENCED_FRAME_NUMBER,
    REFERENCED_SEGMENT_NUMBER,
    REFERENCED_SOP_CLASS_UID,
    REFERENCED_SOP_INSTANCE_UID,
    SERIES_INSTANCE_UID,
    STUDY_INSTANCE_UID,
    VALUE_TYPE,
    Item,
    keyword,
)
from dicomref.extraction._values import (
    PLACEHOLDER_UIDS,
    hint,
    integers,
    text,
    unsigned_shorts,
)
from dicomref.model import Kind, Reference

#: A :class:`~dicomref.model.Reference` without its source, as a tuple in field order:
#: (target, target_class, kind, path, study, series, frames, segments, instance).
RawReference: TypeAlias = tuple[
    str, str | None, Kind, str, str | None, str | None, tuple[int, ...], tuple[int, ...], bool
]


def find_references(tree: Item, source: str, source_class: str | None) -> list[Reference]:
    """Every reference in ``tree`` (a top-level dataset), in tag order, depth first."""
    return [Reference(source, *raw) for raw in raw_references(tree, source_class)]


def raw_references(tree: Item, source_class: str | None) -> list[RawReference]:
    """What :func:`find_references` finds, as :data:`RawReference` tuples."""
    for value in tree.values():
        if type(value) is list:  # most images have no sequence at all
            walk = _Walk()
            _visit(tree, "", _Chain(source_class, ()), None, None, None, walk)
            return walk.finish()
    return []


class _Walk:
    """What one walk collects: the references, the hints known per target, and the
    references still without hints (given those of another reference to the same target
    as soon as one is known, or at the end).  UIDs met before are not decoded again: a
    structure set names each slice many times."""

    __slots__ = ("found", "known", "uids", "waiting")

    def __init__(self) -> None:
        self.found: list[RawReference] = []
        self.known: dict[str, tuple[str | None, str | None]] = {}
        self.waiting: list[int] = []
        self.uids: dict[bytes, str] = {}

    def uid(self, value: bytes) -> str:
        decoded = self.uids.get(value)
        if decoded is None:
            decoded = self.uids[value] = value.decode("ascii", "replace").strip(" \0")
        return decoded

    def add(self, raw: RawReference) -> None:
        target, study, series = raw[0], raw[4], raw[5]
        if raw[8]:  # an instance: hints to share, or to wait for
            if study and series:
                old = self.known.get(target)
                if old is None or not (old[0] and old[1]):
                    self._learn(target, study, series)
            else:
                if study or series:
                    self._learn(target, study, series)
                hints = self.known.get(target)
                if hints is not None:
                    raw = _with_hints(raw, hints)
                if raw[4] is None or raw[5] is None:  # once both are known, they stay
                    self.waiting.append(len(self.found))
        self.found.append(raw)

    def _learn(self, target: str, study: str | None, series: str | None) -> None:
        old = self.known.get(target)
        self.known[target] = (study, series) if old is None else (old[0] or study, old[1] or series)

    def finish(self) -> list[RawReference]:
        """The references, each still without a hint given those learnt since."""
        found, known = self.found, self.known
        for index in self.waiting:
            raw = found[index]
            hints = known.get(raw[0])
            if hints is not None:
                found[index] = _with_hints(raw, hints)
        return found


def _with_hints(raw: RawReference, hints: tuple[str | None, str | None]) -> RawReference:
    """``raw`` with its missing study and series hints taken from ``hints``."""
    return (
        raw[0],
        raw[1],
        raw[2],
        raw[3],
        raw[4] or hints[0],
        raw[5] or hints[1],
        raw[6],
        raw[7],
        raw[8],
    )


class _Chain:
    """A chain of enclosing sequence keywords, its longer chains, and the kinds decided
    under it (by target class and value type): the rules run once per distinct place."""

    __slots__ = ("inner", "keywords", "kinds", "source_class")

    def __init__(self, source_class: str | None, keywords: tuple[str, ...]) -> None:
        self.source_class = source_class
        self.keywords = keywords
        self.inner: dict[int, _Chain] = {}
        self.kinds: dict[tuple[str | None, str | None], tuple[Kind, bool]] = {}

    def child(self, tag: int) -> _Chain:
        chain = self.inner.get(tag)
        if chain is None:
            chain = self.inner[tag] = _Chain(self.source_class, (*self.keywords, keyword(tag)))
        return chain

    def kind(self, target_class: str | None, value_type: str | None) -> tuple[Kind, bool]:
        decided = self.kinds.get((target_class, value_type))
        if decided is None:
            context = Context(self.source_class, self.keywords, target_class, value_type)
            decided = self.kinds[(target_class, value_type)] = classify(context)
        return decided


def _visit(
    item: Item,
    prefix: str,
    chain: _Chain,
    study: str | None,
    series: str | None,
    value_type: str | None,
    walk: _Walk,
) -> None:
    sequences = [tag for tag, value in item.items() if type(value) is list]
    if len(sequences) > 1:
        sequences.sort()
    uid, add = walk.uid, walk.add
    for tag in sequences:
        children = item[tag]
        assert isinstance(children, list)
        inner = chain.inner.get(tag) or chain.child(tag)
        kinds = inner.kinds
        head = f"{prefix}.{inner.keywords[-1]}[" if prefix else f"{inner.keywords[-1]}["
        for index, child in enumerate(children):
            path = f"{head}{index}]"
            child_study = (
                (hint(child, STUDY_INSTANCE_UID) or study) if STUDY_INSTANCE_UID in child else study
            )
            child_series = (
                (hint(child, SERIES_INSTANCE_UID) or series)
                if SERIES_INSTANCE_UID in child
                else series
            )
            below_study, below_series = child_study, child_series
            value = child.get(REFERENCED_SOP_INSTANCE_UID)
            target = uid(value) if type(value) is bytes else None
            if target:
                value = child.get(REFERENCED_SOP_CLASS_UID)
                target_class = (uid(value) or None) if type(value) is bytes else None
                decided = kinds.get((target_class, value_type))
                if decided is None:
                    decided = inner.kind(target_class, value_type)
                kind, instance = decided
                add(
                    (
                        target,
                        target_class,
                        kind,
                        path,
                        child_study,
                        child_series,
                        integers(child, REFERENCED_FRAME_NUMBER)
                        if REFERENCED_FRAME_NUMBER in child
                        else (),
                        unsigned_shorts(child, REFERENCED_SEGMENT_NUMBER)
                        if REFERENCED_SEGMENT_NUMBER in child
                        else (),
                        instance,
                    )
                )
                if not instance and target not in PLACEHOLDER_UIDS:
                    # A study (series) item locates what it holds, unless it says otherwise.
                    if kind is Kind.STUDY and hint(child, STUDY_INSTANCE_UID) is None:
                        below_study = target
                    elif kind is Kind.SERIES and hint(child, SERIES_INSTANCE_UID) is None:
                        below_series = target
            for value in child.values():
                if type(value) is list:
                    _visit(
                        child,
                        path,
                        inner,
                        below_study,
                        below_series,
                        text(child, VALUE_TYPE) if VALUE_TYPE in child else None,
                        walk,
                    )
                    break
