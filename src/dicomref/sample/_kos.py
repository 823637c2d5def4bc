"""Key Object Selection Document Storage: "Of Interest" flags on a few objects (TID 2010)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, KeyObjectSelectionDocumentStorage

from dicomref.sample._common import (
    Patient,
    Series,
    code_item,
    later,
    new_instance,
    object_reference,
    uid_for,
    write_instance,
)
from dicomref.sample._model import SampleObject

OF_INTEREST = ("113000", "DCM", "Of Interest")
KEY_OBJECT_DESCRIPTION = ("113012", "DCM", "Key Object Description")
KEY_OBJECT_SELECTION_TEMPLATE = "2010"
IMAGE_SOP_CLASSES = frozenset({CTImageStorage})
"""The image storage classes of the sample: referenced by IMAGE items, others by COMPOSITE."""


def write_kos(
    root: Path,
    *,
    seed: int,
    role: str,
    patient: Patient,
    series: Series,
    selected: Sequence[SampleObject],
    description: str,
) -> SampleObject:
    """Write a key object selection (alone in ``series``) flagging ``selected`` as of interest.

    Images (:data:`IMAGE_SOP_CLASSES`) become IMAGE content items, the rest COMPOSITE; the
    Current Requested Procedure Evidence Sequence lists them by study and series.
    """
    time = later(series.time, 0)
    ds = new_instance(
        patient,
        series,
        KeyObjectSelectionDocumentStorage,
        uid_for(seed, role, 0),
        instance_number=1,
        content_time=time,
    )
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.ContentDate = series.study.date
    ds.ContentTime = time
    ds.CurrentRequestedProcedureEvidenceSequence = _evidence(selected)
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [code_item(*OF_INTEREST)]
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = KEY_OBJECT_SELECTION_TEMPLATE
    ds.ContentTemplateSequence = [template]
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = [code_item(*KEY_OBJECT_DESCRIPTION)]
    text.TextValue = description
    ds.ContentSequence = [text, *(_content_item(obj) for obj in selected)]
    return write_instance(ds, series.path(root, 1), series, role)


def _content_item(obj: SampleObject) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "IMAGE" if obj.sop_class in IMAGE_SOP_CLASSES else "COMPOSITE"
    item.ReferencedSOPSequence = [object_reference(obj)]
    return item


def _evidence(selected: Sequence[SampleObject]) -> list[Dataset]:
    """Hierarchical references (study → series → SOP) to ``selected``, in first-seen order."""
    studies: dict[str, dict[str, list[SampleObject]]] = {}
    for obj in selected:
        studies.setdefault(obj.study, {}).setdefault(obj.series, []).append(obj)
    items: list[Dataset] = []
    for study_uid, series_map in studies.items():
        series_items: list[Dataset] = []
        for series_uid, objects in series_map.items():
            series_item = Dataset()
            series_item.SeriesInstanceUID = series_uid
            series_item.ReferencedSOPSequence = [object_reference(obj) for obj in objects]
            series_items.append(series_item)
        study = Dataset()
        study.StudyInstanceUID = study_uid
        study.ReferencedSeriesSequence = series_items
        items.append(study)
    return items
