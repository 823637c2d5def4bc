"""DICOMweb nodes in nodes.toml and on the command line: URLs, credentials from the
environment (never shown), TLS and timeouts, and DIMSE options refused for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomref._dicomweb._node import WebNode
from dicomref._dimse._node import Node
from dicomref.cli._remote_options import node_from_cli
from dicomref.errors import ConfigError, UsageError
from dicomref.remote._config import load_config, parse_config, resolve_any_node

NODES = """
[nodes.pacs1]
ae = "PACS"
host = "127.0.0.1"
port = 104

[nodes.archive]
url = "https://archive.example.org:8443/dicom-web/"
token_env = "ARCHIVE_TOKEN"
ca = "ca.pem"
timeouts = { connect = 3, read = 30 }
url_budget = 4096
concurrency = 8

[nodes.basic]
url = "http://127.0.0.1:8042/dicom-web"
username = "alice"
password_env = "BASIC_PASSWORD"
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "nodes.toml"
    path.write_text(text)
    return path


def test_a_named_dicomweb_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_TOKEN", "tok-123")
    config = load_config(write(tmp_path, NODES))
    node = config.resolve_any("archive")
    assert isinstance(node, WebNode)
    assert node.url == "https://archive.example.org:8443/dicom-web"
    assert node.ca == tmp_path / "ca.pem"
    assert (node.timeouts.connect, node.timeouts.read) == (3.0, 30.0)
    assert (node.url_budget, node.parallel, node.name) == (4096, 8, "archive")
    assert node.credentials is not None and node.credentials.header() == "Bearer tok-123"
    assert "tok-123" not in repr(node) and "tok-123" not in repr(config)
    # the same server given by its URL takes the table's settings
    same = config.resolve_any("https://archive.example.org:8443/dicom-web")
    assert same == node
    # DIMSE nodes are as they were
    assert isinstance(config.resolve_any("pacs1"), Node)


def test_a_url_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASIC_PASSWORD", "pw")
    config = write(tmp_path, NODES)
    node = node_from_cli("http://127.0.0.1:8042/dicom-web", config=config)
    assert isinstance(node, WebNode) and node.credentials is not None
    assert (
        node.credentials.describe()
        == "user 'alice', password from environment variable BASIC_PASSWORD"
    )
    bare = node_from_cli("http://other.example.org/dicom-web", config=config)
    assert isinstance(bare, WebNode) and bare.credentials is None and bare.verify
    with pytest.raises(UsageError, match=r"store port .* applies to DIMSE nodes only"):
        node_from_cli("http://other.example.org/dicom-web", store_port=11113, config=config)
    with pytest.raises(UsageError, match="TLS options"):
        node_from_cli("archive", tls_ca=tmp_path / "ca.pem", config=config)


def test_a_missing_secret_is_named_when_the_node_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARCHIVE_TOKEN", raising=False)
    config = load_config(write(tmp_path, NODES))  # reading the file needs no secret
    assert isinstance(config.resolve_any("pacs1"), Node)
    with pytest.raises(UsageError, match="environment variable ARCHIVE_TOKEN is not set"):
        resolve_any_node("archive", config=config)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"url": "ftp://x/"}, "not a DICOMweb URL"),
        ({"url": "https://u:p@x/dicom-web"}, "must not hold a user name or password"),
        ({"url": "https://x/", "token_env": "A", "username": "u"}, "not both"),
        ({"url": "https://x/", "username": "u"}, "needs username and password_env"),
        ({"url": "https://x/", "port": 104}, "unknown key 'port'"),
        ({"url": "https://x/", "timeouts": {"dimse": 3}}, "unknown key 'dimse'"),
        ({"url": "https://x/", "concurrency": 0}, "positive integer"),
        ({"url": "http://x/", "ca": "ca.pem"}, "https:// URLs only"),
    ],
)
def test_bad_dicomweb_tables_are_config_errors(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"nodes": {"web": table}})
