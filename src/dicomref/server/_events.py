"""What every DIMSE handler needs from a pynetdicom event: who calls, under which
information model, the request it makes, and failure statuses with a comment."""

from __future__ import annotations

import struct
from typing import Any, Final

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from dicomref.remote import Root
from dicomref.remote._dimse import QUERY_MODELS, no_delay
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


ACCEPTOR_POLL: Final = 0.0005
"""Seconds pynetdicom's DUL thread sleeps, on an association a client opened with us,
whenever a turn of its loop found nothing to do (pynetdicom's default: 1 ms).  Each
request and each response waits for such a turn.  Measured here (bench/serve.py, DCMTK
findscu as the client): an IMAGE-level C-FIND round trip at 1,000,000 instances takes
~4.2 ms instead of ~5.3 ms; 0.2 ms gained nothing more.  The price: pynetdicom polls, and
an idle association costs the server ~10% of a CPU instead of ~8% (``network_timeout``
closes idle ones)."""


def tune_acceptor(event: Any) -> None:
    """EVT_CONN_OPEN handler for associations clients open with the server: TCP_NODELAY
    (:func:`~dicomref.remote._dimse.no_delay`) and a shorter DUL idle sleep."""
    no_delay(event)
    dul = getattr(event.assoc, "dul", None)
    if dul is not None and hasattr(dul, "_run_loop_delay"):
        dul._run_loop_delay = ACCEPTOR_POLL


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
