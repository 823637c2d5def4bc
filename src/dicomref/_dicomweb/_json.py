"""DICOM JSON (PS3.18 F.2) as QIDO-RS answers it: tags, first values, rows as datasets.

QIDO rows are small (a few dozen top-level attributes, sometimes a reference sequence),
so they are turned into pydicom datasets, which the planner reads as it reads C-FIND
rows.  Large metadata (a structure set's) is never turned into a dataset: its
references are read from the raw JSON (:mod:`dicomref.extraction`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

LOGGER = logging.getLogger(__name__)

Row = Mapping[str, Any]
"""One DICOM JSON object: ``{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, ...}``."""


@cache
def tag_key(keyword: str) -> str:
    """The JSON key of ``keyword`` (``StudyInstanceUID`` → ``0020000D``); ValueError when
    pydicom's dictionary does not know it."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"{keyword!r} is not a DICOM keyword")
    return f"{tag:08X}"


def first(row: Row, keyword: str) -> str | None:
    """The first value of ``keyword`` in ``row`` as text (None when absent or empty)."""
    element = row.get(tag_key(keyword))
    if not isinstance(element, Mapping):
        return None
    values = element.get("Value")
    if not isinstance(values, list) or not values:
        return None
    value = values[0]
    if isinstance(value, Mapping):  # PN: {"Alphabetic": ...}
        value = value.get("Alphabetic")
    if value is None:
        return None
    return str(value).strip() or None


def parse_rows(payload: bytes) -> list[dict[str, Any]]:
    """The rows of a QIDO-RS answer body (``[]`` for an empty body: some servers answer
    ``204 No Content``, others ``200 []``); ValueError when it is not a JSON array of
    objects."""
    if not payload.strip():
        return []
    data = json.loads(payload)
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise ValueError("the answer is not a JSON array of DICOM JSON objects")
    return data


def _no_bulk(tag: str, vr: str, uri: str) -> bytes:
    return b""


def dataset_of(row: Row) -> Dataset:
    """``row`` as a pydicom dataset; an element pydicom cannot read is left out (logged),
    never the whole row (servers differ in how they write PN, DS and IS values)."""
    try:
        return Dataset.from_json(dict(row), bulk_data_uri_handler=_no_bulk)
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    dataset = Dataset()
    for key, element in row.items():
        try:
            part = Dataset.from_json({key: element}, bulk_data_uri_handler=_no_bulk)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            LOGGER.debug("a QIDO row's element %s cannot be read (%s): left out", key, exc)
            continue
        dataset.update(part)
    return dataset
