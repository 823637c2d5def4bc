"""Retrieve modes, and the record of retrieves that did not bring what was asked."""

from __future__ import annotations

from dataclasses import dataclass

from dicomref.remote.planner._enums import Level, Method
from dicomref.remote.planner._steps import Retrieve
from dicomref.remote.planner._words import DIMSE, Words


@dataclass(frozen=True, slots=True)
class Mode:
    """One way to retrieve: method, level, with a UID list or not, with parents or not."""

    method: Method
    level: Level
    listed: bool = False
    without_parents: bool = False

    @classmethod
    def of(cls, step: Retrieve) -> Mode:
        """The mode ``step`` uses."""
        return cls(
            method=step.method,
            level=step.level,
            listed=step.listed,
            without_parents=step.level is Level.IMAGE and step.study is None,
        )

    def describe(self, words: Words = DIMSE) -> str:
        """E.g. "C-MOVE with a UID list", "C-GET of the whole series" (``words``: the
        protocol's: "WADO-RS of the whole series")."""
        name = words.retrieve(self.method)
        if self.level is Level.SERIES:
            return f"{name} of the whole series"
        parts = [name]
        if self.listed and words.list_retrieve:
            parts.append("with a UID list")
        if self.without_parents:
            parts.append("without Study/Series keys")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A retrieve that did not bring one wanted object.

    ``series`` is the series it was asked from (``None`` when sent without parents);
    ``note`` says what happened, for the report; ``arrived`` is how many objects that
    retrieve did bring (others than this one); ``given_up``: a series on trial dropped
    before this object came (it may be there still: the series is not tried again, but
    the object is not searched for as if it had not come).
    """

    mode: Mode
    series: str | None
    note: str
    arrived: int = 0
    given_up: bool = False
