"""WADO-RS retrieve: the objects of a study, a series or one instance as one
``multipart/related; type="application/dicom"`` answer, streamed file by file.

Each object goes as stored when its transfer syntax is the one asked for (or
``transfer-syntax=*``), read and sent in pieces of :data:`CHUNK` bytes: a study is never
in memory.  Explicit VR Little Endian (the default) is made from Implicit VR Little
Endian by re-encoding that one object (:func:`explicit_little_endian`); any other
conversion (compressed, Big Endian, Deflated) is refused with 406 before anything is
sent, naming the instance and its syntax, and pointing at ``transfer-syntax=*``.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from pydicom import dcmread
from pydicom.uid import UID

from dicomref._dicomweb._media import DICOM, EXPLICIT_VR_LITTLE_ENDIAN, MULTIPART_RELATED
from dicomref.server.dicomweb._accept import wants_any
from dicomref.server.dicomweb._instances import Instance
from dicomref.server.dicomweb._problems import DicomWebError

CHUNK: Final = 256 * 1024
IMPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2"


class AnswerCutError(OSError):
    """A file went away (or shrank) while its answer was being sent: the answer ends
    without its closing delimiter (the client sees a broken body, never a short one that
    looks whole); :mod:`._app` logs it in one line."""


def _conversion(instance: Instance, syntax: str) -> bool:
    """Whether ``instance`` needs re-encoding to go in ``syntax``; DicomWebError 406 when
    it cannot."""
    if wants_any(syntax) or instance.syntax == syntax:
        return False
    if syntax == EXPLICIT_VR_LITTLE_ENDIAN and instance.syntax == IMPLICIT_VR_LITTLE_ENDIAN:
        return True
    name = UID(instance.syntax).name if instance.syntax else "an unknown transfer syntax"
    raise DicomWebError(
        406,
        f"SOP Instance {instance.sop} is stored as {instance.syntax} ({name}) and is not "
        f"converted to {syntax}: ask with transfer-syntax=* for the objects as stored",
    )


def explicit_little_endian(path: Path) -> bytes:
    """The file at ``path`` (Implicit VR Little Endian) re-encoded as Explicit VR Little
    Endian: one object in memory."""
    dataset = dcmread(path)
    dataset.file_meta.TransferSyntaxUID = UID(EXPLICIT_VR_LITTLE_ENDIAN)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class Retrieve:
    """One WADO-RS answer: ``media_type`` for the ``Content-Type``, :meth:`body` for the
    bytes.  Made only when every instance can go in one of ``syntaxes`` (the first such is
    used), else DicomWebError 406 naming why the first syntax cannot be given."""

    def __init__(self, instances: Sequence[Instance], syntaxes: Sequence[str]) -> None:
        refusal: DicomWebError | None = None
        for syntax in syntaxes:
            try:
                self.plan = [(instance, _conversion(instance, syntax)) for instance in instances]
            except DicomWebError as exc:
                refusal = refusal or exc
                continue
            self.syntax = syntax
            break
        else:
            assert refusal is not None
            raise refusal
        self.boundary = uuid.uuid4().hex

    @property
    def media_type(self) -> str:
        return f'{MULTIPART_RELATED}; type="{DICOM}"; boundary={self.boundary}'

    def body(self) -> Iterator[bytes]:
        delimiter = f"--{self.boundary}\r\n".encode()
        for instance, convert in self.plan:
            if convert:
                try:
                    data = explicit_little_endian(instance.path)
                except OSError as exc:
                    raise AnswerCutError(
                        f"SOP Instance {instance.sop}: {instance.path} cannot be read "
                        f"({exc.strerror or exc})"
                    ) from exc
                yield delimiter + self._headers(EXPLICIT_VR_LITTLE_ENDIAN, len(data)) + data
            else:
                yield from self._file(delimiter, instance)
            yield b"\r\n"
        yield f"--{self.boundary}--\r\n".encode()

    @staticmethod
    def _headers(syntax: str, length: int) -> bytes:
        return (
            f"Content-Type: {DICOM}; transfer-syntax={syntax}\r\nContent-Length: {length}\r\n\r\n"
        ).encode()

    def _file(self, delimiter: bytes, instance: Instance) -> Iterator[bytes]:
        try:
            handle = instance.path.open("rb")
        except OSError as exc:
            raise AnswerCutError(
                f"SOP Instance {instance.sop}: its file {instance.path} cannot be opened "
                f"({exc.strerror or exc})"
            ) from exc
        with handle:
            size = _size(handle)
            yield delimiter + self._headers(instance.syntax, size)
            sent = 0
            while sent < size:
                piece = handle.read(min(CHUNK, size - sent))
                if not piece:
                    raise AnswerCutError(
                        f"SOP Instance {instance.sop}: {instance.path} shrank while it was sent"
                    )
                sent += len(piece)
                yield piece


def _size(handle: io.BufferedReader) -> int:
    return os.fstat(handle.fileno()).st_size
