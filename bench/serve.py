"""``dicomref serve`` under load: C-FIND latency and C-STORE throughput, over loopback.

- C-FIND at IMAGE level by SOP Instance UID alone (no Study/Series keys), on one open
  association, against a catalog of ``--instances`` synthetic objects (written through
  ``Catalog.add``; C-FIND reads no file): median and p99 round trip, client included.
- C-STORE of ``--objects`` real files (clones of pydicom's CT_small.dcm, 39 KB) into a
  store folder, indexed before each success: objects/s over one association, and over
  ``--parallel`` associations at once (group commits).

The client is pynetdicom, in this process, with TCP_NODELAY set on its socket (like the
server's).  pynetdicom itself bounds the C-STORE figures: a do-nothing pynetdicom SCP fed
by this client takes ~85 objects/s here; DCMTK's storescu from another process stores
~84 objects/s into ``dicomref serve`` (one association), ~116 with four at once.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt

from catalog_lookup import objects, uid
from dicomref.catalog import Catalog
from dicomref.remote._dimse import QUERY_MODELS
from dicomref.remote._enums import Root
from dicomref.server import Server, ServerConfig
from dicomref.server._events import no_delay

FIND = QUERY_MODELS[(Root.STUDY, "C-FIND")]


def _client() -> AE:
    ae = AE("BENCH")
    ae.add_requested_context(FIND)
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
    return ae


def find_latency(port: int, n: int, samples: int) -> tuple[float, float]:
    rng = random.Random(1)
    assoc = _client().associate(
        "127.0.0.1", port, ae_title="DICOMREF_QR", evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)]
    )
    times = []
    for _ in range(samples):
        ds = Dataset()
        ds.QueryRetrieveLevel = "IMAGE"
        ds.SOPInstanceUID = uid("1", rng.randrange(n))
        started = time.perf_counter()
        responses = list(assoc.send_c_find(ds, FIND))
        times.append((time.perf_counter() - started) * 1000)
        assert len(responses) == 2, responses
    assoc.release()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def clones(folder: Path, count: int) -> list[Path]:
    template = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    template.StudyInstanceUID = generate_uid()
    template.SeriesInstanceUID = generate_uid()
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        path = folder / f"{i:06d}.dcm"
        template.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def store(port: int, paths: list[Path]) -> None:
    assoc = _client().associate(
        "127.0.0.1", port, ae_title="DICOMREF_QR", evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)]
    )
    for path in paths:
        assert assoc.send_c_store(path).Status == 0
    assoc.release()


def store_rate(port: int, paths: list[Path], parallel: int) -> float:
    chunks = [paths[i::parallel] for i in range(parallel)]
    threads = [threading.Thread(target=store, args=(port, chunk)) for chunk in chunks]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(paths) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--objects", type=int, default=400)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomref-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'catalog.sqlite'}"
        with Catalog(url) as catalog:
            catalog.add(objects(args.instances))
        config = ServerConfig(port=0, store=Path(tmp) / "store")
        with Server(config, url) as server:
            median, p99 = find_latency(server.port, args.instances, args.samples)
            print(
                f"C-FIND IMAGE by SOP Instance UID alone, {args.instances:,} instances: "
                f"median {median:.1f} ms, p99 {p99:.1f} ms"
            )
            one = store_rate(server.port, clones(Path(tmp) / "one", args.objects), 1)
            many = store_rate(server.port, clones(Path(tmp) / "many", args.objects), args.parallel)
            print(
                f"C-STORE (fsync, indexed before success): {one:.0f} objects/s on one "
                f"association, {many:.0f} objects/s on {args.parallel}"
            )


if __name__ == "__main__":
    main()
