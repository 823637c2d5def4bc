"""Finding files: a recursive ``os.scandir`` walk that follows symlinks without looping.

Directories are identified by (device, inode): a folder reached twice (a symlink to a
parent, two links to one place) is walked once.  Entries are taken in name order, so two
scans of the same tree meet files in the same order.  A folder that cannot be listed is
reported through ``on_error`` and the walk goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

DICOMDIR_NAME = "DICOMDIR"


def is_dicomdir_name(path: str) -> bool:
    return path.rpartition(os.sep)[2].upper() == DICOMDIR_NAME


def stat_file(path: str) -> tuple[int, int]:
    """(size, mtime_ns) of a file, following symlinks."""
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def walk(root: str, on_error: Callable[[str, OSError], None]) -> Iterator[str]:
    """Yield the path of every regular file under ``root``.

    Paths are ``root`` joined with the names met on the way (symlinks are not resolved).
    Sockets, FIFOs, devices and broken symlinks are passed over silently.  Files are not
    stat'ed here: a first scan has no use for their size and time before reading them.
    """
    try:
        st = Path(root).stat()
    except OSError as error:
        on_error(root, error)
        return
    visited = {(st.st_dev, st.st_ino)}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as error:
            on_error(folder, error)
            continue
        subfolders = []
        for entry in entries:
            try:
                if entry.is_dir():
                    st = entry.stat()
                    key = (st.st_dev, st.st_ino)
                    if key not in visited:
                        visited.add(key)
                        subfolders.append(entry.path)
                elif entry.is_file():
                    yield entry.path
            except OSError as error:
                on_error(entry.path, error)
        stack.extend(reversed(subfolders))
