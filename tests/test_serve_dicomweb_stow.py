"""STOW-RS into the managed store by the C-STORE rules, bodies that are not what they
claim (400, never a 500 or a hang), credentials, and ``dicomref serve --http-port``."""

from __future__ import annotations

import base64
import io
import random
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, generate_uid

from dicomref.catalog import Catalog
from dicomref.sample import Sample
from dicomref.server.dicomweb import DicomWebLimits, HttpCredentials
from dicomweb_support import WebServed, multipart_body, parts, stow_headers, web_served
from serve_support import ServeCommand
from servers import LOOPBACK, clone_ct
from test_tls import Pki
from test_tls import pki as pki_made_by_openssl  # noqa: F401  (test_tls's fixture)

REFERENCED, FAILED, REASON = "00081199", "00081198", "00081197"
TOKEN, USER, PASSWORD = "t0ken-7f3a9c", "alice", "s3cret-pw"


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebServed]:
    empty = tmp_path / "empty"
    empty.mkdir()
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    limits = DicomWebLimits(max_part=2 * 1024 * 1024, max_body=8 * 1024 * 1024, stall_timeout=1)
    with web_served([empty], url, tmp_path / "store", allow_stow=True, limits=limits) as served:
        yield served


def stow(web: WebServed, files: list[bytes], path: str = "/studies") -> httpx.Response:
    return httpx.post(
        web.url + path, content=multipart_body(files), headers=stow_headers(), timeout=30
    )


def test_stored_objects_are_found_and_retrieved(web: WebServed, tmp_path: Path) -> None:
    paths = clone_ct(tmp_path / "ct", 3)
    answer = stow(web, [path.read_bytes() for path in paths])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    stored = [item["00081155"]["Value"][0] for item in body[REFERENCED]["Value"]]
    sops = [str(pydicom.dcmread(path).SOPInstanceUID) for path in paths]
    assert stored == sops and FAILED not in body
    study = str(pydicom.dcmread(paths[0]).StudyInstanceUID)
    assert body["00081190"]["Value"] == [f"{web.url}/studies/{study}"]
    found = httpx.get(f"{web.url}/studies/{study}/instances").json()
    assert {row["00080018"]["Value"][0] for row in found} == set(sops)
    url = body[REFERENCED]["Value"][0]["00081190"]["Value"][0]
    assert httpx.get(url, headers={"Accept": "*/*"}).status_code == 200
    held = {summary.sop_instance for summary in web.server.catalog.instances()}
    assert held == set(sops)  # indexed in the catalog the DIMSE side serves


def test_duplicates_follow_the_c_store_rules(web: WebServed, tmp_path: Path) -> None:
    [path] = clone_ct(tmp_path / "ct", 1)
    first = stow(web, [path.read_bytes()])
    assert first.status_code == 200
    again = stow(web, [path.read_bytes()])  # identical: success, nothing written twice
    assert again.status_code == 200, again.text
    changed = pydicom.dcmread(path)
    changed.PatientName = "SOMEONE^ELSE"
    buffer = io.BytesIO()
    changed.save_as(buffer, enforce_file_format=True)
    [other] = clone_ct(tmp_path / "other", 1)
    answer = stow(web, [buffer.getvalue(), other.read_bytes()])
    assert answer.status_code == 202, answer.text  # some stored, some failed
    [failed] = answer.json()[FAILED]["Value"]
    assert failed["00081155"]["Value"] == [str(changed.SOPInstanceUID)]
    assert failed[REASON]["Value"] == [0x0111]  # Duplicate SOP Instance: the first is kept
    files = list((tmp_path / "store").rglob("*.dcm"))
    names = {str(pydicom.dcmread(f).PatientName) for f in files}
    assert len(files) == 2 and "SOMEONE^ELSE" not in names


def test_objects_of_another_study_than_the_path_fail(web: WebServed, tmp_path: Path) -> None:
    [path] = clone_ct(tmp_path / "ct", 1)
    answer = stow(web, [path.read_bytes()], f"/studies/{generate_uid()}")
    assert answer.status_code == 409
    assert answer.json()[FAILED]["Value"][0][REASON]["Value"] == [0xA900]


