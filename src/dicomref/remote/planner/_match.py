"""One C-FIND answer, reduced to what the planner uses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset


@dataclass(frozen=True, slots=True)
class Match:
    """One pending C-FIND response identifier, normalised.

    Empty strings become ``None``.  ``count`` is NumberOfSeriesRelatedInstances on a
    series row, NumberOfStudyRelatedInstances on a study row; ``date``/``time`` are
    StudyDate/StudyTime on a study row, SeriesDate/SeriesTime on a series row;
    ``modalities`` is ModalitiesInStudy.  Sequence return keys are not kept here: the
    resolve loop hands the dataset to the reference extractor.
    """

    study: str | None = None
    series: str | None = None
    sop: str | None = None
    sop_class: str | None = None
    modality: str | None = None
    patient_id: str | None = None
    count: int | None = None
    number: int | None = None
    date: str | None = None
    time: str | None = None
    modalities: tuple[str, ...] = ()

    @classmethod
    def from_dataset(cls, ds: Dataset) -> Match:
        """Read a C-FIND response identifier; missing or malformed values become ``None``."""
        level = _text(ds, "QueryRetrieveLevel")
        prefix = "Series" if level == "SERIES" else "Study"
        related = (
            "NumberOfSeriesRelatedInstances"
            if level == "SERIES"
            else "NumberOfStudyRelatedInstances"
        )
        modalities: object = getattr(ds, "ModalitiesInStudy", None)
        if modalities is None:
            listed: tuple[str, ...] = ()
        elif isinstance(modalities, str):
            listed = tuple(m for m in modalities.split("\\") if m)
        elif isinstance(modalities, Iterable):
            listed = tuple(str(m) for m in modalities if m)
        else:
            listed = ()
        return cls(
            study=_text(ds, "StudyInstanceUID"),
            series=_text(ds, "SeriesInstanceUID"),
            sop=_text(ds, "SOPInstanceUID"),
            sop_class=_text(ds, "SOPClassUID"),
            modality=_text(ds, "Modality"),
            patient_id=_text(ds, "PatientID"),
            count=_integer(ds, related),
            number=_integer(ds, "SeriesNumber"),
            date=_text(ds, f"{prefix}Date"),
            time=_text(ds, f"{prefix}Time"),
            modalities=listed,
        )


def _text(ds: Dataset, keyword: str) -> str | None:
    value: object = getattr(ds, keyword, None)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _integer(ds: Dataset, keyword: str) -> int | None:
    text = _text(ds, keyword)
    if text is None:
        return None
    try:
        return int(float(text))
    except ValueError:
        return None
