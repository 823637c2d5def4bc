"""What selects the starts of a cohort fetch on the server: ``KEY=VALUE`` matching keys.

A :class:`CohortQuery` holds a few standard matching keys, each at the level of the
hierarchy it belongs to (study, series, image).  The planner turns it into hierarchical
C-FINDs, a level at a time (:func:`dicomref.remote.planner._build.selection_finds`); every
object the IMAGE level matches is a start.  The keys are a small allowed set (what
servers index: DESIGN §2) and each value is checked as DICOM matching allows for its
VR: wildcards (``*``, ``?``) in text, ranges (``A-B``) in dates, a UID or a list of
UIDs (``\\``-separated) in UIDs.  Light on purpose: no pydicom.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from dicomref._dimse._levels import Level
from dicomref._uids import argument_problem
from dicomref.errors import UsageError

#: The matching keys allowed, by level, with the maximum length of their VR.
STUDY_KEYS: Final = {
    "PatientID": 64,
    "StudyInstanceUID": 64,
    "StudyDate": 18,
    "AccessionNumber": 16,
}
SERIES_KEYS: Final = {"Modality": 16, "SeriesInstanceUID": 64, "SeriesDescription": 64}
IMAGE_KEYS: Final = {"SOPClassUID": 64, "SOPInstanceUID": 64}
_LEVELS: Final = {
    **dict.fromkeys(STUDY_KEYS, Level.STUDY),
    **dict.fromkeys(SERIES_KEYS, Level.SERIES),
    **dict.fromkeys(IMAGE_KEYS, Level.IMAGE),
}
_UID_KEYS: Final = frozenset(
    {"StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID"}
)
_DATE: Final = re.compile(r"\d{8}")
_CODE: Final = re.compile(r"[A-Z0-9_ *?]+")  # CS (wildcards allowed)


@dataclass(frozen=True, slots=True)
class CohortQuery:
    """Matching keys that select starts, as ``(keyword, value)`` pairs in the order given."""

    keys: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, texts: Iterable[str]) -> CohortQuery:
        """``KEY=VALUE`` pairs; each text may hold several, separated by spaces (quote a
        value that holds one).  :class:`UsageError` naming the pair that is wrong."""
        keys: dict[str, str] = {}
        for text in texts:
            try:
                words = _words(text)
            except ValueError as exc:
                raise UsageError(f"--query {text!r}: {exc}") from exc
            for word in words:
                key, equals, value = word.partition("=")
                if not equals:
                    raise UsageError(f"--query {word!r}: expected KEY=VALUE, e.g. Modality=RTPLAN")
                if key in keys:
                    raise UsageError(f"--query {word!r}: {key} is given twice")
                keys[key] = check_value(key, value)
        if not keys:
            raise UsageError("--query: give at least one KEY=VALUE, e.g. Modality=RTPLAN")
        return cls(tuple(keys.items()))

    def at(self, level: Level) -> tuple[tuple[str, str], ...]:
        """The keys that match at ``level``."""
        return tuple((k, v) for k, v in self.keys if _LEVELS[k] is level)

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.keys)


def _words(text: str) -> list[str]:
    """``text`` split on spaces, quotes respected as a shell does, backslashes kept (they
    separate the UIDs of a list)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    return list(lexer)


def check_value(key: str, value: str) -> str:
    """``value`` if it is a valid matching value for ``key``; else :class:`UsageError`."""
    if key not in _LEVELS:
        allowed = ", ".join(sorted(_LEVELS))
        raise UsageError(
            f"--query {key}={value}: {key} is not a key a query may select by ({allowed})"
        )
    where = f"--query {key}={value}"
    if not value:
        raise UsageError(f"{where}: the value is empty (an empty key would match everything)")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UsageError(f"{where}: the value holds a control character")
    if key in _UID_KEYS:
        for uid in value.split("\\"):
            why = argument_problem(uid)
            if why is not None:
                raise UsageError(f"{where}: {why}")
        return value
    if "\\" in value:
        raise UsageError(f"{where}: only UID keys take a list of values (\\)")
    if len(value) > _LEVELS_LENGTH[key]:
        raise UsageError(
            f"{where}: longer than the {_LEVELS_LENGTH[key]} characters {key} may have"
        )
    if key == "StudyDate":
        start, dash, end = value.partition("-")
        if not all(_DATE.fullmatch(d) for d in (start, end) if d) or (dash and not start + end):
            raise UsageError(
                f"{where}: a date is YYYYMMDD, a range YYYYMMDD-YYYYMMDD (either end may be open)"
            )
        return value
    if key == "Modality" and not _CODE.fullmatch(value):
        raise UsageError(f"{where}: a modality is upper-case letters and digits, e.g. RTPLAN")
    return value


_LEVELS_LENGTH: Final = {**STUDY_KEYS, **SERIES_KEYS, **IMAGE_KEYS}
