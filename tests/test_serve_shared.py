"""Two ``dicomref serve`` processes sharing one PostgreSQL catalog (a team's set-up): what
one stores, the other finds and serves; the same object stored into both at once is
indexed once, and the second copy is deduplicated (same content) or refused with 0x0111
(other content), as one server does with a duplicate."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import CTImageStorage

from dicomref.catalog import Catalog
from serve_support import STUDY_FIND, ServeCommand, query, raw_association
from servers import clone_ct

DUPLICATE_SOP_INSTANCE = 0x0111


@pytest.fixture
def pair(postgres_url: str, tmp_path: Path) -> Iterator[tuple[ServeCommand, ServeCommand]]:
    """Two servers, each with its own store, started at the same time on one new catalog
    (both migrate it: one waits for the other)."""
    servers = [
        ServeCommand(postgres_url, tmp_path / f"serve{i}.log", "--store", str(tmp_path / f"st{i}"))
        for i in (1, 2)
    ]
    with ThreadPoolExecutor(2) as pool:
        started = list(pool.map(lambda s: s.start(), servers))
    try:
        yield started[0], started[1]
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert server.problems() == [] or all("0x0111" in p for p in server.problems())


def _store(port: int, path: Path) -> int:
    with raw_association(port, calling="SENDER", storage=[CTImageStorage]) as assoc:
        assert assoc.is_established
        return int(assoc.send_c_store(path).Status)


def _find_images(port: int, sop_uids: list[str]) -> set[str]:
    identifier = query("IMAGE", SOPInstanceUID="\\".join(sop_uids))
    with raw_association(port, relational=True) as assoc:
        found = set()
        for status, answer in assoc.send_c_find(identifier, STUDY_FIND):
            if answer is not None and int(status.Status) in (0xFF00, 0xFF01):
                found.add(str(answer.SOPInstanceUID))
    return found


def _sop(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_what_one_server_stores_the_other_finds(
    pair: tuple[ServeCommand, ServeCommand], postgres_url: str, tmp_path: Path
) -> None:
    first, second = pair
    paths = clone_ct(tmp_path / "in", 3)
    uids = [_sop(p) for p in paths]
    assert [_store(first.port, p) for p in paths] == [0, 0, 0]
    assert _find_images(second.port, uids) == set(uids)
    with Catalog(postgres_url) as catalog:
        assert all(len(catalog.locate(uid)) == 1 for uid in uids)


def test_one_object_stored_into_both_at_once_is_indexed_once(
    pair: tuple[ServeCommand, ServeCommand], postgres_url: str, tmp_path: Path
) -> None:
    first, second = pair
    paths = clone_ct(tmp_path / "in", 12)
    barrier = threading.Barrier(2)

    def send_all(port: int) -> list[int]:
        barrier.wait()
        return [_store(port, p) for p in paths]

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(send_all, [first.port, second.port]))
    assert statuses == [[0] * len(paths)] * 2  # the same content: success, deduplicated
    with Catalog(postgres_url) as catalog:
        for path in paths:
            [held] = catalog.locate(_sop(path))
            assert Path(held.path).read_bytes()[128:132] == b"DICM"
    kept = sorted(p for p in (tmp_path / "st1").rglob("*.dcm")) + sorted(
        (tmp_path / "st2").rglob("*.dcm")
    )
    assert len(kept) == len(paths)  # the second copy of each was not kept


def test_other_content_under_one_uid_stored_into_both_at_once_is_refused_once(
    pair: tuple[ServeCommand, ServeCommand], postgres_url: str, tmp_path: Path
) -> None:
    first, second = pair
    rounds = 6
    originals = clone_ct(tmp_path / "a", rounds)
    changed = []
    for path in originals:
        ds = pydicom.dcmread(path)
        ds.PatientName = "Other^Content"
        copy = tmp_path / "b" / path.name
        copy.parent.mkdir(exist_ok=True)
        ds.save_as(copy, enforce_file_format=True)
        changed.append(copy)
    barrier = threading.Barrier(2)

    def send(port: int, path: Path) -> int:
        barrier.wait()
        return _store(port, path)

    for original, other in zip(originals, changed, strict=True):
        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(
                pool.map(send, [first.port, second.port], [original, other]),
            )
        assert statuses == [0, DUPLICATE_SOP_INSTANCE]
        with Catalog(postgres_url) as catalog:
            [held] = catalog.locate(_sop(original))
        assert Path(held.path).is_file()
