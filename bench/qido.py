"""QIDO-RS instance lookup by SOP Instance UID alone: our server against Orthanc's.

1. A SQLite catalog of ``--instances`` (1,000,000) CT instances, 100 per series and 1,000
   per study, is built inside SQLite (one recursive INSERT ... SELECT per table, then
   ANALYZE: the build is not what is measured), and another of ``--orthanc-instances``.
2. ``dicomref serve --http-port 0`` on each (a child process, as an operator runs it),
   then ``GET /dicom-web/instances?SOPInstanceUID=X`` for ``--samples`` random UIDs on
   one keep-alive httpx connection.  Target: median under 3 ms at 1,000,000 instances.
3. The baseline, same run: Orthanc 1.10 with its DICOMweb plugin (Debian's
   ``orthanc-dicomweb``) holding ``--orthanc-instances`` (50,000) small generated
   instances (no pixel data, the same layout), loaded through its REST API
   (``POST /instances``, 4 connections), asked the same question on its ``/dicom-web``.

Orthanc listens on every interface: run the bench in the private network namespace::

    scripts/in-netns.sh .venv/bin/python bench/qido.py
"""

from __future__ import annotations

import argparse
import io
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR / "tests"))

from _bench import median_us  # noqa: E402
from dicomref.catalog import Catalog  # noqa: E402
from servers import OrthancServer, ServerUnavailableError  # noqa: E402

ROOT = "1.2.826.0.1.3680043.10.543"
TARGET_MS = 3.0
_WIDTH = 10  # digits of the last UID component: fixed, without a leading zero


def uid(kind: int, i: int) -> str:
    return f"{ROOT}.{kind}.{10 ** (_WIDTH - 1) + i}"


# -- catalogs ------------------------------------------------------------------------------


