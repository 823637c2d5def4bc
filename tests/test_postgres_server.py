"""The throwaway PostgreSQL server the catalog tests run on (tests/servers/_postgres.py)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from servers import (
    LOOPBACK,
    PostgresServer,
    ServerUnavailableError,
    _postgres,
    port_open,
    unavailable,
)


def test_it_listens_on_loopback_only_with_its_socket_in_its_own_folder(
    postgres_server: PostgresServer,
) -> None:
    with psycopg.connect(postgres_server.conninfo()) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('listen_addresses', 'unix_socket_directories', 'data_directory', 'port')"
            ).fetchall()
        )
    assert settings["listen_addresses"] == LOOPBACK
    assert int(settings["port"]) == postgres_server.port
    assert Path(settings["data_directory"]).parent == Path(settings["unix_socket_directories"])
    assert "/var/run" not in settings["unix_socket_directories"]
    if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres user
        owner = Path(settings["data_directory"]).stat().st_uid
        assert owner == pwd.getpwnam("postgres").pw_uid


def test_databases_are_made_and_dropped(postgres_server: PostgresServer) -> None:
    first = postgres_server.new_database("probe")
    second = postgres_server.new_database("probe")
    assert first != second
    name = make_url(first).database
    assert name is not None
    with psycopg.connect(postgres_server.conninfo(name)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (name,)
    for url in (first, second):
        postgres_server.drop_database(str(make_url(url).database))
    postgres_server.drop_database(name)  # already gone: no error
    with pytest.raises(ValueError, match="letters, digits"):
        postgres_server.create_database('x"; DROP DATABASE postgres; --')


def test_a_missing_postgresql_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_postgres, "postgres_bin_dir", lambda: None)
    with pytest.raises(ServerUnavailableError, match="apt-get install postgresql"):
        PostgresServer(tmp_path).start()


def test_stop_leaves_nothing_running(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path)
    try:
        server.start()
    except ServerUnavailableError as exc:
        unavailable(str(exc))  # a skip, or a failure under CI=true
    home = server.log_path.parent
    assert port_open(LOOPBACK, server.port)
    server.stop()
    assert not server.running
    assert not port_open(LOOPBACK, server.port)
    if os.geteuid() == 0:
        assert not home.exists()  # the folder made for the postgres user is removed
    server.stop()  # idempotent
