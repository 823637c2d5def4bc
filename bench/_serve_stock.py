"""A stock pynetdicom C-FIND SCU, as a user would write it, for bench/serve.py: nothing
tuned (Nagle's algorithm on, pynetdicom's default polling and logging), in its own
process so that nothing dicomref configures in the bench's process applies to it.

    python bench/_serve_stock.py PORT AE_TITLE UID_FILE [--nodelay]

Sends one IMAGE-level C-FIND per SOP Instance UID of ``UID_FILE`` (one a line), Study
and Series Instance UID zero-length, all on one association; prints each round trip in
ms, one a line.  A query that found no object (pynetdicom 3.0's race, its issue #875:
the association's reactor thread sometimes takes a response meant for the operation and
drops it; a lost final response ends the association after the DIMSE timeout, and a new
one is opened) is left out and counted on stderr (``lost N``); a failure status ends the
run.  ``--nodelay`` turns Nagle's algorithm off (TCP_NODELAY), the one change: the same
client with nothing to wait for, a reference for what the client itself costs.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.events import EventHandlerType
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

PENDING = (0xFF00, 0xFF01)


def _nodelay(event: Any) -> None:
    event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _associate(port: int, called: str, handlers: list[EventHandlerType]) -> Association:
    ae = AE(ae_title="STOCK")
    ae.dimse_timeout = 10  # a final response lost to the race above: give up sooner
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", port, ae_title=called, evt_handlers=handlers)
    if not assoc.is_established:
        raise SystemExit("association refused")
    return assoc


def main() -> None:
    port, called, uid_file = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    handlers: list[EventHandlerType] = []
    if "--nodelay" in sys.argv[4:]:
        handlers.append((evt.EVT_CONN_OPEN, _nodelay))
    assoc = _associate(port, called, handlers)
    lost = 0
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
                code = getattr(status, "Status", None)  # none: the response was lost
                if code is not None and code not in (*PENDING, 0x0000):
                    raise SystemExit(f"C-FIND for {uid} failed: status 0x{code:04X}")
                found += code in PENDING
            elapsed = (time.perf_counter() - started) * 1000
            if found > 1:
                raise SystemExit(f"C-FIND for {uid} found {found} objects, not 1")
            if found == 0:
                lost += 1
                if not assoc.is_established:  # pynetdicom aborts after a DIMSE timeout
                    assoc = _associate(port, called, handlers)
            else:
                print(f"{elapsed:.3f}")
    finally:
        if assoc.is_established:
            assoc.release()
        print(f"lost {lost}", file=sys.stderr)


if __name__ == "__main__":
    main()
