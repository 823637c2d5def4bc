"""The small vocabulary of DIMSE query/retrieve the planner speaks.

:class:`Level` and :class:`Root` belong to the wire layer (:mod:`dicomref._dimse._levels`,
shared with the server); they are named here too, as the planner's words.
"""

from __future__ import annotations

import enum

from dicomref._dimse._levels import Level, Root

__all__ = ["Level", "Method", "ParentKeys", "Root"]


class Method(enum.StrEnum):
    """How objects are retrieved: C-MOVE (to a storage SCP) or C-GET (same association)."""

    MOVE = "move"
    GET = "get"


class ParentKeys(enum.StrEnum):
    """How the unique keys above the query level appear in an IMAGE-level identifier.

    ``VALUES``: hierarchical, StudyInstanceUID and SeriesInstanceUID carry values.
    ``EMPTY``: sent zero-length (universal matching); servers that accept this fill them
    in on every answer, so the hierarchy is learnt with the match.
    ``ABSENT``: left out of the identifier; answers may or may not carry them.
    """

    VALUES = "values"
    EMPTY = "empty"
    ABSENT = "absent"
