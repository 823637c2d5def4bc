"""The light tree: the few values dicomref reads from a DICOM object, and every sequence.

Both readers produce it: the fast header walker (:mod:`._walker`) from file bytes, and the
pydicom adapter (:mod:`._adapter`) from a :class:`pydicom.Dataset`.  Everything downstream
(the reference walk, the summary) reads this tree only, so the rules exist once.

An :data:`Item` maps a tag (``0xggggeeee``) to either

* ``bytes``: the raw little-endian value of one of the :data:`WANTED` tags (text as stored,
  ``US`` values as 2-byte integers), or
* ``list[Item]``: the items of a sequence (any sequence, private ones included).

Other elements are not kept.  The top-level dataset is an Item too.
"""

from __future__ import annotations

import functools
from typing import Final, TypeAlias

from pydicom._dicom_dict import DicomDictionary
from pydicom.datadict import keyword_for_tag

Value: TypeAlias = "bytes | list[Item]"
Item: TypeAlias = dict[int, Value]

# Tags whose values the tree keeps.
SPECIFIC_CHARACTER_SET: Final = 0x00080005
INSTANCE_CREATION_DATE: Final = 0x00080012
INSTANCE_CREATION_TIME: Final = 0x00080013
SOP_CLASS_UID: Final = 0x00080016
SOP_INSTANCE_UID: Final = 0x00080018
STUDY_DATE: Final = 0x00080020
CONTENT_DATE: Final = 0x00080023
STUDY_TIME: Final = 0x00080030
CONTENT_TIME: Final = 0x00080033
ACCESSION_NUMBER: Final = 0x00080050
MODALITY: Final = 0x00080060
STUDY_DESCRIPTION: Final = 0x00081030
SERIES_DESCRIPTION: Final = 0x0008103E
REFERENCED_SOP_CLASS_UID: Final = 0x00081150
REFERENCED_SOP_INSTANCE_UID: Final = 0x00081155
REFERENCED_FRAME_NUMBER: Final = 0x00081160
PATIENT_NAME: Final = 0x00100010
PATIENT_ID: Final = 0x00100020
PATIENT_BIRTH_DATE: Final = 0x00100030
PATIENT_SEX: Final = 0x00100040
STUDY_INSTANCE_UID: Final = 0x0020000D
SERIES_INSTANCE_UID: Final = 0x0020000E
STUDY_ID: Final = 0x00200010
SERIES_NUMBER: Final = 0x00200011
INSTANCE_NUMBER: Final = 0x00200013
IMAGE_POSITION_PATIENT: Final = 0x00200032
IMAGE_ORIENTATION_PATIENT: Final = 0x00200037
FRAME_OF_REFERENCE_UID: Final = 0x00200052
NUMBER_OF_FRAMES: Final = 0x00280008
VALUE_TYPE: Final = 0x0040A040
REFERENCED_SEGMENT_NUMBER: Final = 0x0062000B
DOSE_UNITS: Final = 0x30040002
DOSE_TYPE: Final = 0x30040004
DOSE_SUMMATION_TYPE: Final = 0x3004000A
STRUCTURE_SET_LABEL: Final = 0x30060002
STRUCTURE_SET_DATE: Final = 0x30060008
STRUCTURE_SET_TIME: Final = 0x30060009
RT_PLAN_LABEL: Final = 0x300A0002
RT_PLAN_DATE: Final = 0x300A0006
RT_PLAN_TIME: Final = 0x300A0007

# Sequences the summary looks into.
DIRECTORY_RECORD_SEQUENCE: Final = 0x00041220
REFERENCED_FRAME_OF_REFERENCE_SEQUENCE: Final = 0x30060010
STRUCTURE_SET_ROI_SEQUENCE: Final = 0x30060020
BEAM_SEQUENCE: Final = 0x300A00B0
APPLICATION_SETUP_SEQUENCE: Final = 0x300A0230
ION_BEAM_SEQUENCE: Final = 0x300A03A2

#: The kept tags, with the VR the tree stores them in (the dictionary VR).
WANTED: Final[dict[int, str]] = {
    SPECIFIC_CHARACTER_SET: "CS",
    SOP_CLASS_UID: "UI",
    SOP_INSTANCE_UID: "UI",
    STUDY_DATE: "DA",
    STUDY_TIME: "TM",
    ACCESSION_NUMBER: "SH",
    MODALITY: "CS",
    STUDY_DESCRIPTION: "LO",
    SERIES_DESCRIPTION: "LO",
    REFERENCED_SOP_CLASS_UID: "UI",
    REFERENCED_SOP_INSTANCE_UID: "UI",
    REFERENCED_FRAME_NUMBER: "IS",
    PATIENT_NAME: "PN",
    PATIENT_ID: "LO",
    PATIENT_BIRTH_DATE: "DA",
    PATIENT_SEX: "CS",
    STUDY_INSTANCE_UID: "UI",
    SERIES_INSTANCE_UID: "UI",
    STUDY_ID: "SH",
    SERIES_NUMBER: "IS",
    INSTANCE_NUMBER: "IS",
    IMAGE_POSITION_PATIENT: "DS",
    IMAGE_ORIENTATION_PATIENT: "DS",
    FRAME_OF_REFERENCE_UID: "UI",
    NUMBER_OF_FRAMES: "IS",
    VALUE_TYPE: "CS",
    REFERENCED_SEGMENT_NUMBER: "US",
    # What people name RT objects by (labels, dose type and units) and their date.
    INSTANCE_CREATION_DATE: "DA",
    INSTANCE_CREATION_TIME: "TM",
    CONTENT_DATE: "DA",
    CONTENT_TIME: "TM",
    DOSE_UNITS: "CS",
    DOSE_TYPE: "CS",
    DOSE_SUMMATION_TYPE: "CS",
    STRUCTURE_SET_LABEL: "SH",
    STRUCTURE_SET_DATE: "DA",
    STRUCTURE_SET_TIME: "TM",
    RT_PLAN_LABEL: "SH",
    RT_PLAN_DATE: "DA",
    RT_PLAN_TIME: "TM",
}

#: Standard tags whose dictionary VR is SQ (used where the file does not say: implicit VR, UN).
SEQUENCE_TAGS: Final[frozenset[int]] = frozenset(
    tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ"
)

#: Top-level tags at which reading stops: the pixel data is never read.
PIXEL_TAGS: Final[frozenset[int]] = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})

#: MediaStorageSOPClassUID of a DICOMDIR (Media Storage Directory Storage).
DICOMDIR_CLASS: Final = "1.2.840.10008.1.3.10"

#: How deep sequences may nest before a file is refused (real objects stay below 20).
MAX_DEPTH: Final = 64


def tag_text(tag: int) -> str:
    """``(gggg,eeee)``."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@functools.lru_cache(maxsize=4096)
def keyword(tag: int) -> str:
    """The dictionary keyword of a tag, or ``(gggg,eeee)`` for private and unknown tags."""
    if (tag >> 16) % 2 == 0:
        name = keyword_for_tag(tag)
        if name:
            return name
    return tag_text(tag)


def describe(tag: int) -> str:
    """``(gggg,eeee) Keyword`` (just the tag where there is no keyword), for messages."""
    name = keyword(tag)
    return tag_text(tag) if name.startswith("(") else f"{tag_text(tag)} {name}"
