"""Which transport talks to a node: the one table that names the implementations.

A node is a value saying where a server is and how to reach it (``Node``: an AE title on a
host and port; ``WebNode``: a DICOMweb base URL).  :func:`open_transport` looks its type
up in :data:`TRANSPORTS` and imports the implementation only then (pynetdicom for DIMSE,
httpx for DICOMweb), so a command imports the protocol it uses and nothing else.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from dicomref.errors import UsageError

if TYPE_CHECKING:
    from dicomref.remote.transport._base import Transport

#: Node type name → "module:class" of its transport.  Add a protocol: one module, one line.
TRANSPORTS: dict[str, str] = {
    "Node": "dicomref.remote.transport._dimse:DimseTransport",
    "WebNode": "dicomref.remote.transport._dicomweb:DicomwebTransport",
}


def open_transport(node: object) -> Transport:
    """A transport to ``node`` (nothing is connected until its first request);
    UsageError for a node of no known kind."""
    where = TRANSPORTS.get(type(node).__name__)
    if where is None:
        raise UsageError(f"no transport talks to a {type(node).__name__} ({node!r})")
    module, name = where.split(":")
    factory: Callable[[object], Transport] = getattr(importlib.import_module(module), name)
    return factory(node)


@contextlib.contextmanager
def opened(node: object) -> Iterator[Transport]:
    """:func:`open_transport` as a context: closed at the end, aborted when the block
    raised (a timeout, Ctrl-C)."""
    transport = open_transport(node)
    try:
        yield transport
    except BaseException:
        transport.close(abort=True)
        raise
    transport.close()
