"""What every DIMSE handler needs from a pynetdicom event: who calls, under which
information model, the request it makes, and failure statuses with a comment."""

from __future__ import annotations

import struct
from typing import Any, Final

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from dicomref._dimse._contexts import QUERY_MODELS
from dicomref._dimse._levels import Root
from dicomref.server._hierarchy import check
from dicomref.server._identifier import Refusal, Request, parse
from dicomref.server._statuses import IDENTIFIER_DOES_NOT_MATCH

#: What decoding an identifier or a data set that pynetdicom received may raise.
DECODE_ERRORS: Final = (
    InvalidDicomError,
    ValueError,
    TypeError,
    KeyError,
    EOFError,
    AttributeError,
    struct.error,
    NotImplementedError,
)
_ROOTS: Final[dict[str, Root]] = {str(uid): root for (root, _), uid in QUERY_MODELS.items()}
#: Longest Error Comment (LO): 64 characters.
_COMMENT_MAX: Final = 64


def calling_ae(event: Any) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def peer(event: Any) -> str:
    """``AE@address:port`` of the association's requestor, for log lines."""
    requestor = event.assoc.requestor
    return f"{str(requestor.ae_title).strip()}@{requestor.address}:{requestor.port}"


def status(code: int, comment: str = "") -> Dataset:
    """A status data set; the comment is cut to the 64 characters of Error Comment."""
    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment[:_COMMENT_MAX]
    return ds


def read_request(event: Any, command: str, *, strict: bool) -> Request | Refusal:
    """The request the event's identifier makes, or why it is refused."""
    root = _ROOTS.get(str(event.context.abstract_syntax))
    if root is None:
        return Refusal(
            IDENTIFIER_DOES_NOT_MATCH,
            f"{command} in an information model not offered here",
        )
    try:
        request = parse(event.identifier, root, command)
    except DECODE_ERRORS as exc:
        return Refusal(
            IDENTIFIER_DOES_NOT_MATCH, f"identifier cannot be decoded ({type(exc).__name__})"
        )
    if isinstance(request, Refusal):
        return request
    return check(request, strict=strict) or request
