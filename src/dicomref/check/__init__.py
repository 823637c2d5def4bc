"""Consistency checks over the catalog: what is missing, duplicated or out of place.

Each check is a small function ``(catalog, options) -> Iterable[Finding]`` registered in
:data:`CHECKS`; :func:`run_checks` runs them all and returns the findings sorted by
severity, then code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomref._lazy import face

if TYPE_CHECKING:
    from dicomref.check._conformance import conformance_findings
    from dicomref.check._duplicates import duplicate_finding
    from dicomref.check._findings import SEVERITY_ORDER, CheckOptions, Finding, Severity
    from dicomref.check._frames import SOURCE_MODALITIES, frame_findings
    from dicomref.check._references import dangling_findings
    from dicomref.check._run import CHECKS, run_checks

# Imported on first use (docs/architecture.md): the checks need the catalog (SQLAlchemy).
_LAZY: dict[str, str] = {
    **dict.fromkeys(["CheckOptions", "Finding", "SEVERITY_ORDER", "Severity"], "._findings"),
    "conformance_findings": "._conformance",
    "dangling_findings": "._references",
    **dict.fromkeys(["SOURCE_MODALITIES", "frame_findings"], "._frames"),
    "duplicate_finding": "._duplicates",
    **dict.fromkeys(["CHECKS", "run_checks"], "._run"),
}
if not TYPE_CHECKING:
    __getattr__, __dir__ = face(__name__, _LAZY)

__all__ = [
    "CHECKS",
    "SEVERITY_ORDER",
    "SOURCE_MODALITIES",
    "CheckOptions",
    "Finding",
    "Severity",
    "conformance_findings",
    "dangling_findings",
    "duplicate_finding",
    "frame_findings",
    "run_checks",
]
