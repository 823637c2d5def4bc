"""The library's public face: exactly what ``__all__`` names, each importable."""

from __future__ import annotations

import subprocess
import sys

import dicomref

SUBPACKAGES = {"catalog", "check", "cli", "errors", "extraction", "graph", "model"}
SUBPACKAGES |= {"remote", "sample", "server", "show", "store"}


def test_all_is_sorted_and_exact() -> None:
    """In a fresh interpreter: other tests import more submodules into this one."""
    assert dicomref.__all__ == sorted(dicomref.__all__)
    code = "import dicomref; print(' '.join(n for n in vars(dicomref) if n[0] != '_'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    public = set(out.stdout.split()) - SUBPACKAGES - {"annotations", "logging"}
    assert public == set(dicomref.__all__) - {"__version__"}


def test_every_error_derives_from_the_root() -> None:
    errors = [getattr(dicomref, n) for n in dicomref.__all__ if n.endswith("Error")]
    assert len(errors) >= 10
    assert all(issubclass(e, dicomref.DicomrefError) for e in errors)


def test_importing_the_library_configures_no_logging() -> None:
    code = (
        "import logging, dicomref;"
        "print([type(h).__name__ for h in logging.getLogger('dicomref').handlers],"
        " logging.getLogger().handlers)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['NullHandler'] []"
