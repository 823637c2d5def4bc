"""The generic reference walk over a light tree (DESIGN §3, "generic first").

Every item of every sequence, at any depth, that holds a ReferencedSOPInstanceUID is a
reference.  Its ``path`` is the chain of sequence keywords with item indices that leads to
it; its kind comes from :mod:`._rules`; its location hints come from the items around it:

* an enclosing (or its own) item's StudyInstanceUID / SeriesInstanceUID (RTReferencedSeries,
  ReferencedSeriesSequence, StudiesContainingOtherReferencedInstances, the SR evidence
  sequences …);
* an enclosing item whose reference is a study (RTReferencedStudySequence,
  ReferencedStudySequence): its ReferencedSOPInstanceUID is the study of everything below;
* then, for references still without a hint, the hints of another reference to the same
  target in the same object (an RTSTRUCT's ROIContourSequence contour images are located by
  the same UIDs listed under RTReferencedSeriesSequence).

Placeholder UIDs ("0", empty) are never hints; a placeholder target is still reported.
Sequence items are unique places, so no two references share a path: nothing is collapsed.
"""

from __future__ import annotations

from dataclasses import replace

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
    uid,
    unsigned_shorts,
)
from dicomref.model import Kind, Reference


def find_references(tree: Item, source: str, source_class: str | None) -> list[Reference]:
    """Every reference in ``tree`` (a top-level dataset), in tag order, depth first."""
    found: list[Reference] = []
    _visit(tree, "", (), None, None, None, source, source_class, found)
    return _share_hints(found)


def _visit(
    item: Item,
    prefix: str,
    chain: tuple[str, ...],
    study: str | None,
    series: str | None,
    value_type: str | None,
    source: str,
    source_class: str | None,
    found: list[Reference],
) -> None:
    sequences = [tag for tag, value in item.items() if type(value) is list]
    if len(sequences) > 1:
        sequences.sort()
    for tag in sequences:
        children = item[tag]
        assert isinstance(children, list)
        name = keyword(tag)
        inner_chain = (*chain, name)
        for index, child in enumerate(children):
            path = f"{prefix}.{name}[{index}]" if prefix else f"{name}[{index}]"
            child_study = hint(child, STUDY_INSTANCE_UID) if STUDY_INSTANCE_UID in child else None
            child_series = (
                hint(child, SERIES_INSTANCE_UID) if SERIES_INSTANCE_UID in child else None
            )
            child_study = child_study or study
            child_series = child_series or series
            below_study = child_study
            target = uid(child, REFERENCED_SOP_INSTANCE_UID)
            if target is not None:
                target_class = uid(child, REFERENCED_SOP_CLASS_UID)
                kind, instance = classify(
                    Context(source_class, inner_chain, target_class, value_type)
                )
                found.append(
                    Reference(
                        source,
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
                if kind is Kind.STUDY and target not in PLACEHOLDER_UIDS:
                    below_study = target
            for value in child.values():
                if type(value) is list:
                    _visit(
                        child,
                        path,
                        inner_chain,
                        below_study,
                        child_series,
                        text(child, VALUE_TYPE),
                        source,
                        source_class,
                        found,
                    )
                    break


def _share_hints(found: list[Reference]) -> list[Reference]:
    """Give references without hints those of another reference to the same target."""
    known: dict[str, tuple[str | None, str | None]] = {}
    for reference in found:
        if reference.instance and (reference.study or reference.series):
            study, series = known.get(reference.target, (None, None))
            known[reference.target] = (study or reference.study, series or reference.series)
    if not known:
        return found
    shared = []
    for reference in found:
        hints = known.get(reference.target) if reference.instance else None
        if hints is not None and (reference.study is None or reference.series is None):
            reference = replace(
                reference,
                study=reference.study or hints[0],
                series=reference.series or hints[1],
            )
        shared.append(reference)
    return shared
