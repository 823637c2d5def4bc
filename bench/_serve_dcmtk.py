"""DCMTK's findscu and storescu as the clients of bench/serve.py: C, one process each, so
the client is never what is measured, and the same client for every server.

findscu sends all its query files on one association; with a log configuration that
stamps each line to the microsecond, the time from "Sending Find Request" to "Received
Final Find Response" is each query's round trip, and the "(Pending)" lines between are
its matches.  storescu sends a list of files on one association.  Both run with
``TCP_NODELAY=1`` (DCMTK leaves Nagle's algorithm on otherwise; the test fixtures start
Orthanc and dcmqrscp with it too).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian

from servers import require_dcmtk

LOG_CONFIG = """\
log4cplus.rootLogger = INFO, console
log4cplus.appender.console = log4cplus::ConsoleAppender
log4cplus.appender.console.logToStderr = false
log4cplus.appender.console.ImmediateFlush = false
log4cplus.appender.console.layout = log4cplus::PatternLayout
log4cplus.appender.console.layout.ConversionPattern = %D{%s.%Q} %m%n
"""
TIMEOUT = 1800.0


def environment() -> dict[str, str]:
    return {**os.environ, "TCP_NODELAY": "1"}


def write_queries(folder: Path, sop_uids: Sequence[str]) -> list[Path]:
    """One IMAGE-level query file per UID: SOPInstanceUID, with zero-length Study and
    Series Instance UIDs (universal matching), which every server here answers."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, uid in enumerate(sop_uids):
        ds = Dataset()
        ds.QueryRetrieveLevel = "IMAGE"
        ds.StudyInstanceUID = ""
        ds.SeriesInstanceUID = ""
        ds.SOPInstanceUID = uid
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        path = folder / f"q{index:06d}.dcm"
        ds.save_as(path, implicit_vr=True, little_endian=True)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class FindRun:
    """What one findscu process saw: each query's round trip (ms) and number of matches."""

    times_ms: list[float]
    matches: list[int]
    returncode: int
    log: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _stamp(text: str) -> float:
    seconds, millis, micros = text.split(".")
    return int(seconds) + int(millis) / 1e3 + int(micros) / 1e6


def start_find(ae: str, port: int, queries: Sequence[Path], log: Path) -> subprocess.Popen[bytes]:
    config = log.with_suffix(".cfg")
    config.write_text(LOG_CONFIG)
    findscu = require_dcmtk("findscu")  # not pynetdicom's script of that name
    argv = [findscu, "-lc", str(config), "-S", "-aec", ae, "127.0.0.1", str(port)]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*argv, *map(str, queries)], stdout=out, stderr=subprocess.STDOUT, env=environment()
        )


def finish_find(process: subprocess.Popen[bytes], log: Path) -> FindRun:
    returncode = process.wait(TIMEOUT)
    times: list[float] = []
    matches: list[int] = []
    sent: float | None = None
    pending = 0
    with log.open("rb") as lines:
        for raw in lines:
            stamp, _, message = raw.decode("latin-1").partition(" ")
            if message.startswith("Sending Find Request"):
                sent, pending = _stamp(stamp), 0
            elif message.startswith("Find Response:") and "(Pending)" in message:
                pending += 1
            elif message.startswith("Received Final Find Response") and sent is not None:
                times.append((_stamp(stamp) - sent) * 1000)
                matches.append(pending if "(Success)" in message else -1)
                sent = None
    return FindRun(times, matches, returncode, log)


def find(ae: str, port: int, queries: Sequence[Path], log: Path) -> FindRun:
    return finish_find(start_find(ae, port, queries, log), log)


@dataclass(frozen=True)
class StoreRun:
    sent: int
    succeeded: int
    returncode: int
    log: Path


def start_store(ae: str, port: int, files: Sequence[Path], log: Path) -> subprocess.Popen[bytes]:
    storescu = require_dcmtk("storescu")  # not pynetdicom's script of that name
    argv = [storescu, "-v", "-aec", ae, "127.0.0.1", str(port), *map(str, files)]
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=environment())


def finish_store(process: subprocess.Popen[bytes], log: Path) -> StoreRun:
    returncode = process.wait(TIMEOUT)
    text = log.read_text(errors="replace")
    return StoreRun(
        text.count("Sending Store Request"),
        text.count("Received Store Response (Success)"),
        returncode,
        log,
    )