def test_invalid_uids_fail(web: WebServed, tmp_path: Path) -> None:
    [path] = clone_ct(tmp_path / "ct", 1)
    ds = pydicom.dcmread(path)
    buffer = io.BytesIO()
    with pytest.warns(UserWarning, match="Invalid value for VR UI"):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID("1.2.x.../evil")
        ds.save_as(buffer, enforce_file_format=True)
    answer = stow(web, [buffer.getvalue()])
    assert answer.status_code == 409
    assert answer.json()[FAILED]["Value"][0][REASON]["Value"] == [0xA900]
    assert not list((web.server.config.store or Path()).rglob("*.dcm"))


@pytest.mark.parametrize(
    ("headers", "body", "status", "named"),
    [
        ({"Content-Type": "application/dicom"}, b"DICM", 415, "multipart/related"),
        ({"Content-Type": "multipart/related; type=application/dicom"}, b"--x--", 400, "boundary"),
        (stow_headers(), b"", 400, "preamble"),
        (stow_headers(), b"no delimiter at all" * 10, 400, "preamble"),
        (
            stow_headers(),
            b"--dicomref-test\r\nContent-Type: application/dicom\r\n\r\nDICM",
            400,
            "a part",
        ),
        (
            stow_headers(),
            b"--dicomref-test\r\nNot a header\r\n\r\nx\r\n--dicomref-test--",
            400,
            "Name: value",
        ),
        (
            stow_headers(),
            multipart_body([b"not a DICOM file at all"]),
            400,
            "part 1 is not a DICOM file",
        ),
        (stow_headers(), b"--dicomref-test--\r\n", 400, "no part"),
        (
            stow_headers(),
            b"--dicomref-test\r\nContent-Type: text/plain\r\n\r\nhi\r\n--dicomref-test--",
            400,
            "part 1 is 'text/plain'",
        ),
    ],
)
def test_a_malformed_body_is_400_naming_what_is_wrong(
    web: WebServed, headers: dict[str, str], body: bytes, status: int, named: str
) -> None:
    answer = httpx.post(f"{web.url}/studies", content=body, headers=headers, timeout=10)
    assert answer.status_code == status, answer.text
    assert named in answer.text


def test_sizes_past_the_limits_are_413(web: WebServed, tmp_path: Path) -> None:
    big = b"\0" * (3 * 1024 * 1024)
    answer = stow(web, [big])
    assert answer.status_code == 413 and "larger than" in answer.text
    headers = {**stow_headers(), "Content-Length": str(9 * 1024 * 1024)}
    with socket.create_connection((LOOPBACK, web.http.port), timeout=5) as sock:
        request = (
            "POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n"
        )
        sock.sendall(request.encode())
        assert b" 413 " in sock.recv(4096).split(b"\r\n", 1)[0]


