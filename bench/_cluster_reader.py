"""The bench's reader for bench/scan_cluster.py: the scan's own reader after a sleep, the
latency of network storage per file (imported by the Dask workers: bench/ is on their
PYTHONPATH)."""

from __future__ import annotations

import time
from typing import Any


class LatencyReader:
    """``read_object_apart`` after ``latency`` seconds (none when 0)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def __call__(self, path: str) -> Any:
        from dicomref.extraction import read_object_apart

        if self.latency:
            time.sleep(self.latency)
        return read_object_apart(path)
