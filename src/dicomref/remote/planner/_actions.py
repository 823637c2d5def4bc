"""What the planner decides for one wanted object, before steps are grouped."""

from __future__ import annotations

from dataclasses import dataclass, field

from dicomref.remote.planner._attempts import Mode
from dicomref.remote.planner._steps import Scope


@dataclass(frozen=True, slots=True)
class Search:
    """Locate: a C-FIND over ``scope`` is the next thing to do for this object."""

    scope: Scope


@dataclass(frozen=True, slots=True)
class Fetch:
    """Retrieve from ``study``/``series`` (``None``: keys left out) in ``mode``.

    ``locating`` is True for a series fetched whole to look inside it (IMAGE level
    refused); ``count`` is that series' size when known; ``hinted``: the series is the
    one a referrer names, not one a search found (it is not part of the action's
    identity: hinted and located objects of one series go in one request).
    """

    study: str | None
    series: str | None
    mode: Mode
    count: int | None = None
    locating: bool = False
    hinted: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Missing:
    """A wanted object the plan gives up on, and why (names the UID and what was searched)."""

    sop_uid: str
    reason: str


Action = Search | Fetch | Missing
