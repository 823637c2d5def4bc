"""The one rule for what a UID is (PS3.5 9.1), where files and the command line check it.

A UID is digits and dots, at most :data:`MAX_LENGTH` characters.  Files bend that in
harmless ways (components with leading zeros, padding, now and then a few characters too
many): :mod:`dicomref.extraction._uids` says how reading tolerates them.  What a person
types on the command line is held to the rule itself (:func:`argument_problem`): digits
and dots, at most 64 characters, no empty component and no component with a leading zero
except ``0`` itself, a trailing space or NUL (as copied from a padded value) stripped.

Light on purpose (no pydicom): the command line checks its arguments before it imports
what a command needs.
"""

from __future__ import annotations

import enum
from typing import Final

from dicomref._filenames import printable_path
from dicomref._memo import Memo

#: PS3.5's maximum length of a UID.
MAX_LENGTH: Final = 64
#: Longest run of digits and dots still taken as a (non-conformant) UID.
TOLERATED: Final = 128
_DIGITS_AND_DOTS: Final = "0123456789."
#: What padding a copied UID may carry (the catalog strips the same: ``catalog.bare``).
PADDING: Final = " \0"


class UidCheck(enum.Enum):
    OK = "ok"
    LONG = "long"  # digits and dots, longer than 64 characters: kept, with a warning
    INVALID = "invalid"  # not a UID: never stored


def _check(value: str) -> UidCheck:
    if value.strip(_DIGITS_AND_DOTS) or len(value) > TOLERATED:
        return UidCheck.INVALID
    return UidCheck.LONG if len(value) > MAX_LENGTH else UidCheck.OK


#: Checks already made: the slices of a series repeat their study, series and class UIDs.
check_uid: Memo[str, UidCheck] = Memo(_check)


def shown(value: str, limit: int = TOLERATED) -> str:
    """A value for a message: printable on one line (see ``printable_path``), shortened."""
    text = printable_path(value[:limit])
    return f"'{text}…' ({len(value)} characters)" if len(value) > limit else f"'{text}'"


def problem(value: str) -> str:
    """Why ``value`` is not a UID, for a message."""
    return (
        f"{shown(value)} is not a UID (digits and dots, at most {MAX_LENGTH} characters)"
        if check_uid[value] is UidCheck.INVALID
        else f"{shown(value)} is longer than the {MAX_LENGTH} characters a UID may have"
    )


def argument_problem(value: str) -> str | None:
    """Why ``value``, typed as a UID, is not one (None: it is, once its padding is
    stripped).  The rule of :func:`check_uid`, without the tolerance files get."""
    uid = value.rstrip(PADDING)
    if not uid:
        return "a UID cannot be empty"
    if check_uid[uid] is not UidCheck.OK:
        return problem(uid)
    for component in uid.split("."):
        if not component:
            return f"{shown(uid)} has an empty component (two dots, or a dot at an end)"
        if len(component) > 1 and component.startswith("0"):
            return (
                f"{shown(uid)} has a component with a leading zero ({component!r}): "
                "only '0' itself may start with 0"
            )
    return None
