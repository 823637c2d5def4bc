"""STOW-RS: ``POST /studies`` (and ``/studies/{study}``) with a ``multipart/related;
type="application/dicom"`` body, stored into the managed store part by part.

The body is read as it arrives (:func:`dicomref._dicomweb._multipart.iter_parts`, one
part in memory at a time, at most ``max_part`` bytes each, ``max_body`` in all; a peer
silent for ``stall_timeout`` seconds in the middle is dropped with 408).  Each part is a
DICOM file (PS3.10); its SOP Class and Instance UIDs and transfer syntax come from its
file meta, and it goes through the C-STORE handler itself (:class:`._arrival.Arrival`,
:class:`~dicomref.server._store.StoreService`): the same rules for duplicates (identical
content: success, nothing written; other content: failed with 0x0111, the first kept),
the same validation and limits, the same indexer.

The answer (PS3.18 §10.5.3) is DICOM JSON: ``ReferencedSOPSequence`` (stored, with a
RetrieveURL each) and ``FailedSOPSequence`` (with ``FailureReason``, the C-STORE status);
200 when every part was stored, 202 when some failed, 409 when all did.  A body that is
not the multipart it claims is 400 naming what is wrong (parts stored before it stay
stored, and the message says how many); an object of another study than the path names
fails with 0xA900.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from dicomref._dicomweb._media import DICOM, parse_content_type
from dicomref._dicomweb._multipart import MultipartError, Part, iter_parts
from dicomref._filenames import printable_path
from dicomref._uids import UidCheck, check_uid, problem
from dicomref.extraction._adapter import PYDICOM_READ_ERRORS
from dicomref.extraction._pydicom_warnings import recorded
from dicomref.server._store import StoreService
from dicomref.server.dicomweb._arrival import Arrival, split_part
from dicomref.server.dicomweb._problems import DicomWebError, bad_request
from dicomref.server.dicomweb._urls import instance_url, study_url

LOGGER = logging.getLogger(__name__)
DEFAULT_MAX_BODY: Final = 4 * 1024**3
"""Largest STOW-RS request body by default (4 GiB)."""
DEFAULT_MAX_PART: Final = 1024**3
"""Largest object in a STOW-RS request by default (1 GiB)."""
MAX_BOUNDARY: Final = 200
"""Longest boundary taken.  RFC 2046 allows 70 characters, but Orthanc's DICOMweb plugin
(1.7) sends 73 (two UUIDs): a little leniency costs nothing here."""
_RETRIEVE_URL, _REFERENCED, _FAILED = "00081190", "00081199", "00081198"
_CLASS, _INSTANCE, _REASON = "00081150", "00081155", "00081197"
SUCCESS: Final = 0x0000
CANNOT_UNDERSTAND: Final = 0xC210
DOES_NOT_MATCH: Final = 0xA900


@dataclass(slots=True)
class StowResult:
    """What became of each part: (class, instance, study, series) stored; (class,
    instance, reason) failed."""

    stored: list[tuple[str, str, str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def status(self) -> int:
        if not self.failed:
            return 200
        return 202 if self.stored else 409

    def answer(self, base: str) -> dict[str, Any]:
        """The STOW-RS answer as DICOM JSON (built as JSON: the UIDs of failed parts may
        not be UIDs, which pydicom would warn about)."""
        answer: dict[str, Any] = {}
        studies = {study for _, _, study, _ in self.stored}
        if len(studies) == 1:
            answer[_RETRIEVE_URL] = _value("UR", study_url(base, next(iter(studies))))
        if self.stored:
            answer[_REFERENCED] = _sequence(
                {
                    _CLASS: _value("UI", sop_class),
                    _INSTANCE: _value("UI", sop),
                    _RETRIEVE_URL: _value("UR", instance_url(base, study, series, sop)),
                }
                for sop_class, sop, study, series in self.stored
            )
        if self.failed:
            answer[_FAILED] = _sequence(
                {
                    _CLASS: _value("UI", sop_class),
                    _INSTANCE: _value("UI", sop),
                    _REASON: {"vr": "US", "Value": [reason]},
                }
                for sop_class, sop, reason in self.failed
            )
        return answer


def _value(vr: str, text: str) -> dict[str, Any]:
    return {"vr": vr, "Value": [text]} if text else {"vr": vr}


def _sequence(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"vr": "SQ", "Value": list(items)}


def check_content_type(header: str | None) -> str:
    """The boundary of a STOW-RS body's ``Content-Type``; DicomWebError 415 otherwise."""
    media, params = parse_content_type(header or "")
    part_type = params.get("type", DICOM).lower()
    if media != "multipart/related" or part_type != DICOM:
        raise DicomWebError(
            415,
            f'STOW-RS takes Content-Type: multipart/related; type="application/dicom"; '
            f"boundary=... (got {(header or 'none')[:120]!r})",
        )
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= MAX_BOUNDARY:
        raise bad_request(
            f"the Content-Type of the body has no valid boundary parameter (1 to {MAX_BOUNDARY} "
            f"characters): {(header or '')[:200]!r}"
        )
    return boundary


