"""The DICOMweb transport against a scripted HTTP peer, for what real servers do not do on
demand: refusing ``transfer-syntax=*`` with 500 (as Orthanc does for a syntax it cannot
give), answering a GET with another object than the one asked, cutting an answer short."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dicomref._dicomweb._node import WebNode
from dicomref.errors import AssociationError
from dicomref.remote.planner._enums import Level, Method
from dicomref.remote.planner._steps import Retrieve
from dicomref.remote.transport._dicomweb import DicomwebTransport
from dicomref.sample import Sample, generate_sample
from web_client_support import Kept

BOUNDARY = "scripted-boundary"


class Peer(ThreadingHTTPServer):
    """Serves WADO-RS instance GETs from ``files`` (SOP UID -> bytes) as ``mode`` says."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = files
        self.mode = "normal"
        self.accepts: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/dicom-web"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Peer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        accept = self.headers.get("Accept", "")
        self.server.accepts.append(accept)
        sop = self.path.rstrip("/").rsplit("/", 1)[-1]
        files = self.server.files
        if sop not in files:
            self._send(404, b'{"Message": "no such instance"}', "application/json")
            return
        mode = self.server.mode
        if mode == "refuse-any" and "transfer-syntax=*" in accept:
            self._send(500, b'{"Message": "cannot transcode"}', "application/json")
            return
        data = files[sop]
        if mode == "wrong":
            data = next(v for k, v in files.items() if k != sop)
        body = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
        body += f"\r\n--{BOUNDARY}--\r\n".encode()
        media = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
        if mode == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(200, body, media)

    def _send(self, status: int, body: bytes, media: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return generate_sample(tmp_path_factory.mktemp("sample"), slices=3, seed=0)


@pytest.fixture
def peer(sample: Sample) -> Iterator[Peer]:
    server = Peer({o.sop_instance: Path(o.path).read_bytes() for o in sample.ct})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def one(sample: Sample, index: int = 0) -> Retrieve:
    ct = sample.ct[index]
    return Retrieve(Method.GET, Level.IMAGE, ct.study, ct.series, (ct.sop_instance,), 1, "test")


def test_a_refused_transfer_syntax_is_asked_again_in_the_default_one(
    peer: Peer, sample: Sample
) -> None:
    peer.mode = "refuse-any"
    with DicomwebTransport(WebNode(peer.url)) as web:
        kept = Kept()
        answer = web.retrieve(one(sample), kept, {sample.ct[0].sop_instance})
        assert answer.reason is None and set(kept.files) == {sample.ct[0].sop_instance}
        assert web.any_syntax is False
        web.retrieve(one(sample, 1), kept, {sample.ct[1].sop_instance})
    # asked with * once, then never again
    assert [("transfer-syntax=*" in a) for a in peer.accepts] == [True, False, False]


def test_an_object_that_was_not_asked_for_is_refused(peer: Peer, sample: Sample) -> None:
    peer.mode = "wrong"
    with DicomwebTransport(WebNode(peer.url)) as web:
        kept = Kept()
        answer = web.retrieve(one(sample), kept, {sample.ct[0].sop_instance})
    assert kept.files == {}
    assert answer.refused == 1


def test_an_answer_cut_short_is_an_error_and_nothing_half_kept(peer: Peer, sample: Sample) -> None:
    peer.mode = "truncated"
    kept = Kept()
    with (
        DicomwebTransport(WebNode(peer.url)) as web,
        pytest.raises(AssociationError, match=r"WADO-RS /studies/.*(ended|broke)"),
    ):
        web.retrieve(one(sample), kept, {sample.ct[0].sop_instance})
    assert kept.files == {}
