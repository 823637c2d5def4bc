"""Names people use for DICOM objects and series, built from what the catalog holds.

"CT #2 'Planning CT 2 mm'" rather than a 64-character UID, "Structure set 'PTV+OARs'
(12 ROIs)", "Plan 'VMAT 2arc' (2 beams)", "Dose PHYSICAL GY (PLAN)": the graph view,
``graph --format dot``, ``show`` and the web page label objects with these.  The catalog
keeps, for each object, the modality, series number and description, instance number,
study date and (since catalog version 7) the object's own date, a structure set's or
plan's label, its ROI, beam or applicator count and a dose's type, units and summation.
Objects indexed before version 7 have none of the latter until the next scan reads them
again: their names then say the role only ("Structure set"), as before.
"""

from __future__ import annotations

from typing import Protocol

from dicomref.model import Kind


class Named(Protocol):
    """What :func:`object_name` reads: an ObjectSummary, a graph node, a study page object."""

    @property
    def modality(self) -> str | None: ...
    @property
    def label(self) -> str | None: ...
    @property
    def roi_count(self) -> int | None: ...
    @property
    def beam_count(self) -> int | None: ...
    @property
    def applicator_count(self) -> int | None: ...
    @property
    def dose_type(self) -> str | None: ...
    @property
    def dose_units(self) -> str | None: ...
    @property
    def dose_summation(self) -> str | None: ...


#: Modalities of objects that are not images: shown one by one, never folded into a series.
OBJECT_MODALITIES = frozenset(
    {"RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SEG", "SR", "KO", "PR", "REG", "RWV", "DOC"}
)

#: What an object of each modality is, as people say it.
ROLES: dict[str, str] = {
    "RTSTRUCT": "Structure set",
    "RTPLAN": "Plan",
    "RTDOSE": "Dose",
    "RTRECORD": "Treatment record",
    "RTIMAGE": "RT image",
    "SEG": "Segmentation",
    "SR": "Structured report",
    "KO": "Key objects",
    "PR": "Presentation state",
    "REG": "Registration",
}

#: Modalities whose images are slices of a volume.
SLICE_MODALITIES = frozenset({"CT", "MR", "PT", "NM"})

#: Where each RT object sits in the treatment chain, first to last.
RT_CHAIN = ("RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD")


def role(modality: str | None) -> str:
    """ "Plan" for RTPLAN, "CT image" for CT; "Object" when the modality is unknown."""
    if not modality:
        return "Object"
    return ROLES.get(modality, f"{modality} image")


def object_name(obj: Named) -> str:
    """The object as people name it: its role, then its label and counts, or its dose's
    type and units: "Structure set 'PTV+OARs' (12 ROIs)", "Plan 'VMAT 2arc' (2 beams)",
    "Plan 'HDR' (3 applicators)" (a brachytherapy plan), "Dose PHYSICAL GY (PLAN)".  What
    the object does not say is left out ("Structure set" alone when it says nothing)."""
    text = role(obj.modality)
    if obj.label:
        text += f" '{obj.label}'"
    if obj.modality == "RTDOSE":
        kind = " ".join(v for v in (obj.dose_type, obj.dose_units) if v)
        if kind:
            text += f" {kind}"
    counted = _counted(obj)
    if counted:
        text += f" ({counted})"
    return text


def _counted(obj: Named) -> str | None:
    if obj.modality == "RTDOSE":
        return obj.dose_summation
    if obj.roi_count is not None:
        return plural(obj.roi_count, "ROI")
    if obj.beam_count:
        return plural(obj.beam_count, "beam")
    if obj.applicator_count is not None:  # a brachytherapy plan: no beams, setups
        return plural(obj.applicator_count, "applicator")
    if obj.beam_count is not None:
        return plural(obj.beam_count, "beam")
    return None


def object_date(content_date: str | None, study_date: str | None) -> str:
    """The object's own date (YYYY-MM-DD), else its study's; '' when neither is known."""
    return date(content_date or study_date)


def noun(modality: str | None) -> str:
    """What one member of a series of this modality is called: slice, image or object."""
    if modality in SLICE_MODALITIES:
        return "slice"
    if modality in OBJECT_MODALITIES:
        return "object"
    return "image"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def series_title(modality: str | None, number: int | None, description: str | None) -> str:
    """``CT #2 'Planning CT 2 mm'``: modality, series number, description (each if known)."""
    text = modality or "series"
    if number is not None:
        text += f" #{number}"
    if description:
        text += f" '{description}'"
    return text


def date(value: str | None) -> str:
    """A DICOM date (YYYYMMDD) as YYYY-MM-DD; other text unchanged; '' for none."""
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or ""


def time(value: str | None) -> str:
    """A DICOM time (HHMMSS, fractions dropped) as HH:MM:SS (HH:MM for HHMM); other text
    unchanged; '' for none."""
    if not value:
        return ""
    whole = value.split(".", 1)[0]
    if whole.isdigit() and len(whole) in (4, 6):
        return ":".join(whole[i : i + 2] for i in range(0, len(whole), 2))
    return value


def kind_name(kind: Kind) -> str:
    """``contour image`` for Kind.CONTOUR_IMAGE."""
    return kind.value.replace("_", " ")


def class_name(uid: str | None) -> str:
    """The SOP class's name where pydicom knows it ("RT Plan Storage"), else the UID."""
    if not uid:
        return "unknown class"
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid


def class_role(uid: str | None) -> str | None:
    """What an object of this SOP class is ("RT Plan", "CT Image"), or None if unknown."""
    if not uid:
        return None
    name = class_name(uid)
    if name == uid:
        return None
    return name.removesuffix(" Storage").removeprefix("Enhanced ").strip() or None
