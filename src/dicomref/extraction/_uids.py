"""Whether a UID read from a file is a UID: checked where it enters, before it is stored.

A UID (PS3.5 9.1) is digits and dots, at most 64 characters.  Real files bend that in
harmless ways (components with leading zeros, padding, now and then a few characters too
many), so dicomref tolerates digits and dots up to :data:`TOLERATED` characters, the longer
ones with a warning.  Anything else (a newline, ``../``, letters, 200 characters) is not a
UID: it would break an output line, a path or a query.  Such a value never enters the
catalog: as the object's own identity it makes the file a failure; in a reference, the
reference is left out; as a hint or a frame of reference, it is dropped; each time with a
warning naming the file.
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
