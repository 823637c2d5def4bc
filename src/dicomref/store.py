"""The managed file store: where fetched and received objects are written.

Layout: ``ROOT/<study>/<MODALITY>_<series>/<sop>.dcm`` where each ``<…>`` is the first
characters of the SHA-256 of the UID, never the UID itself (a UID from the network may
hold ``../``, be 500 characters long, or not be a UID at all), and ``MODALITY`` is the
Modality value reduced to ``[A-Z0-9]`` (``OT`` when absent).  Files are written to a
temporary name in the same folder, flushed to disk, then renamed into place: a reader
never sees a half-written file, and a crash leaves at most a hidden ``.*.part`` file,
which :meth:`ManagedStore.clean` removes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dicomref.errors import UsageError
from dicomref.model import InstanceKey

_NOT_MODALITY = re.compile(r"[^A-Z0-9]")


def uid_token(uid: str, length: int = 20) -> str:
    """A path component standing for ``uid``: hex digits of its SHA-256."""
    return hashlib.sha256(uid.encode("utf-8", "surrogateescape")).hexdigest()[:length]


def modality_token(modality: str | None) -> str:
    cleaned = _NOT_MODALITY.sub("", (modality or "").upper())[:16]
    return cleaned or "OT"


@dataclass(frozen=True, slots=True)
class Stored:
    """One object in the store: where it is, and whether it was there already."""

    key: InstanceKey
    path: Path
    size: int
    existed: bool


@dataclass(frozen=True, slots=True)
class Staged:
    """An object written under a temporary name, not yet in its place (see
    :meth:`ManagedStore.stage`)."""

    key: InstanceKey
    target: Path
    temp: Path
    size: int
    fsync: bool

    def commit(self) -> Stored:
        """Flush the file to disk (with ``fsync``) and rename it into place: from then on
        a reader sees it whole.  The folder's fsync is the caller's (:func:`fsync_folder`).
        On failure the temporary file is removed and the error raised."""
        try:
            if self.fsync:
                descriptor = os.open(self.temp, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
            self.temp.replace(self.target)
        except BaseException:
            self.abandon()
            raise
        return Stored(self.key, self.target, self.size, False)

    def abandon(self) -> None:
        """Remove the temporary file (the object is not stored)."""
        self.temp.unlink(missing_ok=True)


class ManagedStore:
    """A folder dicomref writes objects into; safe to share between threads."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"{self.root} is a file: the store needs a folder")

    def path_for(self, key: InstanceKey, modality: str | None = None) -> Path:
        """Where the object ``key`` is (or would be) stored; always inside the root."""
        return (
            self.root
            / uid_token(key.study, 16)
            / f"{modality_token(modality)}_{uid_token(key.series, 16)}"
            / f"{uid_token(key.sop, 40)}.dcm"
        )

    def has(self, key: InstanceKey, modality: str | None = None) -> bool:
        return self.path_for(key, modality).is_file()

    def write(
        self,
        key: InstanceKey,
        data: bytes,
        modality: str | None = None,
        *,
        replace: bool = False,
        sync_folder: bool = True,
    ) -> Stored:
        """Store a complete DICOM file's bytes (preamble and file meta included).

        An object already stored under ``key`` is kept as it is unless ``replace``.
        ``sync_folder=False`` leaves the folder's fsync (which makes the rename durable)
        to the caller, who writes many objects and syncs each folder once
        (:func:`fsync_folder`); the file itself is always synced (with ``fsync``).
        """
        staged = self.stage(key, data, modality, replace=replace)
        if isinstance(staged, Stored):
            return staged
        stored = staged.commit()
        if self.fsync and sync_folder:
            fsync_folder(stored.path.parent)
        return stored

    def stage(
        self, key: InstanceKey, data: bytes, modality: str | None = None, *, replace: bool = False
    ) -> Staged | Stored:
        """The first half of :meth:`write`: ``data`` written under a hidden temporary name
        next to its place, neither flushed nor renamed; :meth:`Staged.commit` does both,
        maybe in another thread.  The object already stored (unless ``replace``)."""
        target = self.path_for(key, modality)
        if not replace and target.is_file():
            return Stored(key, target, target.stat().st_size, True)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return Staged(key, target, temp, len(data), self.fsync)

    def clean(self) -> int:
        """Remove temporary files left by an interrupted write; returns how many."""
        removed = 0
        for temp in self.root.rglob(".*.part"):
            temp.unlink(missing_ok=True)
            removed += 1
        return removed


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
