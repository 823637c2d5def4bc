"""NONCONFORMING_REFERENCE: study and series references written against the standard.

Some writers put an object's SOP class where the standard wants a study's: Varian ARIA and
Brainlab give the RTReferencedStudySequence item of a structure set the class RT Structure
Set Storage and the Study Instance UID as its instance.  Extraction reads such an item by its
position, as the study (or series) it names (see :mod:`dicomref.extraction._rules`), so it
is never fetched nor reported dangling; this check says, once per object, that the file
departs from the standard and how it was read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dicomref.catalog import Catalog
from dicomref.check._findings import CheckOptions, Finding, Severity
from dicomref.extraction._rules import nonconformity
from dicomref.model import Kind, Reference


def check_conformance(catalog: Catalog, options: CheckOptions) -> Iterator[Finding]:
    """One warning per object holding study or series references that do not conform."""
    return conformance_findings(catalog.references_of_kind(Kind.STUDY, Kind.SERIES))


def conformance_findings(references: Iterable[Reference]) -> Iterator[Finding]:
    """The findings of these study and series references (the web page gives one study's)."""
    per_source: dict[str, list[tuple[Reference, str]]] = {}
    for ref in references:
        why = nonconformity(ref.kind, ref.target_class)
        if why is not None:
            per_source.setdefault(ref.source, []).append((ref, why))
    for source, found in per_source.items():
        first, why = found[0]
        others = f" (and {len(found) - 1} more such items)" if len(found) > 1 else ""
        yield Finding(
            code="NONCONFORMING_REFERENCE",
            severity=Severity.WARNING,
            source=source,
            target=first.target,
            path=first.path,
            message=(
                f"{why} at {first.path}{others}; read as the {first.kind.value} "
                f"{first.target}, not as an object to fetch. Tools that trust the class "
                "may look for an object of that UID: export again in conformance, or fix "
                "the class (e.g. with dcmodify), if one does"
            ),
        )
