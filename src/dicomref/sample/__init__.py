"""A seeded generator of realistic, fully cross-referenced test patients.

:func:`generate_sample` writes one patient with two studies: a planning CT, an
RTSTRUCT series with two structure sets, two plans, a dose, a segmentation and a key
object selection in study 1; a short follow-up CT and its structure set in study 2.
Every object is a valid instance of its IOD, and the same seed gives the same bytes.
The returned :class:`Sample` says which file plays which role and (in its docstring)
which object references which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomref._lazy import face

if TYPE_CHECKING:
    from dicomref.sample._generate import generate_sample
    from dicomref.sample._model import Sample, SampleObject

# Imported on first use (docs/architecture.md).
_LAZY: dict[str, str] = {
    "generate_sample": "._generate",
    **dict.fromkeys(["Sample", "SampleObject"], "._model"),
}
if not TYPE_CHECKING:
    __getattr__, __dir__ = face(__name__, _LAZY)

__all__ = ["Sample", "SampleObject", "generate_sample"]
