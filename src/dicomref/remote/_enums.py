"""The small vocabulary of DIMSE query/retrieve the planner speaks."""

from __future__ import annotations

import enum


class Level(enum.StrEnum):
    """Query/Retrieve Level (0008,0052): the value sent as ``QueryRetrieveLevel``."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


class Root(enum.StrEnum):
    """Query/Retrieve information model the step is sent under."""

    STUDY = "study"
    PATIENT = "patient"


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
