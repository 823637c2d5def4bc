"""QIDO-RS query parameters (PS3.18 §8.3.4) read into the DIMSE side's
:class:`~dicomref.server._identifier.Request`, so both sides match by the same rules
(:mod:`dicomref.server._select`, :mod:`dicomref.server._matching`).

- ``{attributeID}={value}``: a keyword or a tag (``0020000D``).  UID attributes take a
  list separated by commas (or backslashes); a repeated UID attribute adds to the list.
  Other attributes take DIMSE's forms: a single value, wildcards ``*`` ``?``, a date or
  time range ``A-B``, a backslash list; an empty value asks for the attribute without
  matching.
- ``includefield``: keywords or tags (comma lists, repeatable), or ``all``.
- ``limit``, ``offset``; ``fuzzymatching=false``.

Everything else is refused with 400 naming the parameter: a filter the catalog cannot
match (no column for it, a sequence, an attribute of a level below the one searched),
``fuzzymatching=true``, an ``includefield`` the catalog cannot fill, an unknown name.  A
server that ignores a filter answers with objects that do not match it: this one never
does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement

from dicomref._dimse._levels import Level, Root
from dicomref.server._identifier import Request, Term
from dicomref.server._keys import DEPTH, KEYS, Key, Match
from dicomref.server._select import source
from dicomref.server.dicomweb._problems import bad_request

_TAG: Final = re.compile(r"^[0-9A-Fa-f]{8}$")
_ROUTE: Final = {Level.STUDY: "/studies", Level.SERIES: "/series", Level.IMAGE: "/instances"}
#: Computed per answer (not columns): counts and the sets of a study.
_COMPUTED: Final[dict[Level, frozenset[str]]] = {
    Level.STUDY: frozenset(
        {
            "NumberOfStudyRelatedSeries",
            "NumberOfStudyRelatedInstances",
            "ModalitiesInStudy",
            "SOPClassesInStudy",
        }
    ),
    Level.SERIES: frozenset({"NumberOfSeriesRelatedInstances"}),
    Level.IMAGE: frozenset(),
}
_ALWAYS: Final = frozenset({"InstanceAvailability"})
_STUDY_DEFAULTS: Final = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
)
_SERIES_DEFAULTS: Final = ("Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber")
_INSTANCE_DEFAULTS: Final = (
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "NumberOfFrames",
    "InstanceAvailability",
)
DEFAULT_MAX_RESULTS: Final = 1000
"""Most answers to one search; more are cut with a ``Warning: 299`` header."""


@dataclass(frozen=True, slots=True)
class Search:
    """A QIDO-RS search: the request to match, the page asked, and whether the answers
    carry every reference sequence of each instance (``includefield=all``)."""

    request: Request
    limit: int | None
    offset: int
    all_sequences: bool


def _name(text: str) -> tuple[int, str] | None:
    """(tag, keyword) of an attribute named by keyword or tag; None if unknown."""
    if _TAG.match(text):
        number = int(text, 16)
        return number, keyword_for_tag(number) or ""
    found = tag_for_keyword(text)
    return None if found is None else (int(found), text)


def _described(text: str, keyword: str) -> str:
    return text if text == keyword or not keyword else f"{text} ({keyword})"


def fillable(level: Level) -> frozenset[str]:
    """Keywords an answer at ``level`` can carry a value for."""
    return frozenset(source(level).columns) | _COMPUTED[level] | _ALWAYS


def _filter_key(text: str, level: Level) -> Key:
    if "." in text:
        raise bad_request(
            f"unsupported filter {text!r}: sequence matching is not supported (no server "
            "matches on sequence contents; ask for the sequence with includefield instead)"
        )
    named = _name(text)
    if named is None:
        raise bad_request(f"unknown query parameter {text!r}: not a DICOM keyword or tag")
    tag, keyword = named
    key = KEYS.get(tag)
    where = _ROUTE[level]
    if key is None or key.match is Match.RETURN:
        raise bad_request(
            f"unsupported filter {_described(text, keyword)}: the catalog cannot match on it "
            f"(it holds no such column); remove it and filter the answers yourself"
        )
    if DEPTH[key.level] > DEPTH[level]:
        raise bad_request(
            f"unsupported filter {_described(text, keyword)} on {where}: an attribute of the "
            f"{key.level.value.lower()} level cannot filter a search one level up"
        )
    if key.match is not Match.CODES and key.keyword not in source(level).columns:
        raise bad_request(
            f"unsupported filter {_described(text, keyword)}: the catalog cannot match on it "
            "(it holds no such column); remove it and filter the answers yourself"
        )
    return key


def _values(key: Key, text: str) -> tuple[str, ...]:
    parts = re.split(r"[,\\]", text) if key.match is Match.UID else text.split("\\")
    return tuple(value for value in (part.strip() for part in parts) if value)


def _number(name: str, text: str) -> int:
    if not re.fullmatch(r"\d{1,9}", text.strip()):
        raise bad_request(f"{name}={text!r}: expected a whole number >= 0")
    return int(text)


def _element(tag: int) -> DataElement:
    return DataElement(tag, dictionary_VR(tag), None)


def _include(text: str, level: Level, asked: dict[int, DataElement]) -> bool:
    """Add one ``includefield`` value to ``asked``; True for ``all``."""
    if text.lower() == "all":
        return True
    named = _name(text)
    if named is None:
        raise bad_request(f"includefield={text!r}: not a DICOM keyword or tag")
    tag, keyword = named
    vr = dictionary_VR(tag) if keyword else ""
    if vr == "SQ":
        if level is not Level.IMAGE:
            raise bad_request(
                f"includefield={_described(text, keyword)}: reference sequences are "
                "answered at the instance level only (/instances)"
            )
        asked.setdefault(tag, _element(tag))
        return False
    key = KEYS.get(tag)
    if key is not None and DEPTH[key.level] > DEPTH[level]:
        raise bad_request(
            f"includefield={_described(text, keyword)}: an attribute of the "
            f"{key.level.value.lower()} level, below this search's level"
        )
    if keyword not in fillable(level):
        raise bad_request(
            f"includefield={_described(text, keyword)}: the catalog does not hold it; "
            "read it from the instance's metadata (.../metadata)"
        )
    asked.setdefault(tag, _element(tag))
    return False


def _defaults(level: Level, fixed: Sequence[str]) -> list[str]:
    """The attributes answered without includefield (PS3.18 Table 6.7.1-2/2a, as far as
    the catalog holds them): a level's own, plus those of the levels above the search when
    the path does not fix them."""
    study = [*_STUDY_DEFAULTS]
    if level is Level.STUDY:
        return [*study, "ModalitiesInStudy", "InstanceAvailability", *_COMPUTED[Level.STUDY]]
    series = [*_SERIES_DEFAULTS]
    upper = [] if "StudyInstanceUID" in fixed else study
    if level is Level.SERIES:
        return [*upper, *series, "NumberOfSeriesRelatedInstances"]
    middle = series if "SeriesInstanceUID" not in fixed else ["SeriesInstanceUID"]
    return [*upper, *middle, *_INSTANCE_DEFAULTS]


def parse_search(
    level: Level,
    params: Iterable[tuple[str, str]],
    fixed: Sequence[tuple[str, str]] = (),
) -> Search:
    """The search the query string ``params`` makes at ``level``; ``fixed``: the UIDs the
    path names (``StudyInstanceUID`` of ``/studies/{study}/series``).  Raises
    DicomWebError (400) naming the first parameter it cannot honour."""
    values: dict[int, tuple[Key, list[str]]] = {}
    named_by: dict[int, str] = {}
    includes: list[str] = []
    limit: int | None = None
    offset = 0
    for keyword, uid in fixed:
        key = KEYS[int(tag_for_keyword(keyword) or 0)]
        values[key.tag] = (key, [uid])
        named_by[key.tag] = "the path"
    for name, text in params:
        lowered = name.lower()
        if lowered == "includefield":
            includes.extend(part.strip() for part in text.split(",") if part.strip())
        elif lowered == "limit":
            limit = _number("limit", text)
        elif lowered == "offset":
            offset = _number("offset", text)
        elif lowered == "fuzzymatching":
            if text.strip().lower() != "false":
                raise bad_request(
                    f"fuzzymatching={text!r}: fuzzy matching is not supported (only 'false')"
                )
        else:
            key = _filter_key(name, level)
            if key.tag in values:
                held = values[key.tag][1]
                if named_by.get(key.tag) == "the path":
                    raise bad_request(f"{name}: {key.keyword} is given by the path already")
                if key.match is not Match.UID:
                    raise bad_request(
                        f"{name} is given twice: only UID attributes take several values "
                        "(use a backslash list for others)"
                    )
                held.extend(_values(key, text))
                continue
            values[key.tag] = (key, list(_values(key, text)))
            named_by[key.tag] = name
    asked: dict[int, DataElement] = {}
    for keyword in _defaults(level, [keyword for keyword, _ in fixed]):
        tag = int(tag_for_keyword(keyword) or 0)
        asked.setdefault(tag, _element(tag))
    for tag in values:
        asked.setdefault(tag, _element(tag))
    everything = False
    for text in includes:
        everything = _include(text, level, asked) or everything
    if everything:
        for keyword in sorted(fillable(level)):
            tag = int(tag_for_keyword(keyword) or 0)
            asked.setdefault(tag, _element(tag))
    terms = tuple(Term(key, tuple(found)) for key, found in values.values())
    request = Request("C-FIND", Root.STUDY, level, terms, tuple(asked.values()))
    return Search(request, limit, offset, everything and level is Level.IMAGE)
