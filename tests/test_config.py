"""Named nodes from nodes.toml, and the command-line options that override them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomref._dimse._node import DEFAULT_OUR_AE, Node, Timeouts
from dicomref.cli._remote_options import RetrieveChoice, node_from_cli
from dicomref.errors import ConfigError, UsageError
from dicomref.remote._config import (
    CONFIG_ENV,
    CONFIG_FILENAME,
    default_config_path,
    load_config,
    parse_config,
    resolve_node,
)

NODES = """
[defaults]
our_ae = "MYSCU"
store_port = 11113
timeouts = { dimse = 300 }

[nodes.pacs1]
ae = "ORTHANC"
host = "127.0.0.1"
port = 4242
retrieve = "move"
timeouts = { connect = 5 }

[nodes.archive]
ae = "ARCHIVE"
host = "archive.example.org"
port = 104
our_ae = "OTHERSCU"
store_port = 11200
retrieve = "get"
"""


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read the nodes file of whoever runs the tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def write(tmp_path: Path, text: str, name: str = CONFIG_FILENAME) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_named_node_takes_its_table_then_the_defaults(tmp_path: Path) -> None:
    config = write(tmp_path, NODES)
    node = resolve_node("pacs1", config=config)
    assert node == Node(
        "ORTHANC",
        "127.0.0.1",
        4242,
        our_ae="MYSCU",
        store_port=11113,
        retrieve="move",
        timeouts=Timeouts(connect=5.0, dimse=300.0),
    )
    archive = resolve_node("archive", config=config)
    assert (archive.our_ae, archive.store_port, archive.retrieve) == ("OTHERSCU", 11200, "get")
    assert archive.timeouts == Timeouts(dimse=300.0)


def test_the_caller_overrides_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, NODES)
    node = resolve_node("archive", config=config, our_ae="CLI", store_port=2000, retrieve="move")
    assert (node.our_ae, node.store_port, node.retrieve) == ("CLI", 2000, "move")
    assert node.ae_title == "ARCHIVE"


def test_an_address_takes_the_defaults_and_a_matching_nodes_settings(tmp_path: Path) -> None:
    config = write(tmp_path, NODES)
    plain = resolve_node("OTHER@10.0.0.9:11112", config=config)
    assert (plain.ae_title, plain.host, plain.port) == ("OTHER", "10.0.0.9", 11112)
    assert (plain.our_ae, plain.store_port, plain.retrieve) == ("MYSCU", 11113, "auto")
    same_as_pacs1 = resolve_node("ORTHANC@127.0.0.1:4242", config=config)
    assert same_as_pacs1 == resolve_node("pacs1", config=config)


def test_without_a_file_an_address_takes_the_built_in_defaults(tmp_path: Path) -> None:
    assert not default_config_path().exists()
    node = resolve_node("PACS@pacs.example.org:104")
    assert node == Node("PACS", "pacs.example.org", 104)
    assert node.our_ae == DEFAULT_OUR_AE


def test_the_file_is_found_in_the_user_config_folder_or_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "xdg" / "dicomref"
    folder.mkdir(parents=True)
    write(folder, NODES)
    assert default_config_path() == folder / CONFIG_FILENAME
    assert resolve_node("pacs1").port == 4242
    other = write(tmp_path, '[nodes.env]\nae = "E"\nhost = "h"\nport = 1\n', "other.toml")
    monkeypatch.setenv(CONFIG_ENV, str(other))
    assert default_config_path() == other
    assert resolve_node("env").ae_title == "E"
    with pytest.raises(ConfigError, match="no node named 'pacs1'"):
        resolve_node("pacs1")


def test_an_unknown_name_says_where_it_looked_and_what_to_write(tmp_path: Path) -> None:
    config = write(tmp_path, NODES)
    with pytest.raises(ConfigError) as caught:
        resolve_node("pacs2", config=config)
    message = str(caught.value)
    assert str(config) in message
    assert "archive, pacs1" in message
    assert "[nodes.pacs2]" in message and "AE@host:port" in message
    with pytest.raises(ConfigError, match="does not exist") as missing:
        resolve_node("pacs2")
    assert str(default_config_path()) in str(missing.value)


def test_a_named_file_that_does_not_exist_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=f"gone.toml.*{CONFIG_ENV}"):
        resolve_node("PACS@host:104")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[nodes.pacs1\nae = 1", r"not valid TOML.*line 1"),
        ('[nodes.pacs1]\nae = "A"\nhost = "h"\n', r"\[nodes\.pacs1\] lacks 'port'"),
        ('[nodes.pacs1]\nhost = "h"\n', r"(?s)lacks 'ae', 'port'.*port = 104"),
        (
            '[nodes.p]\nae = "A"\nhost = "h"\nport = "104"\n',
            r"nodes\.p\.port must be a TCP port.*'104'",
        ),
        ('[nodes.p]\nae = "A"\nhost = "h"\nport = 70000\n', r"nodes\.p\.port must be a TCP port"),
        ('[nodes.p]\nae = "A"\nhost = "h"\nport = 1\nadress = "x"\n', r"unknown key 'adress'"),
        ('[nodes.p]\nae = "A"\nhost = "h"\nport = 1\nretrieve = "fetch"\n', r"retrieve must be"),
        ('[nodes.p]\nae = "A"\nhost = "h"\nport = 1\ntimeouts = 5\n', r"timeouts must be a table"),
        (
            '[nodes.p]\nae = "A"\nhost = "h"\nport = 1\ntimeouts = { dimse = 0 }\n',
            r"nodes\.p\.timeouts\.dimse must be a positive number",
        ),
        (
            '[nodes.p]\nae = "A"\nhost = "h"\nport = 1\ntimeouts = { idle = 3 }\n',
            r"unknown key 'idle'",
        ),
        ('[nodes.p]\nae = "TOO_LONG_AE_TITLE_X"\nhost = "h"\nport = 1\n', r"\[nodes\.p\]: .*AE"),
        ('[defaults]\nour_ae = "A\\\\B"\n', r"defaults\.our_ae"),
        ("[defaults]\nstore_port = 0\n", r"defaults\.store_port must be a TCP port"),
        ("nodes = 3\n", r"nodes must be a table"),
        ('[node.p]\nae = "A"\n', r"unknown top-level key 'node'"),
        ('[nodes."a@b"]\nae = "A"\nhost = "h"\nport = 1\n', r"must not .* contain '@'"),
    ],
)
def test_bad_files_are_config_errors_naming_the_file_and_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    config = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as caught:
        resolve_node("PACS@host:104", config=config)
    assert str(caught.value).startswith(str(config))


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / CONFIG_FILENAME
    config.write_bytes(b'[nodes.p]\nae = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(config)


def test_bad_values_from_the_caller_are_usage_errors(tmp_path: Path) -> None:
    config = write(tmp_path, NODES)
    with pytest.raises(UsageError, match="calling AE title"):
        resolve_node("pacs1", config=config, our_ae="X" * 17)
    with pytest.raises(UsageError, match="AE@host:port"):
        resolve_node("PACS@host", config=config)


def test_a_configuration_built_in_code() -> None:
    config = parse_config({"nodes": {"a": {"ae": "A", "host": "h", "port": 1}}})
    assert config.path is None
    assert config.resolve("a") == Node("A", "h", 1)
    with pytest.raises(ConfigError, match="the configuration"):
        parse_config({"nodes": {"a": {"ae": "A"}}})


def test_node_from_cli(tmp_path: Path) -> None:
    config = write(tmp_path, NODES)
    node = node_from_cli("pacs1", ae="CLIAE", retrieve=RetrieveChoice.GET, config=config)
    assert isinstance(node, Node)
    assert (node.our_ae, node.retrieve, node.store_port) == ("CLIAE", "get", 11113)
    auto = node_from_cli("pacs1", retrieve="AUTO", config=config)
    assert isinstance(auto, Node) and auto.retrieve == "auto"
    with pytest.raises(UsageError, match="--retrieve must be one of move, get, auto"):
        node_from_cli("pacs1", retrieve="fetch", config=config)
