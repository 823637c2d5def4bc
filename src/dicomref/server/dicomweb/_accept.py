"""What a WADO-RS retrieve sends, read from its ``Accept`` header (PS3.18 §8.7.3).

Offered: ``multipart/related; type="application/dicom"``, with ``transfer-syntax=*``
(each object as stored) or one transfer syntax UID; without the parameter, Explicit VR
Little Endian (the standard's default).  ``*/*``, ``multipart/related`` and
``multipart/*`` without a type mean the same default.  Media ranges are taken by their
``q`` value, then in order: a client may list fallbacks
(``...transfer-syntax=1.2.840.10008.1.2.4.50, ...transfer-syntax=*``), and the first
syntax every object asked for can go in is used (:mod:`._wado`).  None is 406 (Not
Acceptable) naming what is offered.
"""

from __future__ import annotations

from typing import Final

from dicomref._dicomweb._media import (
    ANY_SYNTAX,
    DICOM,
    EXPLICIT_VR_LITTLE_ENDIAN,
    MULTIPART_RELATED,
    parse_content_type,
)
from dicomref.server.dicomweb._problems import DicomWebError

OFFERED: Final = (
    'multipart/related; type="application/dicom" with transfer-syntax=* (as stored) or '
    "a transfer syntax UID (default 1.2.840.10008.1.2.1, Explicit VR Little Endian)"
)


def _ranges(header: str) -> list[tuple[float, int, str, dict[str, str]]]:
    ranges = []
    quoted = False
    start = 0
    pieces = []
    for index, char in enumerate(header):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            pieces.append(header[start:index])
            start = index + 1
    pieces.append(header[start:])
    for position, piece in enumerate(pieces):
        if not piece.strip():
            continue
        media, params = parse_content_type(piece)
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 1.0
        ranges.append((-quality, position, media, params))
    return sorted(ranges)


def dicom_syntaxes(header: str | None) -> list[str]:
    """The transfer syntaxes the ``Accept`` header takes objects in (``*``: as stored), best
    first; DicomWebError 406 when it asks for nothing offered."""
    if header is None or not header.strip():
        return [EXPLICIT_VR_LITTLE_ENDIAN]
    found: list[str] = []
    for quality, _, media, params in _ranges(header):
        if quality >= 0:
            continue  # q=0: not acceptable
        if media in ("*/*", "multipart/*") or (
            media == MULTIPART_RELATED and params.get("type", DICOM).lower() == DICOM
        ):
            syntax = params.get("transfer-syntax", "").strip() or EXPLICIT_VR_LITTLE_ENDIAN
            if syntax not in found:
                found.append(syntax)
    if not found:
        raise DicomWebError(406, f"cannot answer Accept: {header[:200]}; offered: {OFFERED}")
    return found


def wants_any(syntax: str) -> bool:
    return syntax == ANY_SYNTAX
