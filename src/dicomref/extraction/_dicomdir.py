"""The files a DICOMDIR lists.

Read with pydicom (DICOMDIRs are rare and small next to the objects they list): every
directory record's ReferencedFileID, resolved against the DICOMDIR's own folder.  File IDs
that lead outside that folder are refused.  Media written by some systems carry file names
in another case than their DICOMDIR says (a CD read on Linux): such a name is matched
case-insensitively when the exact one does not exist.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomref.errors import DicomReadError, NotDicomError
from dicomref.extraction._adapter import PYDICOM_READ_ERRORS


def dicomdir_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files the DICOMDIR at ``path`` lists, in record order, each once.

    Raises :class:`NotDicomError` if ``path`` is not a DICOMDIR and :class:`DicomReadError`
    if it cannot be read or one of its records leads outside its folder.
    """
    name = os.fspath(path)
    try:
        dataset = pydicom.dcmread(name, stop_before_pixels=True, force=True)
        records = dataset.get("DirectoryRecordSequence")
        if records is None:
            raise NotDicomError(
                name,
                "it has no (0004,1220) DirectoryRecordSequence, so it is not a DICOMDIR: "
                "scan it as a file instead",
            )
        file_ids = [_file_id(record) for record in records]
    except OSError as exc:
        raise DicomReadError(name, f"cannot read it: {exc.strerror or exc}") from exc
    except PYDICOM_READ_ERRORS as exc:
        raise DicomReadError(
            name,
            f"pydicom cannot read this DICOMDIR ({type(exc).__name__}: {exc}): scan the "
            "folder it sits in instead",
        ) from exc
    root = Path(name).parent
    found: list[Path] = []
    seen: set[Path] = set()
    listings: dict[Path, dict[str, str]] = {}
    for index, parts in enumerate(file_ids):
        if not parts:
            continue
        target = _resolve(name, root, parts, index, listings)
        if target not in seen:
            seen.add(target)
            found.append(target)
    return found


def _file_id(record: Dataset) -> list[str]:
    """The components of a record's ReferencedFileID (empty if it names no file)."""
    value = record.get("ReferencedFileID")
    if value is None:
        return []
    if isinstance(value, MultiValue | list):
        return [str(part) for part in value]
    # A single value may still hold components separated by slashes or backslashes.
    return [part for part in str(value).replace("\\", "/").split("/") if part]


def _resolve(
    dicomdir: str, root: Path, parts: list[str], index: int, listings: dict[Path, dict[str, str]]
) -> Path:
    """Join ``parts`` under ``root``; refuse IDs that leave it."""
    relative = PurePosixPath(*(part.strip() for part in parts))
    if relative.is_absolute() or any(part in ("..", "") for part in relative.parts):
        raise _escape(dicomdir, parts, index)
    target = root.joinpath(*relative.parts)
    if not target.exists():
        target = _case_insensitive(root, relative.parts, listings) or target
    try:
        inside = target.resolve().is_relative_to(root.resolve())
    except OSError as exc:
        raise DicomReadError(dicomdir, f"cannot resolve {target}: {exc.strerror}") from exc
    if not inside:
        raise _escape(dicomdir, parts, index)
    return target


def _case_insensitive(
    root: Path, parts: tuple[str, ...], listings: dict[Path, dict[str, str]]
) -> Path | None:
    """``root/parts`` matched component by component without regard to case, if it exists.

    ``listings`` caches each folder's names (lower case → actual) across the records.
    """
    current = root
    for part in parts:
        names = listings.get(current)
        if names is None:
            try:
                with os.scandir(current) as entries:
                    names = {entry.name.lower(): entry.name for entry in entries}
            except OSError:
                names = {}
            listings[current] = names
        actual = names.get(part.lower())
        if actual is None:
            return None
        current = current / actual
    return current


def _escape(dicomdir: str, parts: list[str], index: int) -> DicomReadError:
    file_id = "\\".join(parts)
    return DicomReadError(
        dicomdir,
        f"directory record {index} names file {file_id!r}, which lies outside the "
        "DICOMDIR's folder: refusing it — the DICOMDIR is damaged or hostile; scan the "
        "folder itself instead",
    )
