"""Query/Retrieve levels and information models: the words of every identifier, both ends."""

from __future__ import annotations

import enum


class Level(enum.StrEnum):
    """Query/Retrieve Level (0008,0052): the value sent as ``QueryRetrieveLevel``."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


class Root(enum.StrEnum):
    """Query/Retrieve information model a request is sent under."""

    STUDY = "study"
    PATIENT = "patient"