def test_a_stalled_body_is_dropped_in_time(web: WebServed, tmp_path: Path) -> None:
    """A client that announces a body and stops sending gets 408 after the stall timeout."""
    [path] = clone_ct(tmp_path / "ct", 1)
    body = multipart_body([path.read_bytes()])
    with socket.create_connection((LOOPBACK, web.http.port), timeout=10) as sock:
        head = (
            "POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: {stow_headers()['Content-Type']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        started = time.monotonic()
        sock.sendall(head.encode() + body[: len(body) // 2])
        answer = sock.recv(4096)
        assert b" 408 " in answer.split(b"\r\n", 1)[0], answer[:200]
        assert time.monotonic() - started < 5


def test_read_only_unless_stow_is_allowed(pristine_sample: Sample, tmp_path: Path) -> None:
    [path] = clone_ct(tmp_path / "ct", 1)
    with web_served([pristine_sample.root], f"sqlite:///{tmp_path / 'c.sqlite'}") as web:
        answer = stow(web, [path.read_bytes()])
        assert answer.status_code == 405 and "--allow-stow" in answer.text


# -- credentials ---------------------------------------------------------------------------


def test_credentials_are_required_and_never_logged(
    pristine_sample: Sample, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = HttpCredentials.parse(
        f"# who may read\ntoken:{TOKEN}\nbasic:{USER}:{PASSWORD}\n", "test"
    )
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    caplog.set_level("DEBUG")
    with web_served([pristine_sample.root], url, credentials=credentials) as web:
        bare = httpx.get(f"{web.url}/studies")
        assert bare.status_code == 401
        challenges = bare.headers.get_list("www-authenticate")
        assert any(c.startswith("Bearer") for c in challenges)
        assert any(c.startswith("Basic") for c in challenges)
        bearer = httpx.get(f"{web.url}/studies", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200 and len(bearer.json()) == 2
        assert httpx.get(f"{web.url}/studies", auth=(USER, PASSWORD)).status_code == 200
        wrong = [
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}x".encode()).decode()},
            {"Authorization": "Basic !!!"},
            {"Authorization": f"Token {TOKEN}"},
        ]
        for headers in wrong:
            assert httpx.get(f"{web.url}/studies", headers=headers).status_code == 401
    logged = caplog.text
    assert "401" in logged or "refused" in logged
    assert TOKEN not in logged and PASSWORD not in logged


def test_credentials_files_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dicomref.errors import UsageError

    bad = tmp_path / "auth"
    bad.write_text(f"token:{TOKEN}\npassword {PASSWORD}\n")
    with pytest.raises(UsageError, match="line 2") as caught:
        HttpCredentials.from_file(bad)
    assert PASSWORD not in str(caught.value)
    monkeypatch.setenv("DICOMREF_TEST_AUTH", f"basic:{USER}:{PASSWORD}")
    assert HttpCredentials.from_environment("DICOMREF_TEST_AUTH").basics == (
        f"{USER}:{PASSWORD}".encode(),
    )
    with pytest.raises(UsageError, match="not set"):
        HttpCredentials.from_environment("DICOMREF_TEST_NO_SUCH_VARIABLE")


# -- dicomref serve --http-port -------------------------------------------------------------


def test_serve_command_serves_dicomweb_and_stops_on_sigterm(
    pristine_sample: Sample, tmp_path: Path
) -> None:
    auth = tmp_path / "auth"
    auth.write_text(f"token:{TOKEN}\n")
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    with Catalog(url) as catalog:
        catalog.scan([pristine_sample.root])
    log = tmp_path / "serve.log"
    command = ServeCommand(
        url,
        log,
        "--http-port",
        "0",
        "--store",
        str(tmp_path / "store"),
        "--allow-stow",
        "--http-auth-file",
        str(auth),
    )
    with command:
        assert command.http_port
        base = f"http://{LOOPBACK}:{command.http_port}/dicom-web"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        plan = pristine_sample.plans[0]
        found = httpx.get(
            f"{base}/instances", params={"SOPInstanceUID": plan.sop_instance}, headers=headers
        )
        assert found.status_code == 200 and len(found.json()) == 1
        [path] = clone_ct(tmp_path / "ct", 1)
        stored = httpx.post(
            f"{base}/studies",
            content=multipart_body([path.read_bytes()]),
            headers={**stow_headers(), **headers},
        )
        assert stored.status_code == 200, stored.text
        started = time.monotonic()
        assert command.stop() == 0
        stopped_in = time.monotonic() - started
        assert stopped_in < 5, stopped_in
    text = log.read_text()
    assert "Traceback" not in text
    assert TOKEN not in text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--allow-stow"], "need --http-port"),
        (["--http-port", "0", "--allow-stow"], "--allow-stow needs --store"),
        (["--http-port", "0", "--http-auth-env", "DICOMREF_TEST_NO_SUCH_VARIABLE"], "not set"),
    ],
)
def test_serve_command_checks_its_http_options(
    tmp_path: Path, options: list[str], message: str
) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dicomref",
            "serve",
            "--port",
            "0",
            "--db",
            f"sqlite:///{tmp_path / 'c.sqlite'}",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_deflated_object_is_stored_as_it_came(web: WebServed, tmp_path: Path) -> None:
    [path] = clone_ct(tmp_path / "ct", 1)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    answer = stow(web, [buffer.getvalue()])
    assert answer.status_code == 200, answer.text
    url = answer.json()[REFERENCED]["Value"][0]["00081190"]["Value"][0]
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    [part] = parts(httpx.get(url, headers={"Accept": accept}))
    assert part.content_type.endswith(DeflatedExplicitVRLittleEndian)
    assert pydicom.dcmread(io.BytesIO(part.body)).PixelData == ds.PixelData


def test_with_tls_dicomweb_is_https_only_with_the_dimse_side_s_certificates(
    pki_made_by_openssl: Pki,  # noqa: F811 (the fixture imported above)
    pristine_sample: Sample,
    tmp_path: Path,
) -> None:
    pki = pki_made_by_openssl
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    with Catalog(url) as catalog:
        catalog.scan([pristine_sample.root])
    options = (
        "--http-port", "0", "--tls-cert", str(pki.pem("server")), "--tls-key",
        str(pki.key("server")), "--tls-ca", str(pki.pem("ca")), "--tls-require-client-cert",
    )  # fmt: skip
    with ServeCommand(url, tmp_path / "serve.log", *options) as command:
        base = f"https://{LOOPBACK}:{command.http_port}/dicom-web"
        context = ssl.create_default_context(cafile=str(pki.pem("ca")))
        context.load_cert_chain(str(pki.pem("client")), str(pki.key("client")))
        answer = httpx.get(f"{base}/studies", verify=context)
        assert answer.status_code == 200
        assert answer.json()[0]["00081190"]["Value"][0].startswith(f"{base}/studies/")
        anonymous = ssl.create_default_context(cafile=str(pki.pem("ca")))
        with pytest.raises(httpx.HTTPError):  # no client certificate: refused
            httpx.get(f"{base}/studies", verify=anonymous).raise_for_status()
        with pytest.raises(httpx.HTTPError):  # plain HTTP: refused
            httpx.get(f"http://{LOOPBACK}:{command.http_port}/dicom-web/studies", timeout=5)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_a_file_meta_without_uids_fails_and_a_file_without_one_is_400(web: WebServed) -> None:
    empty_uids = Path(str(get_testdata_file("meta_missing_tsyntax.dcm"))).read_bytes()
    answer = stow(web, [empty_uids])  # its meta: no transfer syntax, empty SOP UIDs
    assert answer.status_code == 409, answer.text
    assert answer.json()[FAILED]["Value"][0][REASON]["Value"] == [0xA900]
    no_meta = Path(str(get_testdata_file("no_meta.dcm"))).read_bytes()
    answer = stow(web, [no_meta])
    assert answer.status_code == 400 and "part 1 is not a DICOM file" in answer.text


def test_mangled_bodies_never_give_a_500_or_a_hang(web: WebServed, tmp_path: Path) -> None:
    """A valid two-part body cut, with bytes flipped, parts swapped for garbage: every
    answer is a STOW answer or a 4xx naming what is wrong, in time, and the server goes on."""
    paths = clone_ct(tmp_path / "ct", 2)
    body = multipart_body([path.read_bytes() for path in paths])
    rng = random.Random(20261202)
    statuses: set[int] = set()
    with httpx.Client(timeout=10) as client:
        for case in range(150):
            mangled = bytearray(body)
            kind = case % 3
            if kind == 0:
                del mangled[rng.randrange(len(mangled)) :]
            elif kind == 1:
                for _ in range(rng.randrange(1, 20)):
                    mangled[rng.randrange(len(mangled))] = rng.randrange(256)
            else:
                start = rng.randrange(len(mangled))
                mangled[start : start + rng.randrange(1, 400)] = rng.randbytes(rng.randrange(400))
            answer = client.post(
                f"{web.url}/studies", content=bytes(mangled), headers=stow_headers()
            )
            statuses.add(answer.status_code)
            assert answer.status_code in (200, 202, 400, 409, 413), (case, answer.text)
            if answer.status_code == 400:
                assert answer.text.strip(), case
        assert client.get(f"{web.url}/studies").status_code == 200
    assert {200, 400} <= statuses
