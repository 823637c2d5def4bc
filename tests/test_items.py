"""Item layouts (extraction/_items.py): the items of a long sequence read at once give the
walker's tree exactly, and whatever does not fit goes to the walker, errors included."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

import extraction_corpus as corpus
from dicomref.errors import DicomReadError
from dicomref.extraction import _items, _walker
from dicomref.extraction._layout import Layouts
from dicomref.extraction._tree import Item
from dicomref.sample import generate_sample

ROI_CONTOUR = 0x30060039
CONTOUR = 0x30060040


@pytest.fixture
def laid_out(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the runs of items read through a layout (one entry per run: its length)."""
    runs: list[int] = []
    real = _items.ItemLayout.read

    def spy(self: _items.ItemLayout, buf: bytes, start: int, end: int) -> list[Item] | None:
        items = real(self, buf, start, end)
        if items is not None:
            runs.append(len(items))
        return items

    monkeypatch.setattr(_items.ItemLayout, "read", spy)
    monkeypatch.setattr(_walker, "_LAYOUTS", Layouts())  # headers walked, not matched
    return runs


def outcome(path: Path) -> object:
    """What reading gives: the tree, or the error's message."""
    try:
        return _walker.read_header(path).tree
    except DicomReadError as error:
        return str(error)


def walked_only(path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """What the walker alone gives, with no item layout."""
    with monkeypatch.context() as patch:
        patch.setattr(_walker, "MIN_ITEMS", 10**9)
        return outcome(path)


def test_sample_structure_sets_read_alike(
    laid_out: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sample = generate_sample(tmp_path / "patient", slices=60)
    structure_sets = [o.path for o in sample.objects if o.modality == "RTSTRUCT"]
    assert structure_sets
    for path in structure_sets:
        assert outcome(path) == walked_only(path, monkeypatch)
    assert sum(laid_out) > 60  # the contours and the referenced slices went the fast way


def rtstruct(tmp_path: Path, change: Callable[[Dataset], None] | None = None) -> Path:
    ds = corpus.rtstruct(slices=30, rois=2)
    if change is not None:
        change(ds)
    return corpus.save(ds, tmp_path / "rtstruct.dcm")


def contours(ds: Dataset) -> list[Dataset]:
    return list(ds.ROIContourSequence[0].ContourSequence)


def extra_element(ds: Dataset) -> None:
    contours(ds)[17].ContourSlabThickness = 2.5


def two_images(ds: Dataset) -> None:
    contours(ds)[9].ContourImageSequence.append(corpus.ref(corpus.CT, corpus.slice_uid(3)))


def longer_uid(ds: Dataset) -> None:
    contours(ds)[5].ContourImageSequence[0].ReferencedSOPInstanceUID = "1.2.3.4.5.6.7.8.9.10.11"


def odd_points(ds: Dataset) -> None:
    contours(ds)[11].ContourData = [1.25] * 30


def private_tail(ds: Dataset) -> None:
    for contour in contours(ds):
        contour.add_new(0x00091010, "OB", b"\0" * 40)
    contours(ds)[12][0x00091010].value = corpus.item(b"\0" * 32, undefined=False)


@pytest.mark.parametrize(
    "change", [None, extra_element, two_images, longer_uid, odd_points, private_tail]
)
def test_items_that_differ_read_alike(
    laid_out: list[int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    change: Callable[[Dataset], None] | None,
) -> None:
    """An item laid out otherwise (an extra element, two images, a longer UID, more points,
    a private value that reads as items) sends its sequence to the walker, or fits."""
    path = rtstruct(tmp_path, change)
    assert outcome(path) == walked_only(path, monkeypatch)


def test_the_unchanged_structure_set_goes_the_fast_way(laid_out: list[int], tmp_path: Path) -> None:
    outcome(rtstruct(tmp_path))
    assert 29 in laid_out  # each ROI's contours after the first, and the slices listed


def test_undefined_lengths_go_to_the_walker(
    laid_out: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = corpus.save(corpus.undefined_lengths(corpus.rtstruct(30, 2)), tmp_path / "u.dcm")
    assert outcome(path) == walked_only(path, monkeypatch)
    assert laid_out == []


def contour_items(data: bytes) -> list[int]:
    """Offsets of the item headers of the first ContourSequence (defined lengths)."""
    head = struct.pack("<HH", CONTOUR >> 16, CONTOUR & 0xFFFF) + b"SQ\0\0"
    pos = data.index(head) + 12
    (length,) = struct.unpack_from("<I", data, pos - 4)
    offsets = []
    end = pos + length
    while pos < end:
        offsets.append(pos)
        pos += 8 + struct.unpack_from("<I", data, pos + 4)[0]
    return offsets


@pytest.mark.parametrize("damage", ["item_length", "tail_length", "uid_length", "item_tag"])
def test_damaged_items_give_the_walkers_error(
    laid_out: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: str
) -> None:
    data = bytearray(rtstruct(tmp_path).read_bytes())
    target = contour_items(bytes(data))[20]
    if damage == "item_length":
        struct.pack_into("<I", data, target + 4, struct.unpack_from("<I", data, target + 4)[0] + 2)
    elif damage == "tail_length":  # ContourData, the item's last element: its 2-byte length
        end = target + 8 + struct.unpack_from("<I", data, target + 4)[0]
        at = data.rindex(b"DS", target, end) + 2
        struct.pack_into("<H", data, at, struct.unpack_from("<H", data, at)[0] + 4)
    elif damage == "uid_length":
        at = data.index(b"\x08\x00\x55\x11UI", target) + 6
        struct.pack_into("<H", data, at, struct.unpack_from("<H", data, at)[0] + 2)
    else:
        data[target : target + 4] = b"\xfe\xff\x0d\xe0"
    path = corpus.write(tmp_path / "damaged.dcm", bytes(data))
    assert outcome(path) == walked_only(path, monkeypatch)


def test_item_layouts_are_cached_by_pattern(tmp_path: Path) -> None:
    data = rtstruct(tmp_path).read_bytes()
    first, second = contour_items(data)[:2]
    one = _items.item_layout(data, first, second)
    assert one is not None
    assert _items.item_layout(data, first, second) is one
