"""The managed store: atomic writes, and paths that never come from raw UIDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomref.errors import UsageError
from dicomref.model import InstanceKey
from dicomref.store import ManagedStore, Stored, modality_token

HOSTILE = [
    "../../../etc/passwd",
    "/absolute/path",
    "1.2.3\x00.4",
    "9" * 5000,
    "not a uid at all",
    "",
]


@pytest.mark.parametrize("uid", HOSTILE)
def test_paths_stay_inside_the_root_whatever_the_uid(tmp_path: Path, uid: str) -> None:
    store = ManagedStore(tmp_path / "store")
    key = InstanceKey(uid, uid, uid)
    stored = store.write(key, b"DICM" * 10, modality="../CT")
    root = (tmp_path / "store").resolve()
    assert stored.path.resolve().is_relative_to(root)
    assert len(stored.path.name) < 60
    assert uid not in str(stored.path.relative_to(root)) or uid == ""
    assert stored.path.read_bytes() == b"DICM" * 10


def test_existing_object_is_kept_unless_replaced(tmp_path: Path) -> None:
    store = ManagedStore(tmp_path)
    key = InstanceKey("1.2", "1.2.3", "1.2.3.4")
    first = store.write(key, b"one", "CT")
    again = store.write(key, b"two", "CT")
    assert (first.existed, again.existed) == (False, True)
    assert again.path.read_bytes() == b"one"
    assert store.write(key, b"two", "CT", replace=True).path.read_bytes() == b"two"
    assert store.has(key, "CT")


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = ManagedStore(tmp_path)
    key = InstanceKey("1.2", "1.2.3", "1.2.3.4")

    with pytest.raises(TypeError):
        store.write(key, 42, "CT")  # type: ignore[arg-type]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    (store.path_for(key, "CT").parent / ".x.part").write_bytes(b"half")
    assert store.clean() == 1


def test_modality_token_and_bad_root(tmp_path: Path) -> None:
    assert modality_token("rt struct/../") == "RTSTRUCT"
    assert modality_token(None) == "OT"
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        ManagedStore(tmp_path / "file")


def test_a_staged_object_is_in_place_only_once_committed(tmp_path: Path) -> None:
    store = ManagedStore(tmp_path)
    key = InstanceKey("1.2", "1.2.3", "1.2.3.4")
    staged = store.stage(key, b"DICM", "CT")
    assert not isinstance(staged, Stored)
    assert not store.has(key, "CT")
    assert staged.temp.read_bytes() == b"DICM" and staged.temp.name.startswith(".")
    stored = staged.commit()
    assert (stored.path, stored.size, stored.existed) == (store.path_for(key, "CT"), 4, False)
    assert stored.path.read_bytes() == b"DICM" and not staged.temp.exists()
    again = store.stage(key, b"other", "CT")
    assert isinstance(again, Stored) and again.existed


def test_a_failed_commit_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = ManagedStore(tmp_path)
    key = InstanceKey("1.2", "1.2.3", "1.2.3.4")
    blocker = store.path_for(key, "CT")
    (blocker / "inside").mkdir(parents=True)  # a folder where the file should go
    staged = store.stage(key, b"DICM", "CT")
    assert not isinstance(staged, Stored)
    with pytest.raises(OSError):
        staged.commit()
    assert list(blocker.parent.glob(".*.part")) == []
