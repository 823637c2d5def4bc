"""A C-FIND identifier as QIDO-RS searches: the path, the filters, ``includefield``, and
the UID list cut to the node's request-line budget.  Pure: no network.

The mapping (PS3.18 §10.6):

- STUDY → ``/studies``; SERIES → ``/studies/{study}/series`` when one study is given,
  else ``/series``; IMAGE → ``/studies/{s}/series/{se}/instances``,
  ``/studies/{s}/instances`` or ``/instances`` (relational, by SOP Instance UID alone);
  PATIENT → ``/studies`` (QIDO has no patient level), rows folded per Patient ID;
- a key with a value is a filter (``SOPInstanceUID=a,b,c``: a backslash list of the
  identifier becomes a comma list; never a repeated key, which Orthanc reads as its first
  value only); a zero-length key is asked back with ``includefield``;
- a list too long for one request line is cut into several searches whose rows are
  joined (each line within :attr:`WebNode.budget`).

Servers ignore filters they do not support (Orthanc answers every instance to a filter on
a sequence), so :func:`honest` checks each row against the exact-match filters sent and
drops the rows that do not match: a C-FIND answer never holds a row its identifier
excludes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from dicomref._dicomweb import _json, _paths
from dicomref._dimse._levels import Level

Keys = tuple[tuple[str, str], ...]
LIST_SEPARATOR = "\\"

_UNIQUE = {
    Level.PATIENT: "PatientID",
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.IMAGE: "SOPInstanceUID",
}
_UID_KEYS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"})
_EXACT_KEYS = _UID_KEYS | {"Modality", "PatientID", "AccessionNumber"}
_PATIENT_KEYS = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex")


@dataclass(frozen=True, slots=True)
class Search:
    """One QIDO-RS request: ``path`` below the base URL and its query ``params``."""

    path: str
    params: tuple[tuple[str, str], ...]
    study: str | None = None
    series: str | None = None

    @property
    def target(self) -> str:
        """The path and query, for messages and the request itself."""
        query = _paths.query_string(self.params)
        return f"{self.path}?{query}" if query else self.path


def _is_sequence(keyword: str) -> bool:
    tag = tag_for_keyword(keyword)
    return tag is not None and dictionary_VR(tag) == "SQ"


def _single(value: str) -> str | None:
    return value if value and LIST_SEPARATOR not in value and "*" not in value else None


def searches(level: Level, keys: Keys, base_path: str, budget: int) -> Iterator[Search]:
    """The QIDO-RS requests that together answer a C-FIND of ``keys`` at ``level``."""
    given = {k: v for k, v in keys if k != "QueryRetrieveLevel"}
    study = _single(given.get("StudyInstanceUID", ""))
    series = _single(given.get("SeriesInstanceUID", "")) if study else None
    if level is Level.SERIES:
        path = _paths.qido("series", study)
    elif level is Level.IMAGE:
        path = _paths.qido("instances", study, series)
    else:
        path = _paths.qido("studies")
    in_path = {"StudyInstanceUID"} if study and level is not Level.STUDY else set()
    if series and level is Level.IMAGE:
        in_path.add("SeriesInstanceUID")
    filters: list[tuple[str, str]] = []
    asked: list[str] = []
    listed: tuple[str, list[str]] | None = None
    for keyword, value in given.items():
        if keyword in in_path:
            continue
        if not value or _is_sequence(keyword):
            asked.append(keyword)
            continue
        if LIST_SEPARATOR in value and keyword in _UID_KEYS:
            values = [v for v in value.split(LIST_SEPARATOR) if v]
            if listed is None or len(values) > len(listed[1]):
                if listed is not None:
                    filters.append((listed[0], _paths.UID_SEPARATOR.join(listed[1])))
                listed = (keyword, values)
                continue
            filters.append((keyword, _paths.UID_SEPARATOR.join(values)))
            continue
        filters.append((keyword, value))
    if level is Level.PATIENT:
        asked = list(dict.fromkeys([*asked, *_PATIENT_KEYS]))
    if asked:
        filters.append(("includefield", _paths.UID_SEPARATOR.join(asked)))
    context = {"study": study, "series": series if level is Level.IMAGE else None}
    if listed is None:
        yield Search(path, tuple(filters), **context)
        return
    keyword, values = listed
    fixed = _paths.line_length(base_path, path, [*filters, (keyword, "")]) + 1
    for run in _paths.cut_list(values, max(budget - fixed, 64)):
        params = ((keyword, _paths.UID_SEPARATOR.join(run)), *filters)
        yield Search(path, params, **context)


def honest(level: Level, keys: Keys, rows: Sequence[Mapping[str, Any]]) -> tuple[list[Any], int]:
    """The rows that match every exact filter of ``keys`` they carry, and how many did not
    (a server that ignored a filter).  A row without the attribute is kept: servers need
    not return what was not asked back."""
    checks: dict[str, frozenset[str]] = {}
    for keyword, value in keys:
        if keyword in _EXACT_KEYS and value and "*" not in value and "?" not in value:
            checks[keyword] = frozenset(v for v in value.split(LIST_SEPARATOR) if v)
    kept: list[Any] = []
    dropped = 0
    for row in rows:
        for keyword, allowed in checks.items():
            found = _json.first(row, keyword)
            if found is not None and found not in allowed:
                dropped += 1
                break
        else:
            kept.append(row)
    return kept, dropped


def unique(level: Level, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """One row per object of ``level`` (the UID lists' searches may overlap; the PATIENT
    level folds the studies of one patient)."""
    seen: set[str] = set()
    out: list[Any] = []
    for row in rows:
        key = _json.first(row, _UNIQUE[level])
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        out.append(row)
    return out
