"""What an arriving object was announced as against what it is: the UID cross-check.

Protocol-neutral (pydicom only, no pynetdicom): the DIMSE receiver compares a C-STORE
request's Affected SOP Instance/Class UIDs with the data set's, and the fetch loop's
intake records what was refused (:class:`Mismatch`) whatever the transport, so a
DICOMweb fetch imports this module and not the DIMSE receiver.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

#: The C-STORE statuses of a mismatch (:meth:`Mismatch.status`, PS3.7 Annex C).
STATUS_NOT_THE_CLASS = 0xA900
STATUS_NOT_THE_OBJECT = 0xC000


@dataclass(frozen=True, slots=True)
class Mismatch:
    """An object that is not what its C-STORE request announced (refused, not kept)."""

    announced: str
    content: str
    announced_class: str
    content_class: str

    def describe(self) -> str:
        """E.g. "the server sent object 1.2.5 announced as 1.2.3"."""
        if self.announced != self.content:
            content = self.content or "without a SOP Instance UID"
            return f"the server sent object {content} announced as {self.announced}"
        return (
            f"the server sent object {self.content} of class {_class_name(self.content_class)} "
            f"announced as {_class_name(self.announced_class)}"
        )

    def status(self) -> Dataset:
        """The C-STORE response status: 0xA900 or 0xC000, with an Error Comment."""
        answer = Dataset()
        if self.announced_class != self.content_class:
            answer.Status = STATUS_NOT_THE_CLASS
            answer.OffendingElement = [0x00080016]
            answer.ErrorComment = "SOP Class UID differs from the request's"
        else:
            answer.Status = STATUS_NOT_THE_OBJECT
            answer.OffendingElement = [0x00080018]
            answer.ErrorComment = "SOP Instance UID differs from the request's"
        return answer


def _class_name(sop_class: str) -> str:
    from pydicom.uid import UID

    name = UID(sop_class).name if sop_class else "(none)"
    return name if name == sop_class else f"{name} ({sop_class})"


def mismatch_of(dataset: Dataset, request_uid: str, request_class: str) -> Mismatch | None:
    """The mismatch between the request's announced UIDs and the data set's, if any (padding
    ignored; a request without an Affected SOP Class UID is not compared on the class)."""
    content = str(dataset.get("SOPInstanceUID", "") or "").strip(" \0")
    content_class = str(dataset.get("SOPClassUID", "") or "").strip(" \0")
    announced = request_uid.strip(" \0")
    announced_class = request_class.strip(" \0") or content_class
    if content == announced and content_class == announced_class:
        return None
    return Mismatch(announced, content, announced_class, content_class)