class Stow:
    """Stores the parts of STOW-RS bodies through ``storer``."""

    def __init__(self, storer: StoreService, *, max_part: int = DEFAULT_MAX_PART) -> None:
        self.storer = storer
        self.max_part = max_part

    def store(
        self,
        chunks: Iterable[bytes],
        boundary: str,
        client: tuple[str, int],
        study: str | None = None,
    ) -> StowResult:
        """Store each part of the body ``chunks``.  DicomWebError 400 (413 for a part past
        ``max_part``) when the body is not a multipart body of DICOM files."""
        result = StowResult()
        parts = iter_parts(chunks, boundary, max_part=self.max_part)
        number = 0
        while True:
            try:
                part = next(parts, None)
            except MultipartError as exc:
                raise _malformed(exc, number, result) from exc
            if part is None:
                break
            number += 1
            self._store_part(part, number, client, study, result)
        if number == 0:
            raise bad_request("the body holds no part: nothing to store")
        return result

    def _store_part(
        self,
        part: Part,
        number: int,
        client: tuple[str, int],
        study: str | None,
        result: StowResult,
    ) -> None:
        media, _ = parse_content_type(part.content_type or DICOM)
        if media != DICOM:
            raise bad_request(
                f"part {number} is {part.content_type!r}, not application/dicom" + _kept(result)
            )
        where = f"STOW-RS from {client[0]}: part {number}"
        try:
            arrival, notes = recorded(lambda: Arrival(*split_part(part.body), client))
        except PYDICOM_READ_ERRORS as exc:
            raise bad_request(
                f"part {number} is not a DICOM file (PS3.10: preamble, 'DICM', file meta): "
                f"{type(exc).__name__}" + _kept(result)
            ) from exc
        _say(where, notes)
        sop_class, sop = arrival.sop_class, arrival.sop_instance
        for name, uid in (
            ("MediaStorageSOPInstanceUID", sop),
            ("MediaStorageSOPClassUID", sop_class),
        ):
            if not uid or check_uid[uid] is UidCheck.INVALID:
                why = problem(uid) if uid else "is missing"
                LOGGER.warning("STOW-RS from %s: part %d: %s %s", client[0], number, name, why)
                result.failed.append((sop_class, sop, DOES_NOT_MATCH))
                return
        if not arrival.context.transfer_syntax:
            result.failed.append((sop_class, sop, CANNOT_UNDERSTAND))
            return
        identity = _identity(arrival, where)
        if identity is None:
            result.failed.append((sop_class, sop, CANNOT_UNDERSTAND))
            return
        if study is not None and identity[0] != study:
            LOGGER.warning(
                "STOW-RS from %s: SOP Instance %s is of study %s, not of %s (the path): refused",
                client[0],
                sop,
                identity[0],
                study,
            )
            result.failed.append((sop_class, sop, DOES_NOT_MATCH))
            return
        outcome = self.storer.on_store(arrival)
        code = outcome if isinstance(outcome, int) else int(outcome.Status)
        if code == SUCCESS:
            result.stored.append((sop_class, sop, identity[0], identity[1]))
        else:
            result.failed.append((sop_class, sop, code))


def _identity(arrival: Arrival, where: str) -> tuple[str, str] | None:
    """(study, series) of the object; None when it cannot be decoded."""
    try:
        identity, notes = recorded(arrival.identity)
    except PYDICOM_READ_ERRORS as exc:
        LOGGER.warning("%s: its data set cannot be decoded (%s)", where, type(exc).__name__)
        return None
    _say(where, notes)
    return identity


def _say(where: str, notes: Iterable[str]) -> None:
    """pydicom's warnings on a part, logged naming the part (as the reader names files)."""
    for note in notes:
        LOGGER.warning("%s: pydicom: %s", where, printable_path(note))


def _kept(result: StowResult) -> str:
    if not result.stored:
        return ""
    return f" ({len(result.stored)} earlier part(s) were stored)"


def _malformed(exc: MultipartError, number: int, result: StowResult) -> DicomWebError:
    text = (
        str(exc)
        .replace("the answer", "the body")
        .replace(": the server closed the connection early", "")
    )
    where = f"after part {number}" if number else "before the first part"
    status = 413 if "larger than" in text else 400
    return DicomWebError(
        status, f"malformed multipart/related body ({where}): {text}" + _kept(result)
    )


def chunks_within(chunks: Iterator[bytes], max_body: int) -> Iterator[bytes]:
    """``chunks``, or DicomWebError 413 once more than ``max_body`` bytes came."""
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if received > max_body:
            raise DicomWebError(413, f"the body is larger than {max_body} bytes (the limit)")
        yield chunk
