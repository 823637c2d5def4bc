"""Reading a C-FIND/C-MOVE/C-GET identifier: its level, its matching keys, its return keys.

:func:`parse` turns the identifier pynetdicom decoded into a :class:`Request`, or a
:class:`Refusal` (status and reason) when it cannot be served at all: no or an unknown
Query/Retrieve Level, or a level the information model does not have.  Whether the keys
obey the hierarchical rules is :mod:`._hierarchy`'s business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomref._dimse._levels import Level, Root
from dicomref.server._keys import DEPTH, KEYS, LEVELS, Key, Match
from dicomref.server._statuses import IDENTIFIER_DOES_NOT_MATCH

QUERY_RETRIEVE_LEVEL = 0x00080052
SPECIFIC_CHARACTER_SET = 0x00080005


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request that will not be served: the status to answer and why, in words short
    enough for the Error Comment (64 characters)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Term:
    """One known key of the identifier and its values (() for universal matching)."""

    key: Key
    values: tuple[str, ...]

    @property
    def universal(self) -> bool:
        return not self.values


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed identifier.

    ``terms`` are the known keys (matching keys and return keys alike) in identifier
    order; ``asked`` every element the identifier holds, known or not, that the answers
    must carry (QueryRetrieveLevel and SpecificCharacterSet excluded).
    """

    command: str
    root: Root
    level: Level
    terms: tuple[Term, ...]
    asked: tuple[DataElement, ...]

    @property
    def depth(self) -> int:
        return DEPTH[self.level]

    def term(self, keyword: str) -> Term | None:
        for term in self.terms:
            if term.key.keyword == keyword:
                return term
        return None

    def matching(self) -> list[Term]:
        """Keys that restrict the matches: not universal, at or above the query level.

        Keys below the query level match nothing here (a lenient server ignores them;
        strict mode refuses them before this is asked).
        """
        return [
            t
            for t in self.terms
            if not t.universal
            and DEPTH[t.key.level] <= self.depth
            and t.key.match is not Match.RETURN
        ]


def values_of(element: DataElement) -> tuple[str, ...]:
    """The values of an identifier element as stripped strings; () when zero-length."""
    value = element.value
    if value is None:
        return ()
    if isinstance(value, bytes | bytearray):
        value = value.decode("ascii", "replace").split("\\")
    items: Iterable[object] = value if isinstance(value, MultiValue | list | tuple) else [value]
    found = tuple(text for text in (str(item).strip(" \x00") for item in items) if text)
    return found


def parse(identifier: Dataset, root: Root, command: str) -> Request | Refusal:
    """The request an identifier makes under ``root`` (reading every element once)."""
    level_element = identifier.get(QUERY_RETRIEVE_LEVEL)
    level_text = "" if level_element is None else str(level_element.value or "").strip()
    if not level_text:
        return Refusal(IDENTIFIER_DOES_NOT_MATCH, "no QueryRetrieveLevel (0008,0052)")
    try:
        level = Level(level_text.upper())
    except ValueError:
        return Refusal(
            IDENTIFIER_DOES_NOT_MATCH,
            f"QueryRetrieveLevel {level_text[:16]!r} is unknown",
        )
    if level not in LEVELS[root]:
        return Refusal(
            IDENTIFIER_DOES_NOT_MATCH,
            f"the {root.value} root has no {level.value} level",
        )
    terms: list[Term] = []
    asked: list[DataElement] = []
    for element in identifier:
        tag = int(element.tag)
        if tag & 0xFFFF == 0 or tag in (QUERY_RETRIEVE_LEVEL, SPECIFIC_CHARACTER_SET):
            continue
        asked.append(element)
        key = KEYS.get(tag)
        if key is not None:
            terms.append(Term(key, values_of(element)))
    return Request(command, root, level, tuple(terms), tuple(asked))
