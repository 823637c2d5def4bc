"""The fuzzing target of the server's PDU and DIMSE handling (``pdu`` in ``_targets``).

:func:`check_pdu` sends the fuzzer's bytes to a real :class:`~dicomref.server.Server`
(in this process, on loopback, started once) over a new connection, then ends its side
of the connection, and checks what must hold whatever a peer sends:

- the server ends the connection promptly once the peer has finished (nothing waits for
  bytes that will not come);
- no thread of the server ends in an exception (``threading.excepthook`` watches);
- the server goes on: its gate and listener are alive.

An input whose first byte is odd is sent after a valid A-ASSOCIATE-RQ (Verification and
Study Root C-FIND), so that half the inputs reach the association's PDU reader and
pynetdicom's DIMSE layer, the other half the gate.  Seeds: :func:`write_seeds`.

    .venv/bin/python tests/fuzz/_pdu.py      # (re)writes corpus/pdu/
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import struct
import tempfile
import threading
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID
from pynetdicom.dimse_messages import C_ECHO_RQ, C_FIND_RQ
from pynetdicom.dimse_primitives import C_ECHO, C_FIND
from pynetdicom.dsutils import encode
from pynetdicom.pdu import A_ASSOCIATE_RQ, A_RELEASE_RQ, P_DATA_TF
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import build_context

from dicomref._dimse._contexts import QUERY_MODELS, VERIFICATION
from dicomref._dimse._levels import Root
from dicomref.server import Server, ServerConfig

#: Seconds the server may take to end a connection once the peer has finished.
ENDS_WITHIN = 10.0
_ECHO_CONTEXT, _FIND_CONTEXT = 1, 3
_FIND_MODEL = QUERY_MODELS[(Root.STUDY, "C-FIND")]
_CRASHES: list[str] = []


@cache
def _server() -> Server:
    folder = Path(tempfile.mkdtemp(prefix="dicomref-fuzz-pdu-"))
    config = ServerConfig(
        port=0, store=folder / "store", artim_timeout=2.0, stall_timeout=2.0, shutdown_grace=1.0
    )
    server = Server(config, f"sqlite:///{folder / 'catalog.sqlite'}")
    previous = threading.excepthook

    def record(args: Any) -> None:
        _CRASHES.append(f"{args.thread.name if args.thread else '?'}: {args.exc_value!r}")
        previous(args)

    threading.excepthook = record
    server.start()
    atexit.register(server.stop)
    return server


@cache
def associate_rq() -> bytes:
    """An A-ASSOCIATE-RQ from FUZZ to the server's AE title: Verification (context 1) and
    Study Root C-FIND (context 3), Implicit VR Little Endian."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = "FUZZ"
    primitive.called_ae_title = "DICOMREF_QR"
    contexts = []
    for context_id, syntax in ((_ECHO_CONTEXT, VERIFICATION), (_FIND_CONTEXT, _FIND_MODEL)):
        context = build_context(syntax, [ImplicitVRLittleEndian])
        context.context_id = context_id
        contexts.append(context)
    primitive.presentation_context_definition_list = contexts
    length = MaximumLengthNotification()
    length.maximum_length_received = 16382
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    primitive.user_information = [length, implementation]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def _p_data(message: Any, context_id: int) -> bytes:
    out = b""
    for primitive in message.encode_msg(context_id, 16382):
        pdu = P_DATA_TF()
        pdu.from_primitive(primitive)
        out += pdu.encode()
    return out


def _echo() -> bytes:
    primitive = C_ECHO()
    primitive.MessageID = 1
    primitive.AffectedSOPClassUID = VERIFICATION
    message = C_ECHO_RQ()
    message.primitive_to_message(primitive)
    return _p_data(message, _ECHO_CONTEXT)


def _find() -> bytes:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.SOPInstanceUID = ["1.2.3", "1.2.4"]
    encoded = encode(identifier, True, True)
    assert encoded is not None
    primitive = C_FIND()
    primitive.MessageID = 2
    primitive.AffectedSOPClassUID = _FIND_MODEL
    primitive.Priority = 2
    primitive.Identifier = BytesIO(encoded)
    message = C_FIND_RQ()
    message.primitive_to_message(primitive)
    return _p_data(message, _FIND_CONTEXT)


def _release() -> bytes:
    return bytes(A_RELEASE_RQ().encode())


def check_pdu(data: bytes) -> None:
    """Send ``data`` to the server (see the module); fails if a property does not hold."""
    server = _server()
    payload = associate_rq() + data[1:] if data[:1] and data[0] & 1 else data[1:]
    with socket.create_connection(("127.0.0.1", server.port), timeout=ENDS_WITHIN) as peer:
        with contextlib.suppress(OSError):  # the server may close first: that is allowed
            peer.sendall(payload)
            peer.shutdown(socket.SHUT_WR)
        try:
            while peer.recv(65536):
                pass
        except TimeoutError:
            raise AssertionError(
                f"the server kept the connection open {ENDS_WITHIN:g} s after the peer ended"
            ) from None
        except OSError:
            pass  # reset by the server: ended
    assert not _CRASHES, _CRASHES
    listener = server._server
    assert listener is not None and listener.gate._thread.is_alive(), "the gate stopped"


def write_seeds(folder: Path) -> None:
    """A few inputs the server handles in each way: association and release, a C-ECHO,
    a C-FIND, an A-ABORT, garbage, a truncated request, an oversized PDU."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = {
        "associate-release": b"\x01" + _release(),
        "associate-echo-release": b"\x01" + _echo() + _release(),
        "associate-find-release": b"\x01" + _find() + _release(),
        "associate-abort": b"\x01" + struct.pack(">BBL4B", 7, 0, 4, 0, 0, 0, 0),
        "associate-oversized": b"\x01" + struct.pack(">BBL", 4, 0, 0xFFFFFFFF) + b"\x00" * 16,
        "garbage": b"\x00" + bytes(range(64)),
        "truncated-request": b"\x00" + associate_rq()[:40],
        "no-association-echo": b"\x00" + _echo(),
    }
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


if __name__ == "__main__":
    write_seeds(Path(__file__).parent / "corpus" / "pdu")
