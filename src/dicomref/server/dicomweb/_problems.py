"""What a DICOMweb request gets instead of an answer: an HTTP status and a message saying
what was wrong and what to do (sent as ``text/plain``)."""

from __future__ import annotations

from collections.abc import Mapping


class DicomWebError(Exception):
    """A request the server will not answer with data: ``status`` (400, 404, 406, ...) and
    ``message``; ``headers`` go into the answer (``WWW-Authenticate``, ``Allow``)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str) -> DicomWebError:
    return DicomWebError(400, message)


def not_found(message: str) -> DicomWebError:
    return DicomWebError(404, message)
