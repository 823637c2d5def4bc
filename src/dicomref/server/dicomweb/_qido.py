"""QIDO-RS: searches answered from the catalog, row for row as C-FIND answers them.

A search (:mod:`._params`) becomes the DIMSE side's request; :func:`dicomref.server._select.page`
finds one page of rows (the database asked for no more), and
:func:`dicomref.server._answers.answer_rows` builds the answers as C-FIND does (counts,
study sets, reference sequences rebuilt from the catalog: :mod:`dicomref.server._refseq`).
Each becomes DICOM JSON, without the DIMSE-only QueryRetrieveLevel and RetrieveAETitle,
with a RetrieveURL.  ``includefield=all`` at the instance level adds every reference
sequence the catalog holds for each instance.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydicom.datadict import tag_for_keyword
from sqlalchemy import select

from dicomref._dimse._levels import Level
from dicomref.catalog import Catalog
from dicomref.catalog.schema import refs
from dicomref.server import _refseq, _select
from dicomref.server._answers import answer_rows
from dicomref.server.dicomweb._params import Search
from dicomref.server.dicomweb._urls import instance_url, series_url, study_url

_DIMSE_ONLY: Final = ("00080052", "00080054")
_RETRIEVE_URL: Final = "00081190"


@dataclass(frozen=True, slots=True)
class Found:
    """One page of answers (DICOM JSON objects) and whether the search was cut short."""

    answers: list[dict[str, Any]]
    more: bool


def search(catalog: Catalog, found: Search, base: str, max_results: int) -> Found:
    """The page of answers to ``found``.  Raises CatalogError."""
    request = found.request
    count = max_results if found.limit is None else min(found.limit, max_results)
    with catalog.reading() as conn:
        rows, more = _select.page(conn, request, found.offset, count)
        extra = _all_sequences(conn, rows) if found.all_sequences else None
    answers = []
    for index, dataset in enumerate(answer_rows(catalog, request, rows, "")):
        answer = dataset.to_json_dict()
        for tag in _DIMSE_ONLY:
            answer.pop(tag, None)
        if extra is not None:
            answer.update(extra[index])
        url = _retrieve_url(base, rows[index], request.level)
        answer[_RETRIEVE_URL] = {"vr": "UR", "Value": [url]}
        answers.append(answer)
    return Found(answers, more)


def _retrieve_url(base: str, row: Mapping[str, Any], level: Level) -> str:
    study = str(row["StudyInstanceUID"])
    if level is Level.STUDY:
        return study_url(base, study)
    if level is Level.SERIES:
        return series_url(base, study, str(row["SeriesInstanceUID"]))
    return instance_url(base, study, str(row["SeriesInstanceUID"]), str(row["SOPInstanceUID"]))


def _all_sequences(conn: Any, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every reference sequence the catalog holds for each row's file, as DICOM JSON."""
    ids = [int(row["_file_id"]) for row in rows]
    keywords: set[str] = set()
    for start in range(0, len(ids), _refseq.CHUNK):
        chunk = ids[start : start + _refseq.CHUNK]
        statement = select(refs.c.paths).where(refs.c.file_id.in_(chunk)).distinct()
        for (paths,) in conn.execute(statement):
            for path in str(paths).split("\n"):
                first = path.split("[", 1)[0]
                if first and tag_for_keyword(first) is not None:
                    keywords.add(first)
    if not keywords:
        return [{} for _ in rows]
    built = _refseq.for_files(conn, ids, sorted(keywords))
    extras = []
    for file_id in ids:
        sequences: dict[str, Any] = {}
        for keyword, sequence in built[file_id].items():
            if len(sequence):
                tag = f"{int(tag_for_keyword(keyword) or 0):08X}"
                sequences[tag] = {"vr": "SQ", "Value": [item.to_json_dict() for item in sequence]}
        extras.append(sequences)
    return extras


def encode(answers: Sequence[Mapping[str, Any]]) -> Iterator[bytes]:
    """The answers as one compact JSON array, an answer at a time."""
    yield b"["
    for index, answer in enumerate(answers):
        if index:
            yield b","
        yield json.dumps(answer, separators=(",", ":")).encode()
    yield b"]"
