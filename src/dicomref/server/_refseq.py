"""Reference sequences rebuilt from the catalog's ``refs`` table, as C-FIND return keys.

A client that asks an IMAGE-level C-FIND for ``ReferencedStructureSetSequence`` (or any
sequence) gets, for each matched object, the items of that sequence that hold references:
``ReferencedSOPClassUID``, ``ReferencedSOPInstanceUID`` and any ``ReferencedFrameNumber``
/ ``ReferencedSegmentNumber``, nested as in the object (the place of each reference is
recorded as ``ROIContourSequence[3].ContourSequence[0].ContourImageSequence[0]``).
Enclosing items get the location hints the catalog holds: ``SeriesInstanceUID`` in a
``…SeriesSequence`` item, ``StudyInstanceUID`` in an evidence or study item.  Items
without references are left out, so indices close up; other attributes of the object's
items (ROI names, beam numbers, …) are not in the catalog and are not returned.

So the chain plan → structure set → CT slices can be read with C-FIND alone, before
anything is moved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from sqlalchemy import Connection, select

from dicomref.catalog.schema import refs

_SEGMENT: Final = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\[(\d+)\]$")
_STUDY_ITEMS: Final = frozenset(
    {
        "CurrentRequestedProcedureEvidenceSequence",
        "PertinentOtherEvidenceSequence",
        "StudiesContainingOtherReferencedInstancesSequence",
        "IdenticalDocumentsSequence",
        "ReferencedStudySequence",
    }
)
#: Bound parameters per IN list.
CHUNK: Final = 500


@dataclass(slots=True)
class _Node:
    attributes: dict[str, Any] = field(default_factory=dict)
    children: dict[str, dict[int, _Node]] = field(default_factory=dict)

    def child(self, keyword: str, index: int) -> _Node:
        return self.children.setdefault(keyword, {}).setdefault(index, _Node())

    def to_dataset(self) -> Dataset:
        ds = Dataset()
        for keyword, value in self.attributes.items():
            setattr(ds, keyword, value)
        for keyword, items in self.children.items():
            setattr(ds, keyword, _sequence(items))
        return ds


def _sequence(items: Mapping[int, _Node]) -> DicomSequence:
    return DicomSequence([items[i].to_dataset() for i in sorted(items)])


def _parse(path: str) -> list[tuple[str, int]] | None:
    segments = []
    for part in path.split("."):
        found = _SEGMENT.match(part)
        if found is None or tag_for_keyword(found[1]) is None:
            return None  # a private or unknown sequence on the way: cannot be rebuilt
        segments.append((found[1], int(found[2])))
    return segments or None


def _numbers(text: str | None) -> list[int]:
    return [int(v) for v in text.split("\\")] if text else []


def _place(root: _Node, segments: list[tuple[str, int]], row: Mapping[str, Any]) -> None:
    node = root
    for depth, (keyword, index) in enumerate(segments):
        node = node.child(keyword, index)
        if depth == len(segments) - 1:
            break
        if keyword.endswith("SeriesSequence") and row["series_hint"]:
            node.attributes.setdefault("SeriesInstanceUID", row["series_hint"])
        elif keyword in _STUDY_ITEMS and row["study_hint"]:
            node.attributes.setdefault("StudyInstanceUID", row["study_hint"])
    if row["target_class"]:
        node.attributes["ReferencedSOPClassUID"] = row["target_class"]
    node.attributes["ReferencedSOPInstanceUID"] = row["target_uid"]
    frames = _numbers(row["frames"])
    if frames:
        node.attributes["ReferencedFrameNumber"] = frames
    segments_ = _numbers(row["segments"])
    if segments_:
        node.attributes["ReferencedSegmentNumber"] = segments_


def build(rows: Iterable[Mapping[str, Any]], keywords: Iterable[str]) -> dict[str, DicomSequence]:
    """The sequences named by ``keywords`` rebuilt from one object's ``refs`` rows."""
    wanted = set(keywords)
    root = _Node()
    for row in rows:
        for path in str(row["paths"]).split("\n"):
            segments = _parse(path)
            if segments is not None and segments[0][0] in wanted:
                _place(root, segments, row)
    return {kw: _sequence(root.children.get(kw, {})) for kw in wanted}


def for_files(
    conn: Connection, file_ids: Sequence[int], keywords: Iterable[str]
) -> dict[int, dict[str, DicomSequence]]:
    """The sequences named by ``keywords`` for each of ``file_ids`` (read in chunks)."""
    wanted = list(keywords)
    grouped: dict[int, list[Any]] = {file_id: [] for file_id in file_ids}
    for start in range(0, len(file_ids), CHUNK):
        chunk = list(file_ids[start : start + CHUNK])
        statement = select(refs).where(refs.c.file_id.in_(chunk)).order_by(refs.c.id)
        for row in conn.execute(statement).mappings():
            grouped[row["file_id"]].append(row)
    return {file_id: build(found, wanted) for file_id, found in grouped.items()}
