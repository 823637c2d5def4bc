"""Consistency checks over the catalog: what is missing, duplicated or out of place.

Each check is a small function ``(catalog, options) -> Iterable[Finding]`` registered in
:data:`CHECKS`; :func:`run_checks` runs them all and returns the findings sorted by
severity, then code.
"""

from __future__ import annotations

from dicomref.check._findings import CheckOptions, Finding, Severity
from dicomref.check._run import CHECKS, run_checks

__all__ = ["CHECKS", "CheckOptions", "Finding", "Severity", "run_checks"]
