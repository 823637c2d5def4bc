"""The status codes the server answers with (PS3.4 C.4, B.2.3; PS3.7 Annex C).

Meanings in words come from
:func:`dicomref.remote.transport._dimse_client.status_meaning`, which reads pynetdicom's tables.
"""

from __future__ import annotations

from typing import Final

SUCCESS: Final = 0x0000
PENDING: Final = 0xFF00
CANCEL: Final = 0xFE00

IDENTIFIER_DOES_NOT_MATCH: Final = 0xA900
"""C-FIND/C-MOVE/C-GET: the identifier breaks the rules of the information model."""
UNABLE_TO_PROCESS: Final = 0xC000
"""C-FIND/C-MOVE/C-GET: the catalog could not be read."""
UNABLE_TO_CALCULATE: Final = 0xA701
"""C-MOVE/C-GET: out of resources, unable to calculate the number of matches."""
MOVE_DESTINATION_UNKNOWN: Final = 0xA801
NOT_AUTHORISED: Final = 0x0124
"""C-MOVE/C-GET from a caller that may not retrieve; C-STORE when no store is configured."""

STORE_OUT_OF_RESOURCES: Final = 0xA700
"""C-STORE: the object could not be written or indexed (disk full, catalog error)."""
STORE_DOES_NOT_MATCH: Final = 0xA900
"""C-STORE: the data set lacks an identifying UID or does not match the request."""
STORE_CANNOT_UNDERSTAND: Final = 0xC210
"""C-STORE: the data set could not be decoded or read as a DICOM object."""
DUPLICATE_SOP_INSTANCE: Final = 0x0111
"""C-STORE: an object with this SOP Instance UID but other content is already held; the
first one is kept and the new one is not stored (PS3.7 Annex C, "Duplicate SOP Instance")."""
