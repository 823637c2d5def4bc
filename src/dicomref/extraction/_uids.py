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

# The rule itself lives in dicomref._uids (the command line checks its arguments with it
# without importing pydicom); this module says how reading files applies it.
from dicomref._uids import MAX_LENGTH, TOLERATED, UidCheck, check_uid, problem, shown

__all__ = ["MAX_LENGTH", "TOLERATED", "UidCheck", "check_uid", "problem", "shown"]
