"""FRAME_OF_REFERENCE_MISMATCH: objects that must share a frame of reference and do not.

A structure set and the images its contours lie on, a plan and its structure set, a dose
and its plan or structure set, a segmentation and its source images all describe the
same patient coordinates; a different FrameOfReferenceUID means positions cannot be
compared.  Registrations and plain image references are left out on purpose: they
legitimately cross frames of reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

from dicomref.catalog import Catalog
from dicomref.check._findings import CheckOptions, Finding, Severity
from dicomref.model import Kind, ObjectSummary, Reference

#: Modalities whose objects are checked as sources.
SOURCE_MODALITIES = ("RTSTRUCT", "RTPLAN", "RTDOSE", "SEG")

#: Reference kinds whose two ends must share the frame of reference.
SHARED_FRAME_KINDS = frozenset(
    {Kind.STRUCTURE_SET, Kind.PLAN, Kind.DOSE, Kind.CONTOUR_IMAGE, Kind.SOURCE_IMAGE}
)


def check_frames(catalog: Catalog, options: CheckOptions) -> Iterator[Finding]:
    targets: dict[str, ObjectSummary | None] = {}

    def target_of(uid: str) -> ObjectSummary | None:
        if uid not in targets:
            found = catalog.locate(uid)
            targets[uid] = found[0] if found else None
        return targets[uid]

    for modality in SOURCE_MODALITIES:
        for summary in catalog.instances(modality=modality):
            yield from frame_findings(
                summary, catalog.references_from(summary.sop_instance), target_of
            )


def frame_findings(
    summary: ObjectSummary,
    references: Iterable[Reference],
    target_of: Callable[[str], ObjectSummary | None],
) -> Iterator[Finding]:
    """The mismatches of one source object (of :data:`SOURCE_MODALITIES`) with the targets
    of its ``references`` (``target_of`` finds a target's summary, None if not held)."""
    source_for = summary.frame_of_reference
    if not source_for:
        return
    # (kind, target frame) -> [target uids], so 40 slices give one finding.
    mismatched: dict[tuple[Kind, str], list[str]] = defaultdict(list)
    first_path: dict[tuple[Kind, str], str] = {}
    seen: set[str] = set()
    for ref in references:
        if ref.kind not in SHARED_FRAME_KINDS or not ref.instance:
            continue
        if ref.target in seen:
            continue
        seen.add(ref.target)
        target = target_of(ref.target)
        if target is None or not target.frame_of_reference:
            continue
        if target.frame_of_reference != source_for:
            key = (ref.kind, target.frame_of_reference)
            mismatched[key].append(ref.target)
            first_path.setdefault(key, ref.path)
    for (kind, target_for), uids in mismatched.items():
        what = kind.value.replace("_", " ")
        many = f"{len(uids)} {what}s" if len(uids) > 1 else f"{what} {uids[0]}"
        yield Finding(
            code="FRAME_OF_REFERENCE_MISMATCH",
            severity=Severity.ERROR,
            source=summary.sop_instance,
            target=uids[0],
            path=first_path[(kind, target_for)],
            message=(
                f"{summary.modality} {summary.sop_instance} is in frame of reference "
                f"{source_for}, but {many} it references "
                f"{'are' if len(uids) > 1 else 'is'} in {target_for}: "
                "their coordinates cannot be compared; re-export them together "
                "or add a registration"
            ),
        )
