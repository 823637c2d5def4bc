"""pydicom's warnings, attributed to the file they are about.

pydicom reports what it tolerates (an unknown Specific Character Set, a value that does not
fit its VR …) with :func:`warnings.warn`: printed on stderr as ``UserWarning: …`` without the
file's name, once per place in pydicom's code, so the tenth file with the problem says
nothing.  Where dicomref calls pydicom on a file's values, :func:`recorded` collects those
warnings instead, and :func:`report` logs each as a warning of ``dicomref.extraction`` that
names the file (``/data/x.dcm: pydicom: Unknown encoding 'ISO_IR 999' …``), for every file
it concerns.  The library configures no logging: the command line shows them on stderr.

``warnings.catch_warnings`` swaps process-wide state: calls from several threads at once may
attribute a warning to the wrong file (never lose the file's data).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from typing import TypeVar

from dicomref._filenames import printable_path

log = logging.getLogger("dicomref.extraction")

T = TypeVar("T")


def recorded(call: Callable[[], T]) -> tuple[T, tuple[str, ...]]:
    """``call()``'s result and the text of each warning it raised (shown nowhere)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, tuple(dict.fromkeys(str(w.message) for w in caught))


#: The file last reported on, and what was said of it: a warning once per file, though two
#: steps of reading it (pydicom's reader, the name decoder) may meet the same problem.
_SAID: dict[str, set[str]] = {}


def report(path: str, notes: Iterable[str]) -> None:
    """Log each of ``notes`` (pydicom's warnings on ``path``) as a warning naming the file."""
    if path not in _SAID:
        _SAID.clear()
    said = _SAID.setdefault(path, set())
    for note in notes:
        if note not in said:
            said.add(note)
            log.warning("%s: pydicom: %s", printable_path(path), note)
