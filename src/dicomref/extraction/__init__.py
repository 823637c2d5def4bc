"""Extraction: what one DICOM object is, and which objects it references.

:func:`read_object` reads a file's header with the fast walker (:mod:`._walker`; pydicom for
Big Endian files), :func:`read_json` and :func:`read_json_series` read the same from DICOM
JSON (DICOMweb metadata, :mod:`._json`), :func:`references` lists what an object references
(a file, or a :class:`pydicom.Dataset` through the same walk), :func:`dicomdir_files` lists
the files of a DICOMDIR.  The rules that name references are documented in :mod:`._rules`.
What reading one file may cost is bounded by :class:`ReadLimits` (:mod:`._limits`): a file
past a bound raises :class:`~dicomref.errors.ReadLimitError`.

Modules: ``_walker`` (bytes → light tree), ``_adapter`` (pydicom Dataset → light tree),
``_json`` (DICOM JSON → light tree), ``_json_series`` (series metadata, an instance at a time),
``_tree`` (the tree and its tags), ``_values`` (reading its values), ``_walk`` (the generic
reference walk), ``_rules`` (the kinds table), ``_summary`` (ObjectSummary), ``_dicomdir``.
"""

from __future__ import annotations

import os

from pydicom.dataset import Dataset

from dicomref.errors import DicomReadError
from dicomref.extraction._adapter import PYDICOM_READ_ERRORS, read_with_pydicom, tree_from_dataset
from dicomref.extraction._dicomdir import dicomdir_files
from dicomref.extraction._json import read_json
from dicomref.extraction._json_series import JsonInstance, read_json_series
from dicomref.extraction._limits import DEFAULT_LIMITS, ReadLimits
from dicomref.extraction._summary import Facts, check_instance, summarise, summarise_apart
from dicomref.extraction._tree import SOP_CLASS_UID, SOP_INSTANCE_UID, Item
from dicomref.extraction._values import uid
from dicomref.extraction._walk import RawReference, find_references
from dicomref.extraction._walker import Header, read_header
from dicomref.model import ObjectSummary, Reference

__all__ = [
    "JsonInstance",
    "ReadLimits",
    "dicomdir_files",
    "read_json",
    "read_json_series",
    "read_object",
    "references",
]


def read_object(path: str | os.PathLike[str], limits: ReadLimits = DEFAULT_LIMITS) -> ObjectSummary:
    """Read the header of the DICOM file at ``path``: identity, place, geometry, references.

    Pixel data is never read.  Raises :class:`~dicomref.errors.NotDicomError` (not DICOM),
    :class:`~dicomref.errors.NotAnInstanceError` (a DICOMDIR or another non-composite
    object), :class:`~dicomref.errors.ReadLimitError` (past one of ``limits``: a deflate
    bomb, a value claiming gigabytes) and :class:`~dicomref.errors.DicomReadError`
    (unreadable, truncated, damaged, or missing SOPClassUID / SOPInstanceUID /
    StudyInstanceUID / SeriesInstanceUID); no other exception for bad input.
    """
    header, syntax, media, tree = _read(path, limits)
    return summarise(header.path, header.size, header.mtime_ns, syntax, media, tree)


def read_object_apart(
    path: str, limits: ReadLimits = DEFAULT_LIMITS
) -> tuple[Facts, list[RawReference]]:
    """:func:`read_object` as tuples, the references apart: the catalog's scan reader.

    :class:`~._summary.Facts` has the summary's fields but its references; each reference
    tuple is a Reference's fields after ``source`` (see :data:`~._walk.RawReference`).
    Raises as :func:`read_object`.
    """
    header, syntax, media, tree = _read(path, limits)
    return summarise_apart(header.path, header.size, header.mtime_ns, syntax, media, tree)


def _read(
    path: str | os.PathLike[str], limits: ReadLimits
) -> tuple[Header, str | None, str | None, Item]:
    header = read_header(path, limits)
    syntax, media, tree = header.transfer_syntax, header.media_class, header.tree
    if tree is None:
        check_instance(header.path, media, None)
        syntax, media, tree = read_with_pydicom(header.path, limits)
    return header, syntax, media, tree


def references(source: str | os.PathLike[str] | Dataset) -> list[Reference]:
    """What one object references: a file (read by :func:`read_object`) or a Dataset.

    For a Dataset, ``Reference.source`` is its SOPInstanceUID ("" if it has none).  Raises
    :class:`~dicomref.errors.DicomReadError` when the file, or the Dataset's lazily read
    elements, cannot be read.
    """
    if not isinstance(source, Dataset):
        return list(read_object(source).references)
    label = str(getattr(source, "filename", None) or "<dataset>")
    try:
        tree = tree_from_dataset(source, label)
    except PYDICOM_READ_ERRORS as exc:
        raise DicomReadError(
            label, f"pydicom cannot read the dataset ({type(exc).__name__}: {exc})"
        ) from exc
    return find_references(tree, uid(tree, SOP_INSTANCE_UID) or "", uid(tree, SOP_CLASS_UID))
