"""PS3.4 C.2.2.2 attribute matching as SQL conditions.

One key's values (already split at backslashes) become one condition on one column, or
None for universal matching (no values, or a lone ``*`` for text):

- single value: equality; person names compare without regard to case;
- list of UIDs (and, leniently, a list of any values): any of them;
- wildcards ``*`` and ``?`` in text: GLOB on SQLite (case-sensitive, like equality),
  LIKE elsewhere (PostgreSQL's LIKE is case-sensitive too);
- ranges for dates and times: ``A-B``, ``-B``, ``A-`` (inclusive); partial times are
  widened (``10-11`` is 10:00:00 to 11:59:59.999999);
- integers: equality with any value; a value that is not an integer matches nothing.

Sequence matching is not supported (sequence keys are return keys).  A malformed date or
time matches nothing rather than failing the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, false, func, literal, or_

from dicomref.server._keys import Match

_DATE: Final = re.compile(r"^\d{8}$")
_TIME: Final = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
_WILDCARDS: Final = frozenset("*?")


def condition(
    column: ColumnElement[Any], match: Match, values: Sequence[str], *, dialect: str
) -> ColumnElement[bool] | None:
    """The condition ``values`` put on ``column``; None for universal matching."""
    if not values or match is Match.RETURN:
        return None
    if match in (Match.TEXT, Match.NAME, Match.CODES) and "*" in values:
        return None
    parts: list[ColumnElement[bool]]
    if match is Match.UID:
        parts = [column.in_(list(dict.fromkeys(values)))]
    elif match is Match.NUMBER:
        numbers = [int(v) for v in values if re.fullmatch(r"[+-]?\d+", v)]
        parts = [column.in_(numbers)] if numbers else [false()]
    elif match is Match.DATE:
        parts = [_range(column, v, _date_bounds) for v in values]
    elif match is Match.TIME:
        parts = [_range(column, v, _time_bounds) for v in values]
    else:
        fold = match is Match.NAME
        parts = [_text(column, v, dialect=dialect, fold=fold) for v in values]
    return parts[0] if len(parts) == 1 else or_(*parts)


def _text(
    column: ColumnElement[Any], value: str, *, dialect: str, fold: bool
) -> ColumnElement[bool]:
    if not _WILDCARDS & set(value):
        if fold:
            return func.lower(column) == func.lower(literal(value))
        return column == value
    if dialect == "sqlite" and not fold:
        return column.op("GLOB")(_glob(value))
    pattern = _like(value)
    if fold:
        return func.lower(column).like(func.lower(literal(pattern)), escape="\\")
    return column.like(pattern, escape="\\")


def _glob(value: str) -> str:
    """A DICOM wildcard value as a SQLite GLOB pattern (``[`` is GLOB's only other special)."""
    return value.replace("[", "[[]")


def _like(value: str) -> str:
    """A DICOM wildcard value as a LIKE pattern with ``\\`` as the escape character."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _date_bounds(text: str, upper: bool) -> str | None:
    return text if _DATE.match(text) else None


def _time_bounds(text: str, upper: bool) -> str | None:
    """A time widened to the first (or last) moment it names: ``10`` is 10:00:00 to
    10:59:59.999999."""
    if not _TIME.match(text):
        return None
    if "." in text:
        return text
    full = text + ("595959" if upper else "000000")[len(text) :]
    return full + ".999999" if upper else full


Bounds = Callable[[str, bool], str | None]


def _range(column: ColumnElement[Any], value: str, bounds: Bounds) -> ColumnElement[bool]:
    low_text, dash, high_text = value.partition("-")
    if not dash:
        high_text = low_text
    if not low_text and not high_text:
        return false()
    conditions: list[ColumnElement[bool]] = []
    if low_text:
        low = bounds(low_text, False)
        if low is None:
            return false()
        conditions.append(column >= low)
    if high_text:
        high = bounds(high_text, True)
        if high is None:
            return false()
        conditions.append(column <= high)
    if not dash and conditions and low_text and bounds(low_text, False) == bounds(low_text, True):
        return column == low_text
    return and_(*conditions)
