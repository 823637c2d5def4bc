"""TLS for DIMSE, both ways, against DCMTK's TLS tools (Debian's DCMTK is built with
OpenSSL): ``dicomref serve --tls-*`` answering DCMTK's echoscu, storescu and findscu with
``+tls``; dicomref's client talking to DCMTK's storescp ``+tls``, and to ``dicomref
serve``; our C-MOVE receiver listening with TLS.  Refusals are checked for what they are:
no client certificate, one from another CA, a plain-TCP client, a peer that stalls in the
middle of its handshake (dropped by the ARTIM timer, blocking nobody), a server
certificate we do not trust (exit code 5, "certificate verify failed").

The certificates are made for each run with the ``openssl`` command (Debian package
``openssl``): a throwaway CA, a server certificate for 127.0.0.1 and localhost, a client
certificate, and a second CA with a client certificate of its own.  Nothing is committed.

Servers listen on loopback; DCMTK's storescp listens on every interface, so its tests run
only in a private network namespace (``scripts/in-netns.sh .venv/bin/pytest
tests/test_tls.py``) and skip elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from dicomref._dimse._node import Node, Timeouts
from dicomref._dimse._tls import Tls
from dicomref.errors import AssociationError, ConfigError, UsageError
from dicomref.remote._config import parse_config
from dicomref.remote.transport._dimse_client import DimseClient
from dicomref.remote.transport._receiver import StoreReceiver, StoreSink
from dicomref.server import Destination, ServerConfig
from serve_support import ServeCommand, catalog_of
from servers import (
    LOOPBACK,
    ManagedProcess,
    ServerUnavailableError,
    clone_ct,
    dcmtk_for_test,
    free_port,
    port_open,
    require_private_netns,
    unavailable,
)

AE_TITLE = "DICOMREF_QR"
STALL_HOST = "127.0.0.4"
_EXTENSIONS = """\
[server]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[client]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth, serverAuth
subjectAltName = DNS:dicomref-client, IP:127.0.0.1
"""


@dataclass(frozen=True)
class Pki:
    """Certificates and keys (PEM) in ``folder``; ``other_ca`` signed ``stranger``."""

    folder: Path

    def pem(self, name: str) -> Path:
        return self.folder / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.folder / f"{name}.key"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(folder: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN=dicomref test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip


def _make_leaf(folder: Path, name: str, ca: str, section: str, serial: int) -> None:
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-set_serial", str(serial), "-days", "2", "-out", f"{name}.pem",
        "-extfile", "extensions.cnf", "-extensions", section,
        cwd=folder,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        unavailable(
            "the openssl command is needed to make test certificates: apt-get install openssl"
        )
    folder = tmp_path_factory.mktemp("pki")
    (folder / "extensions.cnf").write_text(_EXTENSIONS)
    _make_ca(folder, "ca")
    _make_ca(folder, "other_ca")
    _make_leaf(folder, "server", "ca", "server", 2)
    _make_leaf(folder, "client", "ca", "client", 3)
    _make_leaf(folder, "stranger", "other_ca", "client", 4)
    for key in folder.glob("*.key"):
        key.chmod(0o600)
    return Pki(folder)


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ct")
    clone_ct(folder, 4, patient_id="TLS")
    return folder


@pytest.fixture(scope="module")
def catalog_url(ct_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("catalog") / "catalog.sqlite"
    return catalog_of([ct_folder], f"sqlite:///{path}")


def _serve_options(pki: Pki, *, require: bool = True) -> tuple[str, ...]:
    options: tuple[str, ...] = ("--tls-cert", str(pki.pem("server")))
    options += ("--tls-key", str(pki.key("server")), "--tls-ca", str(pki.pem("ca")))
    return (*options, "--tls-require-client-cert") if require else options


@contextlib.contextmanager
def serving(tmp_path: Path, url: str, *options: str) -> Iterator[ServeCommand]:
    serve = ServeCommand(url, tmp_path / "serve.log", *options).start()
    try:
        yield serve
    finally:
        serve.stop()


def dcmtk_tls(pki: Pki, client: str | None = "client") -> list[str]:
    """DCMTK's TLS options: our key and certificate (or anonymous TLS), the CA trusted."""
    own = ["+tls", str(pki.key(client)), str(pki.pem(client))] if client else ["+tla"]
    return [*own, "+cf", str(pki.pem("ca"))]


