"""The exceptions dicomref raises.  Every one derives from :class:`DicomrefError`.

::

    DicomrefError
    ├── UsageError                 bad input from the caller (no such path, not a UID, …)
    ├── DicomReadError             a file that cannot be read as DICOM (names path, offset, tag)
    │   ├── NotDicomError          a file that is not DICOM at all
    │   ├── NotAnInstanceError     DICOM, but no composite instance (a DICOMDIR, …)
    │   └── ReadLimitError         reading it would pass a bound (inflated size, value size)
    ├── CatalogError               the catalog cannot be opened, migrated or written
    │   ├── CatalogVersionError    the catalog was written by a newer dicomref
    │   └── NotInCatalogError      a UID the catalog does not hold
    ├── ConfigError                a configuration file that cannot be used
    ├── ServerError                the Q/R server cannot start (address in use, …)
    ├── ClusterError               a cluster scan's Dask scheduler unreachable, or without workers
    └── RemoteError                talking to a DICOM server went wrong (names the node)
        ├── AssociationError       no association: refused, rejected, unreachable, aborted
        ├── RemoteTimeoutError     the server did not answer in time
        ├── StatusError            a failure status (names the command and the status code)
        │   └── HttpStatusError    a DICOMweb request answered with an HTTP error status
        └── RetrieveMismatchError  a retrieve moved other objects than it was asked for

Errors from lower layers (pydicom, SQLAlchemy, the OS) are translated at the
boundary into the most specific class here, chained with ``raise … from exc``.
"""

from __future__ import annotations

from dicomref._filenames import printable_path


class DicomrefError(Exception):
    """Root of every error dicomref raises."""


class UsageError(DicomrefError):
    """The caller asked for something that cannot be done as asked."""


class DicomReadError(DicomrefError):
    """A file could not be read as DICOM.

    ``path`` is the file, ``offset`` the byte position where reading failed (if
    known) and ``tag`` the element being read (if known), as ``(gggg,eeee)``.  The message
    names the path in a printable form (undecodable bytes and control characters
    backslash-escaped); ``path`` itself is exact.
    """

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        offset: int | None = None,
        tag: str | None = None,
    ) -> None:
        self.path = path
        self.reason = reason
        self.offset = offset
        self.tag = tag
        where = []
        if tag is not None:
            where.append(f"in element {tag}")
        if offset is not None:
            where.append(f"at byte {offset}")
        suffix = f" ({', '.join(where)})" if where else ""
        super().__init__(f"{printable_path(path)}: {reason}{suffix}")


class NotDicomError(DicomReadError):
    """The file is not a DICOM file at all."""


class ReadLimitError(DicomReadError):
    """Reading the file would pass one of the bounds of
    :class:`~dicomref.extraction.ReadLimits` (a deflate bomb, a value claiming gigabytes).

    ``limit`` names the bound (``max_inflated``, ``max_value``) and ``bound`` is its value
    in bytes.  The file is refused alone; raise the limit only for data you trust.
    """

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        limit: str,
        bound: int,
        offset: int | None = None,
        tag: str | None = None,
    ) -> None:
        self.limit = limit
        self.bound = bound
        super().__init__(path, reason, offset=offset, tag=tag)


class CatalogError(DicomrefError):
    """The catalog could not be opened, migrated, read or written."""


class CatalogVersionError(CatalogError):
    """The catalog's schema is newer than this version of dicomref understands."""


class NotInCatalogError(CatalogError):
    """A UID that the catalog does not hold."""

    def __init__(self, uid: str, message: str | None = None) -> None:
        self.uid = uid
        super().__init__(
            message
            or f"{printable_path(uid)} is not in the catalog: scan the folder that holds it "
            "first (dicomref scan PATH)"
        )


class ConfigError(DicomrefError):
    """A configuration file or value that cannot be used."""


class NotAnInstanceError(DicomReadError):
    """The file is DICOM but holds no composite instance to index (a DICOMDIR, …)."""


class ServerError(DicomrefError):
    """dicomref's own DICOM server (``dicomref serve``) cannot start or run."""


class ClusterError(DicomrefError):
    """The Dask cluster of a cluster scan cannot be reached, has no worker, or lost a batch
    with every worker that ran it."""


class RemoteError(DicomrefError):
    """Talking to a DICOM server went wrong.  ``node`` names the server (``AE@host:port``)."""

    def __init__(self, node: str, message: str) -> None:
        self.node = node
        super().__init__(f"{node}: {message}")


class AssociationError(RemoteError):
    """No association: refused, rejected (with the reason), unreachable or aborted."""


class RemoteTimeoutError(RemoteError):
    """The server did not answer within the configured timeout."""


class StatusError(RemoteError):
    """A DIMSE command ended with a failure status.

    ``command`` is e.g. ``C-FIND``, ``status`` the status code (``0xA900``).
    """

    def __init__(self, node: str, command: str, status: int, message: str) -> None:
        self.command = command
        self.status = status
        super().__init__(node, f"{command} failed with status 0x{status:04X}: {message}")


class RetrieveMismatchError(RemoteError):
    """A C-MOVE/C-GET reported or delivered something other than what was asked.

    ``missing`` are the SOP Instance UIDs asked for that did not arrive, ``unexpected``
    those that arrived without being asked for.
    """

    def __init__(
        self,
        node: str,
        message: str,
        *,
        missing: frozenset[str] = frozenset(),
        unexpected: frozenset[str] = frozenset(),
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        super().__init__(node, message)


class HttpStatusError(StatusError):
    """A DICOMweb request (``command``: ``QIDO-RS``, ``WADO-RS``) answered with an HTTP
    error status; ``status`` is the HTTP status code (404), ``path`` the request's path
    below the base URL (never its credentials)."""

    def __init__(self, node: str, command: str, status: int, path: str, message: str) -> None:
        self.command = command
        self.status = status
        self.path = path
        RemoteError.__init__(self, node, f"{command} {path} answered HTTP {status}: {message}")
