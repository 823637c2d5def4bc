"""pydicom imported without numpy, requests and Pillow, for command-line processes.

``import pydicom`` imports its pixel-data handlers and decoders, which import numpy
whenever it is installed (~90 ms) and Pillow (~10-20 ms), and its test-data downloader,
which imports requests (~40 ms with urllib3) when that is installed: ~140 ms of a
``dicomref fetch`` on a machine that has them, as most have, for features dicomref never
calls (it reads headers with its own walker and moves pixel data as bytes).
:func:`import_pydicom_lean` imports pydicom with those made unimportable for the length
of that import only, so pydicom's modules record them as absent (each import sits in
``try … except ImportError``, the fallback pydicom has for machines without them) and
everything else is as usual; afterwards ``import numpy`` works again for any other code.

Only the CLI calls it, at the start of a command that will use pydicom: a library user's
process keeps pydicom as pydicom imports itself.  In a process set up this way pydicom's
pixel features (``Dataset.pixel_array``, compression) say numpy (or Pillow) is missing.
"""

from __future__ import annotations

import sys

#: What pydicom's import pulls in for features dicomref does not use.
LEFT_OUT = ("numpy", "requests", "PIL")


def import_pydicom_lean() -> bool:
    """Import pydicom without :data:`LEFT_OUT` (those already imported stay); whether this
    call imported it (False: it was imported already, as pydicom imports itself)."""
    if "pydicom" in sys.modules:
        return False
    blocked = [name for name in LEFT_OUT if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    try:
        import pydicom  # noqa: F401
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return True
