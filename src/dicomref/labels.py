"""Names people use for DICOM objects and series, built from what the catalog holds.

"CT #2 'Planning CT 2 mm'" rather than a 64-character UID: the graph view, ``graph
--format dot`` and the web page label objects with these.  The catalog keeps the
modality, series number and description, instance number and study date of each object;
it does not keep a structure set's label or ROI count, a plan's label or beams, nor a
dose's type and units, so labels say what role an object plays (from its modality) and
where it sits.
"""

from __future__ import annotations

from dicomref.model import Kind

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
