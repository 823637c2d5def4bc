"""The finding a check reports, and the options checks take."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.StrEnum):
    """How bad a finding is.  ``error`` makes ``dicomref check`` exit non-zero."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in the catalog.

    ``source`` is the SOP Instance UID of the object where the problem shows
    (None for catalog-wide findings), ``target`` the UID it concerns, ``path``
    the place in the source object (sequence path, or file path for duplicates).
    """

    code: str
    severity: Severity
    source: str | None
    target: str | None
    path: str | None
    message: str


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """Tunable limits of the checks.

    ``contour_tolerance_mm``: how far (along the slice normal) a contour point may lie
    from its slice's plane before ``CONTOUR_OFF_SLICE`` is reported.
    """

    contour_tolerance_mm: float = 0.05
