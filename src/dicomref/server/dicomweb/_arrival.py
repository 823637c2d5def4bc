"""A STOW-RS part in the shape the C-STORE handler reads, so that
:class:`~dicomref.server._store.StoreService` stores it by the very same rules: the same
staging, read-back, placement, duplicate comparison, limits and single indexer.

:class:`Arrival` carries what that handler takes from a pynetdicom C-STORE event: the
request (SOP Class and Instance UIDs, the encoded data set), the presentation context
(transfer syntax), the requestor (for log lines and the Source AE Title of the file
meta), and the data set, decoded only when the handler asks.  The UIDs and the transfer
syntax come from the part's file meta (a STOW part is a DICOM file, PS3.10).
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Final

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset, read_preamble
from pydicom.tag import BaseTag

from dicomref.server._inflate import DEFLATED_EXPLICIT_VR_LE

#: The Source AE Title written into stored files' meta.
STOW_AE: Final = "DICOMWEB"
#: Bytes of a Deflated data set inflated to read its study and series.
_HEAD: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class _Requestor:
    ae_title: str
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class _Association:
    requestor: _Requestor


@dataclass(frozen=True, slots=True)
class _Context:
    transfer_syntax: str


@dataclass(frozen=True, slots=True)
class _Request:
    AffectedSOPClassUID: str
    AffectedSOPInstanceUID: str
    DataSet: io.BytesIO


class Arrival:
    """One received object: ``meta`` (its file meta) and the data set bytes after it."""

    def __init__(self, meta: FileMetaDataset, encoded: bytes, client: tuple[str, int]) -> None:
        self.meta = meta
        self.sop_class = str(meta.get("MediaStorageSOPClassUID", "") or "")
        self.sop_instance = str(meta.get("MediaStorageSOPInstanceUID", "") or "")
        self.context = _Context(str(meta.get("TransferSyntaxUID", "") or ""))
        self.request = _Request(self.sop_class, self.sop_instance, io.BytesIO(encoded))
        self.assoc = _Association(_Requestor(STOW_AE, client[0], client[1]))
        self._encoded = encoded

    @property
    def dataset(self) -> Dataset:
        """The data set, decoded (raises what pydicom raises on a bad one).  A Deflated one
        is inflated whole: the handler asks only after checking ``max_inflated``."""
        syntax = self.meta.TransferSyntaxUID
        dataset = read_dataset(
            io.BytesIO(self._plain()),
            is_implicit_VR=syntax.is_implicit_VR,
            is_little_endian=syntax.is_little_endian,
        )
        dataset.file_meta = self.meta
        return dataset

    def _plain(self, head: int | None = None) -> bytes:
        """The encoded data set, inflated when Deflated (only its first ``head`` bytes
        when given)."""
        if self.context.transfer_syntax != DEFLATED_EXPLICIT_VR_LE:
            return self._encoded
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        if head is not None:
            return inflater.decompress(self._encoded, head)
        return inflater.decompress(self._encoded) + inflater.flush()

    def encoded_dataset(self, include_meta: bool = False) -> bytes:
        return self._encoded

    def identity(self) -> tuple[str, str]:
        """(StudyInstanceUID, SeriesInstanceUID), read from the head of the data set only
        (raises what pydicom raises on a bad one)."""
        syntax = self.meta.TransferSyntaxUID
        head = read_dataset(
            io.BytesIO(self._plain(_HEAD)),
            is_implicit_VR=syntax.is_implicit_VR,
            is_little_endian=syntax.is_little_endian,
            stop_when=_past_series,
        )
        return str(head.get("StudyInstanceUID", "")), str(head.get("SeriesInstanceUID", ""))


def _past_series(tag: BaseTag, vr: str | None, length: int) -> bool:
    return bool(tag > 0x0020000E)


def _not_meta(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag.group != 2


def split_part(body: bytes) -> tuple[FileMetaDataset, bytes]:
    """A DICOM file's meta and the encoded data set after it.  Raises what pydicom raises
    (InvalidDicomError without the ``DICM`` preamble)."""
    stream = io.BytesIO(body)
    read_preamble(stream, False)
    meta = FileMetaDataset(
        read_dataset(stream, is_implicit_VR=False, is_little_endian=True, stop_when=_not_meta)
    )
    return meta, body[stream.tell() :]
