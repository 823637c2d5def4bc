"""WADO-RS metadata: each instance's header as DICOM JSON (PS3.18 F.2), compact, cached.

Read from the file with pydicom, stopping before the pixel data (``PixelData``, and
whatever follows it, is never read and is left out); other binary values (OB, OW, OF, OD,
OL, OV, UN) longer than :data:`BULK_THRESHOLD` bytes are left out too, shorter ones go
inline (``InlineBinary``).  No BulkDataURI is handed out: this server has no bulk data
route.  Everything else is there, every sequence at any depth included, so references
can be read from metadata without the object.

The JSON of each instance is kept in a :class:`MetadataCache` (least recently used
first out, within a byte budget), keyed by the file's path, modification time and size:
a file rewritten in place is read again.  A study's metadata is streamed one instance at a
time.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from pydicom import dcmread
from pydicom.dataset import Dataset

from dicomref.extraction._adapter import PYDICOM_READ_ERRORS
from dicomref.server.dicomweb._instances import Instance, gone
from dicomref.server.dicomweb._problems import DicomWebError

BULK_THRESHOLD: Final = 64 * 1024
"""Binary values longer than this are left out of metadata."""
DEFAULT_CACHE_BYTES: Final = 64 * 1024 * 1024
_BINARY_VRS: Final = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})


def _drop_bulk(dataset: Dataset) -> None:
    for element in list(dataset):
        if element.VR == "SQ":
            for item in element.value:
                _drop_bulk(item)
        elif (
            element.VR in _BINARY_VRS
            and element.value is not None
            and len(element.value) > BULK_THRESHOLD
        ):
            del dataset[element.tag]


def instance_json(path: Path) -> bytes:
    """The DICOM JSON object of the file at ``path``, compact, as bytes."""
    dataset = dcmread(path, stop_before_pixels=True)
    _drop_bulk(dataset)
    return json.dumps(dataset.to_json_dict(), separators=(",", ":")).encode()


class MetadataCache:
    """Instances' JSON by (path, mtime, size), within ``max_bytes``; safe across threads."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, instance: Instance) -> bytes:
        """The instance's JSON; DicomWebError when its file is gone or unreadable."""
        try:
            stat = instance.path.stat()
        except OSError as exc:
            raise gone(instance.sop, instance.path, exc) from exc
        key = (str(instance.path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
        try:
            made = instance_json(instance.path)
        except OSError as exc:
            raise gone(instance.sop, instance.path, exc) from exc
        except PYDICOM_READ_ERRORS as exc:
            raise DicomWebError(
                500,
                f"SOP Instance {instance.sop}: its file cannot be read as DICOM "
                f"({type(exc).__name__}): run 'dicomref check'",
            ) from exc
        with self._lock:
            self.misses += 1
            if len(made) <= self.max_bytes and key not in self._entries:
                self._entries[key] = made
                self._bytes += len(made)
                while self._bytes > self.max_bytes:
                    _, dropped = self._entries.popitem(last=False)
                    self._bytes -= len(dropped)
        return made


def metadata_body(cache: MetadataCache, instances: Sequence[Instance]) -> Iterator[bytes]:
    """A JSON array of the instances' metadata, one instance at a time.  The first is read
    before anything is sent (so a missing file is an error answer, not a cut one)."""
    first = cache.get(instances[0])
    return _rest(cache, instances, first)


def _rest(cache: MetadataCache, instances: Sequence[Instance], first: bytes) -> Iterator[bytes]:
    yield b"[" + first
    for instance in instances[1:]:
        yield b"," + cache.get(instance)
    yield b"]"
