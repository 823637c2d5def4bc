"""Starting test servers from pytest fixtures: skip where a server cannot run, but FAIL
when the environment variable CI is "true" (CI must have every server)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import NoReturn, TypeVar

import pytest

from ._base import DicomServer
from ._dcmtk import require_dcmtk
from ._errors import ServerUnavailableError

S = TypeVar("S", bound=DicomServer)


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``; fail it instead when running in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: every test server must be available)", pytrace=False)
    pytest.skip(reason)


def dcmtk_for_test(name: str) -> str:
    """DCMTK's program ``name`` (checked by its --version: not pynetdicom's script of that
    name); skip the test where it is missing, fail it in CI."""
    try:
        return require_dcmtk(name)
    except ServerUnavailableError as exc:
        unavailable(str(exc))


@contextlib.contextmanager
def running(server: S) -> Iterator[S]:
    """Start ``server`` (skip/fail if it cannot run here), yield it, always stop it."""
    try:
        server.start()
    except ServerUnavailableError as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()
