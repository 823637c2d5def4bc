"""DUPLICATE_SOP_INSTANCE_UID: one SOP Instance UID held by several files."""

from __future__ import annotations

from collections.abc import Iterator

from dicomref._filenames import printable_path
from dicomref.catalog import Catalog, DuplicateGroup
from dicomref.check._findings import CheckOptions, Finding, Severity


def check_duplicates(catalog: Catalog, options: CheckOptions) -> Iterator[Finding]:
    for group in catalog.duplicates():
        yield duplicate_finding(group)


def duplicate_finding(group: DuplicateGroup) -> Finding:
    """The finding of one SOP Instance UID held by several files."""
    paths = ", ".join(printable_path(p) for p in group.paths)
    if group.same_content:
        severity, what = Severity.WARNING, "identical copies"
    elif group.same_content is None:
        severity, what = Severity.ERROR, "copies whose content could not be compared"
    else:
        severity, what = Severity.ERROR, "DIFFERENT objects"
    return Finding(
        code="DUPLICATE_SOP_INSTANCE_UID",
        severity=severity,
        source=group.sop_uid,
        target=None,
        path=paths,
        message=(
            f"SOP Instance UID {group.sop_uid} is held by {len(group.paths)} files, "
            f"{what}: {paths}"
            + ("" if group.same_content else "; keep one, or give the others new UIDs")
        ),
    )
