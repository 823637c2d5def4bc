"""The DICOMweb wire layer without a server: the streaming multipart reader, media types,
WebNode and its credentials, QIDO paths and UID lists cut to a budget."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian

import extraction_corpus as corpus
from dicomref._dicomweb import _json, _paths
from dicomref._dicomweb._http import excerpt
from dicomref._dicomweb._media import multipart_accept, parse_content_type
from dicomref._dicomweb._multipart import MultipartError, iter_parts
from dicomref._dicomweb._node import Credentials, WebNode, looks_like_url
from dicomref.errors import UsageError
from dicomref.remote.transport._header import HEADER_TAGS, header

BOUNDARY = "b0und-ary"


def body(*parts: bytes, boundary: str = BOUNDARY, preamble: bytes = b"") -> bytes:
    out = preamble
    for part in parts:
        out += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        out += part + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


PARTS = [b"first", b"", b"with\r\n--b0und but not the delimiter\r\n", bytes(range(256)) * 40]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000, 1 << 20])
def test_parts_come_out_whole_however_the_stream_is_cut(size: int) -> None:
    parts = list(iter_parts(chunked(body(*PARTS), size), BOUNDARY))
    assert [p.body for p in parts] == PARTS
    assert all(p.content_type == "application/dicom" for p in parts)


def test_a_preamble_and_the_epilogue_are_skipped() -> None:
    data = body(b"x", preamble=b"this is a preamble\r\n") + b"epilogue"
    assert [p.body for p in iter_parts([data], BOUNDARY)] == [b"x"]


def test_parts_are_yielded_before_the_answer_ends() -> None:
    data = body(b"one", b"two")
    cut = data.index(b"two") + 3 + 2 + len(BOUNDARY) + 2  # past the second part's delimiter

    def stream() -> list[bytes]:
        return [data[:cut]]

    seen = iter_parts(iter(stream()), BOUNDARY)
    assert next(seen).body == b"one"
    with pytest.raises(MultipartError, match="ended"):
        list(seen)


def test_a_part_larger_than_the_bound_is_refused_without_reading_on() -> None:
    read = 0

    def endless() -> object:
        nonlocal read
        yield f"--{BOUNDARY}\r\n\r\n".encode()
        while True:
            read += 1
            yield b"\0" * 4096

    with pytest.raises(MultipartError, match="larger than 100000 bytes"):
        list(iter_parts(endless(), BOUNDARY, max_part=100_000))  # type: ignore[arg-type]
    assert read < 40


def test_a_truncated_answer_is_an_error() -> None:
    data = body(b"whole")[:-30]
    with pytest.raises(MultipartError, match="ended inside"):
        list(iter_parts([data], BOUNDARY))


def test_a_body_without_the_boundary_is_an_error() -> None:
    with pytest.raises(MultipartError):
        list(iter_parts([b"{}" * 10_000], BOUNDARY))


def test_content_type_parameters() -> None:
    media, params = parse_content_type(
        'Multipart/Related; type="application/dicom"; boundary="a;b"; transfer-syntax=*'
    )
    assert media == "multipart/related"
    assert params == {"type": "application/dicom", "boundary": "a;b", "transfer-syntax": "*"}
    assert multipart_accept() == 'multipart/related; type="application/dicom"; transfer-syntax=*'
    assert "transfer-syntax" not in multipart_accept(transfer_syntax=None)


def test_web_node_normalises_the_url_and_refuses_credentials_in_it() -> None:
    node = WebNode("HTTP://Example.org:8042/dicom-web/")
    assert str(node) == "http://example.org:8042/dicom-web"
    assert node.path == "/dicom-web"
    assert looks_like_url("https://pacs/dicom-web") and not looks_like_url("PACS@host:104")
    with pytest.raises(UsageError, match="must not hold a user name or password"):
        WebNode("https://user:secret@example.org/dicom-web")
    with pytest.raises(UsageError, match="not a DICOMweb URL"):
        WebNode("ftp://example.org/")
    with pytest.raises(UsageError, match="https"):
        WebNode("http://example.org/", ca=__file__)  # type: ignore[arg-type]


def test_secrets_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACS_TOKEN", "s3cr3t-token")
    token = Credentials.from_environment("bearer", "PACS_TOKEN")
    node = WebNode("https://example.org/dicom-web", credentials=token)
    for text in (repr(node), str(node), repr(token), str(token), token.describe()):
        assert "s3cr3t" not in text
    assert token.header() == "Bearer s3cr3t-token"
    basic = Credentials("basic", "pw", "alice", "nodes.toml")
    assert basic.header() == "Basic YWxpY2U6cHc="
    assert "pw" not in repr(basic).replace("password", "")
    monkeypatch.delenv("PACS_TOKEN")
    with pytest.raises(UsageError, match="PACS_TOKEN is not set"):
        Credentials.from_environment("bearer", "PACS_TOKEN")


def test_qido_paths_and_lists_cut_to_the_budget() -> None:
    assert _paths.qido("instances") == "/instances"
    assert _paths.qido("instances", "1.2", "1.3") == "/studies/1.2/series/1.3/instances"
    assert _paths.qido("series", "1.2") == "/studies/1.2/series"
    with pytest.raises(UsageError):
        _paths.instance("1.2", "1.3", "../etc")
    uids = [f"1.2.840.{n}" for n in range(1000)]
    runs = list(_paths.cut_list(uids, 200))
    assert [u for run in runs for u in run] == uids
    assert all(len(",".join(run)) <= 200 for run in runs)
    assert _paths.query_string([("SOPInstanceUID", "1.2,1.3"), ("PatientName", "A B*")]) == (
        "SOPInstanceUID=1.2,1.3&PatientName=A%20B*"
    )


def test_qido_rows_become_datasets_and_bad_elements_are_left_out() -> None:
    rows = _json.parse_rows(
        b'[{"0020000D": {"vr": "UI", "Value": ["1.2.3"]},'
        b' "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^J"}]},'
        b' "00201208": {"vr": "IS", "Value": ["not a number"]}}]'
    )
    assert _json.first(rows[0], "StudyInstanceUID") == "1.2.3"
    assert _json.first(rows[0], "PatientName") == "Doe^J"
    dataset = _json.dataset_of(rows[0])
    assert dataset.StudyInstanceUID == "1.2.3"
    assert _json.parse_rows(b"") == [] and _json.parse_rows(b"[]") == []
    with pytest.raises(ValueError):
        _json.parse_rows(b'{"not": "a list"}')


def test_error_excerpts_are_short_and_say_what_the_server_said() -> None:
    said = excerpt(b'{"Message": "Bad request", "Details": "URI too long", "HttpStatus": 400}')
    assert said == "Bad request; URI too long"
    assert len(excerpt(b"x" * 10_000)) <= 201


def test_a_declared_content_length_is_used_when_the_delimiter_confirms_it() -> None:
    data = b"x\r\n--b0und-" * 100
    good = f"--{BOUNDARY}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data
    good += f"\r\n--{BOUNDARY}--\r\n".encode()
    assert [p.body for p in iter_parts(chunked(good, 7), BOUNDARY)] == [data]
    # a wrong length: the body is scanned for the delimiter instead
    wrong = good.replace(f"Content-Length: {len(data)}".encode(), b"Content-Length: 5")
    assert [p.body for p in iter_parts(chunked(wrong, 7), BOUNDARY)] == [data]
    with pytest.raises(MultipartError, match="larger than 100 bytes"):
        list(iter_parts([good], BOUNDARY, max_part=100))


# -- the header of a WADO-RS part ---------------------------------------------------------


@pytest.mark.parametrize(
    "syntax", [corpus.EXPLICIT, corpus.IMPLICIT, corpus.BIG_ENDIAN, DeflatedExplicitVRLittleEndian]
)
def test_a_part_header_reads_as_pydicom_reads_it(syntax: str, tmp_path: Path) -> None:
    """The walker reads what it can (explicit and implicit little endian); pydicom the
    syntaxes it leaves to it; both give what ``dcmread`` gives."""
    ds = corpus.base_dataset(corpus.RTSTRUCT, "RTSTRUCT")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StructureSetLabel = "Hüfte"
    body = corpus.save(ds, tmp_path / "part.dcm", syntax).read_bytes()
    expected = pydicom.dcmread(io.BytesIO(body))
    head = header(body)
    assert [str(head.get(k, "")) for k in HEADER_TAGS] == [
        str(expected.get(k, "")) for k in HEADER_TAGS
    ]


@pytest.mark.parametrize(
    "body", [b"", b"not dicom at all", b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff"]
)
def test_a_part_that_is_not_dicom_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match="not a DICOM object"):
        header(body)
