"""DANGLING_REFERENCE: references to objects no indexed file holds."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dicomref.catalog import Catalog
from dicomref.check._findings import CheckOptions, Finding, Severity
from dicomref.model import Kind, Reference

#: Missing targets of these kinds break the chain users rely on (plan → structure set →
#: images, dose → plan, SEG → source images): reported as errors.  Others are warnings.
CHAIN_KINDS = frozenset(
    {
        Kind.STRUCTURE_SET,
        Kind.PLAN,
        Kind.DOSE,
        Kind.CONTOUR_IMAGE,
        Kind.SOURCE_IMAGE,
        Kind.SEGMENTATION,
        Kind.RT_IMAGE,
    }
)


def check_dangling(catalog: Catalog, options: CheckOptions) -> Iterator[Finding]:
    """One finding per (source, missing target, kind), however many places name it."""
    return dangling_findings(catalog.dangling())


def dangling_findings(dangling: Iterable[Reference]) -> Iterator[Finding]:
    """The findings of these references to objects no indexed file holds (the web page
    gives those of one study)."""
    groups: dict[tuple[str, str, Kind], list[Reference]] = {}
    for ref in dangling:
        groups.setdefault((ref.source, ref.target, ref.kind), []).append(ref)
    for (source, target, kind), refs in groups.items():
        first = refs[0]
        study = next((r.study for r in refs if r.study), None)
        series = next((r.series for r in refs if r.series), None)
        where = [f"study {study}"] if study else []
        where += [f"series {series}"] if series else []
        hint = f" (expected in {', '.join(where)})" if where else ""
        places = f"{len(refs)} places, first " if len(refs) > 1 else ""
        yield Finding(
            code="DANGLING_REFERENCE",
            severity=Severity.ERROR if kind in CHAIN_KINDS else Severity.WARNING,
            source=source,
            target=target,
            path=first.path,
            message=(
                f"names {kind.value.replace('_', ' ')} {target} in {places}{first.path}; "
                f"no scanned file holds it{hint}: scan the folder that has it, or fetch it"
            ),
        )
