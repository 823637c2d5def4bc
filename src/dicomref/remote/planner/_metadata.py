"""Metadata or the object: which is cheaper to read a candidate's references from.

DICOMweb instance metadata carries every sequence, so a candidate's references (does this
dose name our plan?) can be read without moving the candidate.  Whether that is cheaper
depends on what the object is made of and on the server (DESIGN §7):

- objects whose bulk is pixel data (RTDOSE grids, SEG, images): the metadata gives the
  pixel data as a BulkDataURI, never followed here, so it is a few kilobytes against the
  object's megabytes: read the metadata, where the server gives BulkDataURIs
  (``bulk_data_uris`` not measured false: a server that inlines pixel data in metadata,
  Base64, makes it larger than the object);
- objects that are all header (RTSTRUCT, RTPLAN, RTRECORD, SR, KO, PR): their metadata is
  larger than the file (3.4x for a 26.8 MB structure set on Orthanc, 91 MB taking 4.5-7.9 s
  against 0.2-0.35 s for the file; 5.7x for a small plan): retrieve the object, unless the
  probe measured this server's metadata both faster (``metadata_cost`` < 1, seconds over
  seconds on an RT object) and smaller (``metadata_size`` < 1, bytes over bytes: a server
  that gives large values such as ContourData as BulkDataURIs).  Time alone is not
  enough: it is measured on a small object, where per-request costs hide the size, and
  metadata larger than the object loses more the larger the object (bench/metadata_choice.py:
  on Orthanc 0.003 s against 0.002 s for a plan, 6.0 s against 0.18 s for a 21 MB
  structure set), and the candidates' sizes are not known before they move.

Pure: the fetch loop asks, and reads the metadata only from a transport that has it.
"""

from __future__ import annotations

from typing import Final

from dicomref.remote.planner._capabilities import Capabilities

PIXEL_MODALITIES: Final = frozenset(
    {"RTDOSE", "RTIMAGE", "SEG", "CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "OT"}
)
"""Series whose objects are mostly pixel data."""


def metadata_first(modality: str | None, caps: Capabilities) -> str | None:
    """Why to read the candidates of a ``modality`` series from their metadata (one line
    for the steps), or None to retrieve them."""
    if modality in PIXEL_MODALITIES:
        if caps.bulk_data_uris is False:
            return None
        return (
            f"{modality} candidates read from their metadata: their pixel data comes as a "
            "BulkDataURI (not fetched), a few KB instead of the objects"
        )
    cost, size = caps.metadata_cost, caps.metadata_size
    if cost is not None and cost < 1.0 and size is not None and size < 1.0:
        return (
            f"{modality or 'the'} candidates read from their metadata: measured "
            f"{cost:.2f}x the time and {size:.2f}x the bytes of the object on this server"
        )
    return None
