"""Files on their way into the managed store: written under a temporary name, read back,
then renamed into place, and flushed to disk while the catalog commits.

A received object's place in the :class:`~dicomref.store.ManagedStore` depends on its
Study, Series and SOP Instance UIDs and its Modality.  Rather than decode the data set to
learn them (~1 ms for a CT header in pydicom), the bytes are written first, as a hidden
``.*.part`` file in the store's root, and read with the fast header reader
(:func:`~dicomref.extraction.read_object`, which the index needs anyway).  A crash leaves
at most such a file, which :meth:`ManagedStore.clean` removes at start-up.

:func:`flush` makes a placed file and its folder entry durable (``fsync``); the C-STORE
handler runs it while the catalog commits, and answers only when both are done.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path
from typing import Any, Final

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

from dicomref.store import ManagedStore, fsync_folder

_PREAMBLE: Final = b"\x00" * 128 + b"DICM"
_VERSION: Final = b"\x00\x01"


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    """One group 0002 element, Explicit VR Little Endian (the file meta's encoding)."""
    if len(value) % 2:
        value += b"\x00" if vr in (b"UI", b"OB") else b" "
    tag = struct.pack("<HH", 0x0002, element)
    if vr == b"OB":
        return tag + b"OB\x00\x00" + struct.pack("<I", len(value)) + value
    return tag + vr + struct.pack("<H", len(value)) + value


def file_bytes(event: Any) -> bytes:
    """The DICOM file of a C-STORE request: preamble, file meta, and the data set exactly
    as received (what ``event.encoded_dataset()`` returns, with the calling AE title as
    Source Application Entity Title, encoded here without pydicom: ~0.05 ms, not ~0.5).

    Raises ValueError (UnicodeEncodeError) for a UID that is not ASCII, AttributeError
    when the event carries no data set.
    """
    request = event.request
    dataset: bytes = request.DataSet.getvalue()
    elements = b"".join(
        (
            _meta_element(0x0001, b"OB", _VERSION),
            _meta_element(0x0002, b"UI", str(request.AffectedSOPClassUID).encode("ascii")),
            _meta_element(0x0003, b"UI", str(request.AffectedSOPInstanceUID).encode("ascii")),
            _meta_element(0x0010, b"UI", str(event.context.transfer_syntax).encode("ascii")),
            _meta_element(0x0012, b"UI", str(PYNETDICOM_IMPLEMENTATION_UID).encode("ascii")),
            _meta_element(0x0013, b"SH", PYNETDICOM_IMPLEMENTATION_VERSION.encode("ascii")),
            _meta_element(
                0x0016, b"AE", str(event.assoc.requestor.ae_title).strip().encode("ascii")
            ),
        )
    )
    length = _meta_element(0x0000, b"UL", struct.pack("<I", len(elements)))
    return b"".join((_PREAMBLE, length, elements, dataset))


def stage(store: ManagedStore, data: bytes) -> Path:
    """Write ``data`` to a new hidden temporary file in the store's root; OSError if not."""
    handle, name = tempfile.mkstemp(dir=store.root, prefix=".incoming-", suffix=".part")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def place(staged: Path, target: Path) -> None:
    """Rename ``staged`` to ``target`` (replacing a file there); OSError if not."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged.replace(target)


def flush(path: Path) -> None:
    """Flush the file at ``path`` and its folder entry to disk; OSError if not."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    fsync_folder(path.parent)
