"""DIMSE statuses that code above the wire layer names (no pynetdicom needed to name them)."""

from __future__ import annotations

from typing import Final

#: C-MOVE "Refused: Move Destination unknown" (PS3.4 C.4.2.1.5): the server does not know
#: the AE title it was asked to send to.
MOVE_DESTINATION_UNKNOWN: Final = 0xA801
