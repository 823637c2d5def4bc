"""A stock pynetdicom C-FIND SCU, as a user would write it, for bench/serve.py: nothing
tuned (Nagle's algorithm on, pynetdicom's default polling and logging), in its own
process so that nothing dicomref configures in the bench's process applies to it.

    python bench/_serve_stock.py PORT AE_TITLE UID_FILE

Sends one IMAGE-level C-FIND per SOP Instance UID of ``UID_FILE`` (one a line), Study
and Series Instance UID zero-length, all on one association; prints each round trip in
ms, one a line, and fails unless each query found exactly one object.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

PENDING = (0xFF00, 0xFF01)


def main() -> None:
    port, called, uid_file = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    ae = AE(ae_title="STOCK")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        raise SystemExit("association refused")
    try:
        for uid in uid_file.read_text().split():
            query = Dataset()
            query.QueryRetrieveLevel = "IMAGE"
            query.StudyInstanceUID = ""
            query.SeriesInstanceUID = ""
            query.SOPInstanceUID = uid
            started = time.perf_counter()
            found = 0
            for status, _ in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                if status is None or status.Status not in (*PENDING, 0x0000):
                    raise SystemExit(f"C-FIND for {uid} failed: {status}")
                found += status.Status in PENDING
            elapsed = (time.perf_counter() - started) * 1000
            if found != 1:
                raise SystemExit(f"C-FIND for {uid} found {found} objects, not 1")
            print(f"{elapsed:.3f}")
    finally:
        assoc.release()


if __name__ == "__main__":
    main()
