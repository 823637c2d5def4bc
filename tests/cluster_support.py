"""Helpers the cluster scan's tests send to Dask workers (importable there through
PYTHONPATH): the scan's own reader, slowed down, noting each file it reads."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


class LoggingReader:
    """``read_object_apart`` after ``delay`` seconds, appending each path read to a file of
    ``log_dir`` named by the process (one line per read: rereads are counted)."""

    def __init__(self, log_dir: Path, delay: float) -> None:
        self.log_dir = log_dir
        self.delay = delay

    def __call__(self, path: str) -> Any:
        from dicomref.extraction import read_object_apart

        with (self.log_dir / f"reads-{os.getpid()}.txt").open("a") as log:
            log.write(path + "\n")
        time.sleep(self.delay)
        return read_object_apart(path)


def reads(log_dir: Path) -> list[str]:
    """Every path read so far, by every process."""
    return [
        line for log in sorted(log_dir.glob("reads-*.txt")) for line in log.read_text().splitlines()
    ]
