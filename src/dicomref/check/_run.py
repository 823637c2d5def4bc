"""The table of checks and the function that runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dicomref.catalog import Catalog
from dicomref.check._conformance import check_conformance
from dicomref.check._contours import check_contours
from dicomref.check._duplicates import check_duplicates
from dicomref.check._findings import SEVERITY_ORDER, CheckOptions, Finding
from dicomref.check._frames import check_frames
from dicomref.check._references import check_dangling
from dicomref.errors import UsageError

Check = Callable[[Catalog, CheckOptions], Iterable[Finding]]

#: Every check, by the finding codes it can report.
CHECKS: dict[str, Check] = {
    "DANGLING_REFERENCE": check_dangling,
    "DUPLICATE_SOP_INSTANCE_UID": check_duplicates,
    "CONTOUR_OFF_SLICE": check_contours,
    "FRAME_OF_REFERENCE_MISMATCH": check_frames,
    "NONCONFORMING_REFERENCE": check_conformance,
}


def run_checks(
    catalog: Catalog,
    options: CheckOptions | None = None,
    *,
    only: Iterable[str] | None = None,
) -> list[Finding]:
    """Run the checks (all, or those named in ``only``) and return their findings sorted."""
    options = options or CheckOptions()
    wanted = set(only) if only is not None else set(CHECKS)
    unknown = wanted - set(CHECKS)
    if unknown:
        raise UsageError(
            f"unknown check {', '.join(sorted(unknown))}: choose from {', '.join(CHECKS)}"
        )
    findings: list[Finding] = []
    for code, check in CHECKS.items():
        if code in wanted:
            findings.extend(check(catalog, options))
    findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.code, f.source or "", f.path or ""))
    return findings
