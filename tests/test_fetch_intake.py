"""What a retrieve's storage callback does with what arrives: the wanted objects go into the
store (flushed and renamed by flushing threads, all in place once ``sync`` returns), the
others into the holding folder; an object whose flush fails is dropped, not reported."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from dicomref.model import InstanceKey
from dicomref.remote.fetching._intake import Batch
from dicomref.remote.transport._encode import encode
from dicomref.store import ManagedStore

CT = "1.2.840.10008.5.1.4.1.1.2"


def _object(sop: str, series: str = "1.2.3") -> tuple[Dataset, bytes]:
    dataset = Dataset()
    dataset.StudyInstanceUID = "1.2"
    dataset.SeriesInstanceUID = series
    dataset.SOPInstanceUID = sop
    dataset.SOPClassUID = CT
    dataset.Modality = "CT"
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = UID(CT)
    dataset.file_meta.MediaStorageSOPInstanceUID = UID(sop)
    return dataset, encode(dataset)


def test_wanted_objects_are_in_place_after_sync_the_rest_held(tmp_path: Path) -> None:
    store = ManagedStore(tmp_path / "store")
    sizes: list[int] = []
    wanted = {f"1.2.3.{n}" for n in range(20)}
    batch = Batch(store, tmp_path / "holding", frozenset(wanted), sizes.append)
    for n in range(25):
        dataset, data = _object(f"1.2.3.{n}")
        batch.store_file(dataset, data)
    assert batch.count() == 25 and len(sizes) == 25
    batch.sync()
    arrivals = batch.arrivals
    assert {a.key.sop for a in arrivals if a.kept} == wanted
    for arrival in arrivals:
        assert arrival.path.is_file() and arrival.path.stat().st_size == arrival.size
        assert arrival.path.is_relative_to(store.root if arrival.kept else tmp_path / "holding")
    assert list(store.root.rglob(".*.part")) == []
    flushing = [t for t in threading.enumerate() if t.name.startswith("dicomref-flush")]
    assert not any(t.is_alive() for t in flushing)


def test_an_object_whose_flush_fails_is_dropped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ManagedStore(tmp_path / "store")
    bad, bad_data = _object("1.2.3.9")
    good, good_data = _object("1.2.3.8")
    target = store.path_for(InstanceKey("1.2", "1.2.3", "1.2.3.9"), "CT")
    (target / "inside").mkdir(parents=True)  # a folder where the file should go: the rename fails
    batch = Batch(store, tmp_path / "holding", frozenset({"1.2.3.8", "1.2.3.9"}))
    with caplog.at_level(logging.ERROR, logger="dicomref"):
        batch.store_file(bad, bad_data)
        batch.store_file(good, good_data)
        batch.sync()
    assert [a.key.sop for a in batch.arrivals] == ["1.2.3.8"]
    assert "could not store SOP Instance 1.2.3.9" in caplog.text
    assert list(store.root.rglob(".*.part")) == []


def test_objects_kept_are_read_back_by_the_flushing_threads(tmp_path: Path) -> None:
    store = ManagedStore(tmp_path / "store")
    batch = Batch(store, tmp_path / "holding", frozenset({"1.2.3.1", "1.2.3.2"}))
    for sop in ("1.2.3.1", "1.2.3.2"):
        batch.store_file(*_object(sop))
    batch.sync()
    for arrival in batch.arrivals:
        assert arrival.summary is not None
        assert arrival.summary.sop_instance == arrival.key.sop
        assert arrival.summary.path == str(arrival.path)


def test_with_drop_the_objects_not_wanted_are_counted_not_written(tmp_path: Path) -> None:
    store = ManagedStore(tmp_path / "store")
    batch = Batch(store, tmp_path / "holding", frozenset({"1.2.3.1"}), drop=True)
    sizes = {}
    for n in range(4):
        dataset, data = _object(f"1.2.3.{n}")
        sizes[dataset.SOPInstanceUID] = len(data)
        batch.store_file(dataset, data)
    batch.sync()
    assert batch.count() == 4
    assert [a.key.sop for a in batch.arrivals] == ["1.2.3.1"]
    assert {key.sop: size for key, size in batch.dropped} == {
        sop: size for sop, size in sizes.items() if sop != "1.2.3.1"
    }
    assert not (tmp_path / "holding").exists()