def run_dcmtk(name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dcmtk_for_test(name), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def echo(pki: Pki, port: int, client: str | None = "client") -> subprocess.CompletedProcess[str]:
    return run_dcmtk("echoscu", *dcmtk_tls(pki, client), "-aec", AE_TITLE, LOOPBACK, str(port))


def no_tracebacks(serve: ServeCommand) -> None:
    text = serve.log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


# -- dicomref serve with TLS, DCMTK as the client --------------------------------------------


def test_dcmtk_echo_store_and_find_over_tls(
    tmp_path: Path, pki: Pki, catalog_url: str, ct_folder: Path
) -> None:
    """A client certificate signed by our CA, required: C-ECHO, C-STORE and C-FIND work,
    and the object stored is found."""
    store = tmp_path / "store"
    with serving(tmp_path, catalog_url, *_serve_options(pki), "--store", str(store)) as serve:
        done = echo(pki, serve.port)
        assert done.returncode == 0, done.stderr
        pushed = clone_ct(tmp_path / "push", 1, patient_id="TLS-PUSH")[0]
        uid = str(pydicom.dcmread(pushed, stop_before_pixels=True).SOPInstanceUID)
        done = run_dcmtk(
            "storescu", *dcmtk_tls(pki), "-aec", AE_TITLE, LOOPBACK, str(serve.port), str(pushed)
        )
        assert done.returncode == 0, done.stderr
        assert [p.name for p in store.rglob("*") if p.is_file()], "nothing was stored"
        done = run_dcmtk(
            "findscu", *dcmtk_tls(pki), "-S", "-aec", AE_TITLE,
            "-k", "QueryRetrieveLevel=IMAGE", "-k", f"SOPInstanceUID={uid}",
            "-k", "PatientID", LOOPBACK, str(serve.port),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "TLS-PUSH" in done.stdout + done.stderr
    assert not serve.problems(), serve.problems()
    no_tracebacks(serve)


def test_clients_without_a_trusted_certificate_are_refused_and_the_server_goes_on(
    tmp_path: Path, pki: Pki, catalog_url: str
) -> None:
    with serving(tmp_path, catalog_url, *_serve_options(pki)) as serve:
        anonymous = echo(pki, serve.port, client=None)
        assert anonymous.returncode != 0
        time.sleep(0.1)
        stranger = echo(pki, serve.port, client="stranger")
        assert stranger.returncode != 0
        assert "Association Request Failed" in anonymous.stderr + anonymous.stdout
        done = echo(pki, serve.port)
        assert done.returncode == 0, done.stderr
    log = serve.log.read_text()
    assert "TLS handshake failed" in log
    no_tracebacks(serve)


def test_a_client_certificate_is_optional_unless_required(
    tmp_path: Path, pki: Pki, catalog_url: str
) -> None:
    """--tls-ca without --tls-require-client-cert: anonymous TLS is served; a certificate
    from another CA is still refused (it is presented, and does not verify)."""
    with serving(tmp_path, catalog_url, *_serve_options(pki, require=False)) as serve:
        assert echo(pki, serve.port, client=None).returncode == 0
        assert echo(pki, serve.port, client="stranger").returncode != 0
    no_tracebacks(serve)


def test_a_plain_tcp_client_fails_cleanly(tmp_path: Path, pki: Pki, catalog_url: str) -> None:
    with serving(tmp_path, catalog_url, *_serve_options(pki)) as serve:
        plain = run_dcmtk("echoscu", "-aec", AE_TITLE, LOOPBACK, str(serve.port))
        assert plain.returncode != 0
        done = echo(pki, serve.port)
        assert done.returncode == 0, done.stderr
    assert any("does not talk TLS" in line for line in serve.problems()), serve.problems()
    no_tracebacks(serve)


def _client_hello() -> bytes:
    """The first flight of a real TLS client (its ClientHello)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True once the peer closed ``sock`` (what it sent before is read and ignored)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def test_a_peer_stalled_in_its_handshake_is_dropped_and_blocks_nobody(
    tmp_path: Path, pki: Pki, catalog_url: str
) -> None:
    """20 peers send a ClientHello and stop (the server answered and waits for them), more
    than --max-associations: a DCMTK client still associates at once, and the stalled
    peers are closed when the ARTIM time (1 s) is up."""
    options = (*_serve_options(pki), "--artim-timeout", "1", "--max-associations", "2")
    with serving(tmp_path, catalog_url, *options) as serve:
        hello = _client_hello()
        stalled = []
        try:
            for _ in range(20):
                sock = socket.create_connection((LOOPBACK, serve.port), timeout=5)
                sock.sendall(hello)
                stalled.append(sock)
            started = time.monotonic()
            done = echo(pki, serve.port)
            assert done.returncode == 0, done.stderr
            assert time.monotonic() - started < 1.0  # not after the stalled peers' ARTIM
            assert all(_closed_within(sock, 5.0) for sock in stalled)
            assert time.monotonic() - started < 5.0
        finally:
            for sock in stalled:
                sock.close()
        assert echo(pki, serve.port).returncode == 0
    assert "no complete A-ASSOCIATE-RQ within 1 s" in serve.log.read_text()
    no_tracebacks(serve)


# -- dicomref's client -----------------------------------------------------------------------


def _node(port: int, tls: Tls | None, **kwargs: object) -> Node:
    return Node(AE_TITLE, LOOPBACK, port, tls=tls, timeouts=Timeouts(connect=5, acse=10), **kwargs)  # type: ignore[arg-type]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicomref", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_probe_and_fetch_over_tls(
    tmp_path: Path, pki: Pki, catalog_url: str, ct_folder: Path
) -> None:
    """dicomref's client against dicomref serve with client certificates required: the
    command line with --tls-*, and a nodes.toml whose tls table has relative paths."""
    uid = str(pydicom.dcmread(sorted(ct_folder.glob("*"))[0]).SOPInstanceUID)
    with serving(tmp_path, catalog_url, *_serve_options(pki)) as serve:
        node = f"{AE_TITLE}@{LOOPBACK}:{serve.port}"
        tls = ["--tls-ca", str(pki.pem("ca")), "--tls-cert", str(pki.pem("client"))]
        tls += ["--tls-key", str(pki.key("client"))]
        db = ["--db", f"sqlite:///{tmp_path / 'mine.sqlite'}"]
        done = _cli("probe", node, *tls, *db)
        assert done.returncode == 0, done.stderr
        out = tmp_path / "out"
        done = _cli("fetch", node, uid, "--out", str(out), "--retrieve", "get", *tls, *db)
        assert done.returncode == 0, done.stdout + done.stderr
        fetched = [pydicom.dcmread(p).SOPInstanceUID for p in out.rglob("*") if p.is_file()]
        assert uid in fetched
        config = pki.folder / "nodes.toml"
        config.write_text(
            f'[nodes.secure]\nae = "{AE_TITLE}"\nhost = "{LOOPBACK}"\nport = {serve.port}\n'
            'tls = { ca = "ca.pem", cert = "client.pem", key = "client.key" }\n'
        )
        done = _cli("locate", "secure", uid, "--config", str(config), *db)
        assert done.returncode == 0, done.stdout + done.stderr
    no_tracebacks(serve)


def test_fetch_by_c_move_with_tls_both_ways(
    tmp_path: Path, pki: Pki, catalog_url: str, ct_folder: Path
) -> None:
    """The server reaches its destination (our C-MOVE receiver) with TLS, presenting its
    certificate; the receiver presents ours (the client certificate names 127.0.0.1) and
    requires the server's to be signed by the CA."""
    uid = str(pydicom.dcmread(sorted(ct_folder.glob("*"))[1]).SOPInstanceUID)
    store_port = free_port()
    destination = f"DICOMREF@{LOOPBACK}:{store_port}"
    with serving(
        tmp_path, catalog_url, *_serve_options(pki), "--destination-tls", destination
    ) as serve:
        node = f"{AE_TITLE}@{LOOPBACK}:{serve.port}"
        tls = ["--tls-ca", str(pki.pem("ca")), "--tls-cert", str(pki.pem("client"))]
        tls += ["--tls-key", str(pki.key("client"))]
        db = ["--db", f"sqlite:///{tmp_path / 'mine.sqlite'}"]
        out = tmp_path / "out"
        move = ["--retrieve", "move", "--store-port", str(store_port)]
        done = _cli("fetch", node, uid, "--out", str(out), *move, *tls, *db)
        assert done.returncode == 0, done.stdout + done.stderr
        fetched = [pydicom.dcmread(p).SOPInstanceUID for p in out.rglob("*") if p.is_file()]
        assert fetched == [uid]
    assert "C-MOVE to DICOMREF" in serve.log.read_text()
    no_tracebacks(serve)


def test_a_server_certificate_from_another_ca_is_a_clear_error(
    tmp_path: Path, pki: Pki, catalog_url: str
) -> None:
    with serving(tmp_path, catalog_url, *_serve_options(pki, require=False)) as serve:
        node = f"{AE_TITLE}@{LOOPBACK}:{serve.port}"
        db = ["--db", f"sqlite:///{tmp_path / 'mine.sqlite'}"]
        done = _cli("probe", node, "--tls-ca", str(pki.pem("other_ca")), *db)
        assert done.returncode == 5, done.stderr
        assert node in done.stderr
        assert "certificate verify failed" in done.stderr
        assert "Traceback" not in done.stderr
        with pytest.raises(AssociationError, match="certificate verify failed") as caught:
            DimseClient(_node(serve.port, Tls(ca=pki.pem("other_ca")))).echo()
        assert node in str(caught.value)
        # the name checked is the host we connect to, unless told otherwise
        named = Tls(ca=pki.pem("ca"), server_hostname="pacs.example.org")
        with pytest.raises(AssociationError, match="certificate verify failed"):
            DimseClient(_node(serve.port, named)).echo()
        with DimseClient(_node(serve.port, Tls(ca=pki.pem("ca")))) as client:
            client.echo()
        with DimseClient(_node(serve.port, Tls(verify_peer=False))) as client:
            client.echo()  # not authenticated, as DCMTK's -ic
        with pytest.raises(AssociationError, match=r"does it require TLS"):
            DimseClient(_node(serve.port, None)).echo()  # plain TCP to a TLS port
    no_tracebacks(serve)


def test_a_plain_server_answers_a_tls_client_with_a_clear_error(
    tmp_path: Path, pki: Pki, catalog_url: str
) -> None:
    with (
        serving(tmp_path, catalog_url) as serve,
        pytest.raises(AssociationError, match="does this port talk TLS"),
    ):
        DimseClient(_node(serve.port, Tls(ca=pki.pem("ca")))).echo()
    no_tracebacks(serve)


@contextlib.contextmanager
def storescp_tls(pki: Pki, folder: Path, *peer: str) -> Iterator[int]:
    """DCMTK's storescp with TLS on a free port (AE STORESCP), writing into ``folder``."""
    program = dcmtk_for_test("storescp")
    try:
        require_private_netns("storescp")
    except ServerUnavailableError as exc:
        unavailable(str(exc))
    port = free_port()
    process = ManagedProcess(
        [
            program, "--aetitle", "STORESCP", "--output-directory", str(folder),
            "+tls", str(pki.key("server")), str(pki.pem("server")), "+cf", str(pki.pem("ca")),
            *peer, str(port),
        ],
        folder / "storescp.log",
    )  # fmt: skip
    process.start()
    try:
        process.wait_ready(lambda: port_open(LOOPBACK, port), 20, "storescp")
        yield port
    finally:
        process.stop()


def test_our_client_against_dcmtk_storescp_over_tls(tmp_path: Path, pki: Pki) -> None:
    """storescp requires a client certificate (its default, -rc): ours is accepted, none
    or another CA's is refused with an AssociationError naming the node."""
    folder = tmp_path / "received"
    folder.mkdir()
    with storescp_tls(pki, folder) as port:

        def node(tls: Tls) -> Node:
            return Node("STORESCP", LOOPBACK, port, tls=tls, timeouts=Timeouts(connect=5, acse=10))

        mine = Tls(cert=pki.pem("client"), key=pki.key("client"), ca=pki.pem("ca"))
        with DimseClient(node(mine)) as client:
            client.echo()
        stranger = Tls(cert=pki.pem("stranger"), key=pki.key("stranger"), ca=pki.pem("ca"))
        for refused in (Tls(ca=pki.pem("ca")), stranger):
            with pytest.raises(AssociationError) as caught:
                DimseClient(node(refused)).echo()
            assert f"STORESCP@{LOOPBACK}:{port}" in str(caught.value)


def test_our_c_move_receiver_listens_with_tls(tmp_path: Path, pki: Pki) -> None:
    """A PACS configured for TLS connects back with TLS: DCMTK's storescu, as that PACS,
    stores into the receiver with its own certificate; without one it is refused."""
    tls = Tls(cert=pki.pem("server"), key=pki.key("server"), ca=pki.pem("ca"))
    pushed = clone_ct(tmp_path / "push", 1, patient_id="TLS-MOVE")[0]
    uid = str(pydicom.dcmread(pushed, stop_before_pixels=True).SOPInstanceUID)
    received: list[str] = []
    with StoreReceiver("DICOMREF", LOOPBACK, 0, node="PACS", tls=tls) as receiver:
        sink = StoreSink(lambda dataset: received.append(str(dataset.SOPInstanceUID)))
        with receiver.collect(sink):
            address = [LOOPBACK, str(receiver.port)]
            refused = run_dcmtk(
                "storescu", *dcmtk_tls(pki, None), "-aec", "DICOMREF", *address, str(pushed)
            )
            assert refused.returncode != 0
            done = run_dcmtk("storescu", *dcmtk_tls(pki), "-aec", "DICOMREF", *address, str(pushed))
            assert done.returncode == 0, done.stderr
    assert received == [uid]
    with pytest.raises(Exception, match="needs our own certificate"):
        StoreReceiver("DICOMREF", LOOPBACK, 0, node="PACS", tls=Tls(ca=pki.pem("ca"))).start()


# -- settings --------------------------------------------------------------------------------


def test_tls_tables_in_nodes_toml(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "nodes.toml"
    data = {
        "defaults": {"tls": {"ca": "ca.pem", "cert": "/etc/our.pem", "key": "~/our.key"}},
        "nodes": {
            "a": {"ae": "A", "host": "h", "port": 104, "tls": {"ca": "other.pem"}},
            "b": {"ae": "B", "host": "h", "port": 105, "tls": {"verify_peer": False}},
        },
    }
    config = parse_config(data, path)
    a = config.resolve("a")
    assert a.tls == Tls(
        ca=path.parent / "other.pem", cert=Path("/etc/our.pem"), key=Path("~/our.key").expanduser()
    )
    assert config.resolve("b").tls is not None
    assert config.resolve("b").tls.verify_peer is False  # type: ignore[union-attr]
    assert config.resolve("X@h:1").tls == Tls(
        ca=path.parent / "ca.pem", cert=Path("/etc/our.pem"), key=Path("~/our.key").expanduser()
    )
    given = config.resolve("a", tls={"ca": tmp_path / "given.pem"})
    assert given.tls is not None and given.tls.ca == tmp_path / "given.pem"
    assert (
        parse_config({"nodes": {"c": {"ae": "C", "host": "h", "port": 1}}}).resolve("c").tls is None
    )
    assert (
        parse_config({"nodes": {"c": {"ae": "C", "host": "h", "port": 1, "tls": {}}}})
        .resolve("c")
        .tls
        == Tls()
    )
    for bad, message in (
        ({"tls": {"pem": "x"}}, "unknown key 'pem'"),
        ({"tls": {"verify_peer": "no"}}, "verify_peer must be true or false"),
        ({"tls": {"key": "k.pem"}}, "without its certificate"),
        ({"tls": "yes"}, "must be a table"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_config({"nodes": {"c": {"ae": "C", "host": "h", "port": 1, **bad}}}, path)


def test_tls_files_are_checked_with_clear_errors(
    tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError, match=r"missing\.pem: the TLS CA file does not exist"):
        Tls(ca=tmp_path / "missing.pem").client_context()
    with pytest.raises(ConfigError, match="cannot read the TLS CA"):
        Tls(ca=pki.key("client")).client_context()
    mismatched = Tls(cert=pki.pem("client"), key=pki.key("server"))
    with pytest.raises(ConfigError, match="cannot use this TLS certificate and key"):
        mismatched.client_context()
    with pytest.raises(UsageError, match="needs the CA"):
        ServerConfig(tls=Tls(cert=pki.pem("server"), key=pki.key("server")))
    with pytest.raises(UsageError, match="certificate and key"):
        ServerConfig(tls=Tls(ca=pki.pem("ca"), verify_peer=False))
    with pytest.raises(UsageError, match="reached with TLS"):
        ServerConfig(destinations=(Destination.parse("A@127.0.0.1:104", tls=True),))
    open_key = tmp_path / "open.key"
    open_key.write_bytes(pki.key("client").read_bytes())
    open_key.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        Tls(cert=pki.pem("client"), key=open_key).client_context()
    assert "readable by every user" in caplog.text
    assert str(open_key) in caplog.text


def test_serve_tls_options_need_a_certificate(tmp_path: Path, pki: Pki) -> None:
    done = _cli("serve", "--port", "0", "--tls-ca", str(pki.pem("ca")), "--db", "sqlite://")
    assert done.returncode == 2
    assert "--tls-cert" in done.stderr


def test_sigterm_stops_a_server_with_tls_associations_open(
    tmp_path: Path, pki: Pki, catalog_url: str
) -> None:
    """An idle TLS association and a handshake left half-way: SIGTERM still stops the
    server within its grace period (1 s here), without tracebacks."""
    options = (*_serve_options(pki, require=False), "--grace", "1")
    serve = ServeCommand(catalog_url, tmp_path / "serve.log", *options).start()
    client = DimseClient(_node(serve.port, Tls(ca=pki.pem("ca"))))
    half = socket.create_connection((LOOPBACK, serve.port), timeout=5)
    try:
        client.echo()  # the association stays open
        half.sendall(_client_hello())
        started = time.monotonic()
        assert serve.stop() == 0
        assert time.monotonic() - started < 5.0
    finally:
        half.close()
        client.close()
    no_tracebacks(serve)
