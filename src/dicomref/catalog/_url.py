"""Where the catalog is: the default URL, and the file of a plain SQLite URL.

Imports no SQLAlchemy: a fetch reads its first answers from a SQLite catalog with the
standard library (:mod:`._lite`) before SQLAlchemy is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_URL = "DICOMREF_DB"


def default_url() -> str:
    """``$DICOMREF_DB`` if set, else a SQLite file in the user data directory (created)."""
    url = os.environ.get(ENV_URL)
    if url:
        return url
    import platformdirs

    folder = Path(platformdirs.user_data_dir("dicomref"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'catalog.sqlite'}"


def sqlite_file(url: str) -> Path | None:
    """The file of ``sqlite:///PATH`` (relative) or ``sqlite:////PATH`` (absolute); None
    for any other URL (another database, a driver named, options, memory)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = url.removeprefix(prefix)
    if not path or path == ":memory:":
        return None
    return Path(path)
