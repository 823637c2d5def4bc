"""Media types of DICOMweb (PS3.18 §8.7) and the headers that name them."""

from __future__ import annotations

from typing import Final

DICOM: Final = "application/dicom"
DICOM_JSON: Final = "application/dicom+json"
JSON: Final = "application/json"
MULTIPART_RELATED: Final = "multipart/related"
OCTET_STREAM: Final = "application/octet-stream"

ANY_SYNTAX: Final = "*"
"""``transfer-syntax=*``: the objects as stored, never transcoded by the server."""
EXPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2.1"
"""The transfer syntax a server must send when none is asked for."""


def multipart_accept(part_type: str = DICOM, transfer_syntax: str | None = ANY_SYNTAX) -> str:
    """``multipart/related; type="application/dicom"[; transfer-syntax=...]``.

    ``transfer_syntax`` None leaves the parameter out: the server's default (Explicit VR
    Little Endian for ``application/dicom``).
    """
    value = f'{MULTIPART_RELATED}; type="{part_type}"'
    if transfer_syntax is not None:
        value += f"; transfer-syntax={transfer_syntax}"
    return value


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """(media type in lower case, parameters by lower-case name, quotes removed).

    ``multipart/related; type="application/dicom"; boundary=abc`` →
    ``("multipart/related", {"type": "application/dicom", "boundary": "abc"})``.
    A quoted value may hold ``;`` (RFC 7231 quoted-string).
    """
    pieces = _split_params(value)
    media = pieces[0].strip().lower() if pieces else ""
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, sep, raw = piece.partition("=")
        if not sep:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[name.strip().lower()] = raw
    return media, params


def _split_params(value: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if char == "\\" and quoted:
            current.append(char)
            escaped = True
            continue
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces
