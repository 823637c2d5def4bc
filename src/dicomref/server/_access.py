"""Who may do what: which calling AE titles may associate, and which may retrieve.

Association requests from other AE titles are rejected by pynetdicom (ACSE service user,
reason 3: "calling AE title not recognised"); C-MOVE and C-GET from callers that may not
retrieve end with status 0x0124 (refused: not authorised).  AE titles are compared
without surrounding spaces and with their case, as DICOM defines them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Why an association was rejected, by the (source, diagnostic) pynetdicom sent.
REJECT_REASONS: Final[dict[tuple[int, int], str]] = {
    (1, 3): "calling AE title not recognised",
    (1, 7): "called AE title not recognised",
    (2, 2): "too many associations (local limit exceeded)",
}


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """``callers``: who may associate (None: anyone); ``retrievers``: who may C-MOVE/C-GET
    (None: anyone who may associate)."""

    callers: frozenset[str] | None = None
    retrievers: frozenset[str] | None = None

    def may_associate(self, calling_ae: str) -> bool:
        return self.callers is None or calling_ae.strip() in self.callers

    def may_retrieve(self, calling_ae: str) -> bool:
        if not self.may_associate(calling_ae):
            return False
        return self.retrievers is None or calling_ae.strip() in self.retrievers

    def rejection(self, calling_ae: str, called_ae: str, our_ae: str, *, check_called: bool) -> str:
        """Why an association from ``calling_ae`` to ``called_ae`` was rejected, in words."""
        if not self.may_associate(calling_ae):
            return REJECT_REASONS[(1, 3)]
        if check_called and called_ae.strip() != our_ae:
            return REJECT_REASONS[(1, 7)]
        return REJECT_REASONS[(2, 2)]