def build_catalog(path: Path, n: int) -> float:
    """``n`` instances written by SQLite itself into a migrated catalog; seconds spent."""
    started = time.perf_counter()
    Catalog(f"sqlite:///{path}").close()  # the schema, through the migrations
    db = sqlite3.connect(path)
    base = 10 ** (_WIDTH - 1)
    numbers = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
    uid_sql = f"'{ROOT}.' || {{kind}} || '.' || ({base} + {{value}})"
    with db:
        db.execute(
            numbers + "INSERT INTO patients (patient_id, patient_name) "
            "SELECT 'P' || i, 'BENCH^' || i FROM n",
            (96,),
        )
        db.execute(
            numbers + "INSERT INTO studies (study_uid, patient_id, study_date, description) "
            f"SELECT {uid_sql.format(kind=2, value='i')}, 'P' || (i % 97), '20240101', 'BENCH' "
            "FROM n",
            ((n - 1) // 1000,),
        )
        db.execute(
            numbers + "INSERT INTO series (series_uid, study_uid, modality, series_number) "
            f"SELECT {uid_sql.format(kind=3, value='i')}, "
            f"{uid_sql.format(kind=2, value='i / 10')}, 'CT', i % 10 + 1 FROM n",
            ((n - 1) // 100,),
        )
        db.execute(
            numbers + "INSERT INTO files (path, size, mtime_ns, sop_class, sop_instance, "
            "study_uid, series_uid, patient_id, modality, instance_number, transfer_syntax) "
            "SELECT '/bench/' || i || '.dcm', 525000, 1700000000000000000 + i, "
            f"'{CTImageStorage}', {uid_sql.format(kind=1, value='i')}, "
            f"{uid_sql.format(kind=2, value='i / 1000')}, "
            f"{uid_sql.format(kind=3, value='i / 100')}, 'P' || ((i / 1000) % 97), 'CT', "
            f"i % 100 + 1, '{ExplicitVRLittleEndian}' FROM n",
            (n - 1,),
        )
    db.execute("ANALYZE")
    db.close()
    return time.perf_counter() - started


class Serve:
    """``dicomref serve --port 0 --http-port 0`` on a catalog, in a child process."""

    def __init__(self, url: str, log: Path) -> None:
        argv = [sys.executable, "-m", "dicomref", "serve", "--port", "0", "--http-port", "0"]
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*argv, "--db", url], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = re.search(r"DICOMweb on (http://\S+/dicom-web)", log.read_text())
            if found and "listening on" in log.read_text():
                self.url = found[1]
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dicomref serve did not start:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


# -- Orthanc ---------------------------------------------------------------------------------


def small_instance(i: int) -> bytes:
    """A CT instance without pixel data, of the catalog's layout (~0.5 KB)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uid(1, i))
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid(1, i)
    ds.StudyInstanceUID = uid(2, i // 1000)
    ds.SeriesInstanceUID = uid(3, i // 100)
    ds.PatientID = f"P{(i // 1000) % 97}"
    ds.PatientName = f"BENCH^{(i // 1000) % 97}"
    ds.Modality = "CT"
    ds.StudyDate = "20240101"
    ds.SeriesNumber = (i // 100) % 10 + 1
    ds.InstanceNumber = i % 100 + 1
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def load_orthanc(orthanc: OrthancServer, n: int, seconds: float) -> tuple[int, float]:
    """Upload up to ``n`` instances within about ``seconds``; (count loaded, seconds)."""
    started = time.perf_counter()
    deadline = started + seconds
    loaded = 0
    with httpx.Client(base_url=orthanc.base_url, timeout=60) as client:

        def upload(i: int) -> None:
            if time.perf_counter() > deadline:
                return
            answer = client.post(
                "/instances",
                content=small_instance(i),
                headers={"Content-Type": "application/dicom"},
            )
            answer.raise_for_status()

        with ThreadPoolExecutor(4) as pool:
            for start in range(0, n, 1000):
                list(pool.map(upload, range(start, min(n, start + 1000))))
                if time.perf_counter() > deadline:
                    break
                loaded = min(n, start + 1000)
    return loaded, time.perf_counter() - started


# -- lookups ---------------------------------------------------------------------------------


def lookup(base: str, n: int, samples: int) -> tuple[float, float]:
    """Median and p99 (ms) of QIDO-RS instance lookups by SOP UID at ``base``."""
    rng = random.Random(7)
    with httpx.Client(base_url=base, timeout=30) as client:

        def ask(index: int) -> None:
            answer = client.get("/instances", params={"SOPInstanceUID": uid(1, index)})
            answer.raise_for_status()
            rows = answer.json()
            assert len(rows) == 1, (index, rows)

        for _ in range(50):  # warm up: connection, caches
            ask(rng.randrange(n))
        targets = iter([rng.randrange(n) for _ in range(samples)])
        call: Callable[[], object] = lambda: ask(next(targets))  # noqa: E731
        median, p99 = median_us(call, samples)
    return median / 1000, p99 / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--orthanc-instances", type=int, default=50_000)
    parser.add_argument("--orthanc-load-seconds", type=float, default=600.0)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-qido-") as tmp:
        folder = Path(tmp)
        orthanc = OrthancServer(folder / "orthanc", dicomweb=True)
        try:
            orthanc.start()
        except ServerUnavailableError as exc:
            sys.exit(f"bench/qido.py: {exc} (run it with scripts/in-netns.sh)")
        try:
            loaded, spent = load_orthanc(orthanc, args.orthanc_instances, args.orthanc_load_seconds)
            print(f"Orthanc: {loaded:,} instances loaded in {spent:.0f} s ({loaded / spent:.0f}/s)")
            small_n = loaded
            large = folder / "large.sqlite"
            small = folder / "small.sqlite"
            built = build_catalog(large, args.instances)
            print(f"catalog: {args.instances:,} instances built in {built:.0f} s")
            build_catalog(small, small_n)
            results = {}
            for name, path, n in (("ours", large, args.instances), ("ours-small", small, small_n)):
                serve = Serve(f"sqlite:///{path}", folder / f"{name}.log")
                try:
                    results[name] = lookup(serve.url, n, args.samples)
                finally:
                    serve.stop()
            results["orthanc"] = lookup(orthanc.dicomweb_url, small_n, args.samples)
        finally:
            orthanc.stop()
    ours, ours_small, theirs = results["ours"], results["ours-small"], results["orthanc"]
    verdict = "PASS" if ours[0] < TARGET_MS else "FAIL"
    print(
        f"dicomref QIDO /instances?SOPInstanceUID= at {args.instances:,}: median "
        f"{ours[0]:.2f} ms, p99 {ours[1]:.2f} ms (target < {TARGET_MS:g} ms: {verdict})"
    )
    print(f"dicomref at {small_n:,}: median {ours_small[0]:.2f} ms, p99 {ours_small[1]:.2f} ms")
    print(
        f"Orthanc 1.10 + DICOMweb 1.7 at {small_n:,}: median {theirs[0]:.2f} ms, "
        f"p99 {theirs[1]:.2f} ms"
    )
    print(
        f"ratio Orthanc/dicomref: {theirs[0] / ours[0]:.2f}x (dicomref at {args.instances:,}), "
        f"{theirs[0] / ours_small[0]:.2f}x (both at {small_n:,})"
    )


if __name__ == "__main__":
    main()
