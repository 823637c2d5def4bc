"""Header layouts (extraction/_layout.py): a match reads exactly what the walker reads, and
anything a layout cannot vouch for goes to the walker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

import extraction_corpus as corpus
from dicomref.errors import DicomReadError
from dicomref.extraction import _layout, _walker
from dicomref.extraction._layout import Layouts
from dicomref.extraction._tree import Item
from dicomref.sample import generate_sample

TEST_FILES = Path(str(get_testdata_file("CT_small.dcm"))).parent


@pytest.fixture
def layouts(monkeypatch: pytest.MonkeyPatch) -> Layouts:
    """A fresh cache in place of the process's own, so each test starts from nothing."""
    fresh = Layouts()
    monkeypatch.setattr(_walker, "_LAYOUTS", fresh)
    return fresh


def walked(path: Path) -> tuple[str | None, str | None, Item | None]:
    """What the walker alone reads (no layout involved)."""
    data = path.read_bytes()
    walker = _walker._Walker(str(path), None, len(data), data)
    return walker.read_file()


def first_read(path: Path) -> tuple[bytes, int]:
    data = path.read_bytes()
    return data[: _walker.FIRST_READ], len(data)


def laid_out(layouts: Layouts, path: Path) -> tuple[str | None, str | None, Item] | None:
    """What the layouts read of ``path`` (top-level sequences read as read_header does)."""
    buf, size = first_read(path)
    matched = layouts.read(buf, size)
    if matched is None:
        return None
    walker = _walker._Walker(str(path), None, size, path.read_bytes())
    for tag, start, end in matched.sequences:
        matched.tree[tag], _ = walker.sequence(start, end, False, 1, tag)
    return matched.syntax, matched.media, matched.tree


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str | None]]:
    folder = tmp_path_factory.mktemp("layout") / "patient"
    return [(o.path, o.modality) for o in generate_sample(folder, slices=200).objects]


def test_every_sample_file_reads_alike_through_layouts(
    layouts: Layouts, sample: list[tuple[Path, str | None]]
) -> None:
    """Read in scan order, most files come through a layout, all exactly as walked."""
    for path, _ in sample:
        header = _walker.read_header(path)
        assert (header.transfer_syntax, header.media_class, header.tree) == walked(path)
    slices = sum(1 for _, modality in sample if modality == "CT")
    assert layouts.hits >= slices * 0.9
    assert layouts.learnt <= 12


def readable_test_files() -> Iterator[Path]:
    for path in sorted(TEST_FILES.glob("*.dcm")):
        try:
            walked(path)
        except DicomReadError:
            continue
        yield path


@pytest.mark.parametrize("path", list(readable_test_files()), ids=lambda p: p.name)
def test_a_file_read_through_its_own_layout_reads_as_walked(layouts: Layouts, path: Path) -> None:
    """pydicom's test files: learnt from themselves, a layout gives the walker's tree."""
    _walker.read_header(path)  # walks it, learns it if it can be laid out
    again = laid_out(layouts, path)
    if again is not None:
        assert again == walked(path)


def test_some_test_files_can_be_laid_out(layouts: Layouts) -> None:
    for name in ("CT_small.dcm", "MR_small.dcm", "test-SR.dcm", "SC_rgb_rle.dcm"):
        path = TEST_FILES / name
        _walker.read_header(path)
        assert laid_out(layouts, path) == walked(path), name


def ct_file(
    folder: Path, sop: str, position: str, *, extra: dict[int, bytes] | None = None
) -> Path:
    elements = corpus.identity(sop=sop)
    elements[0x00080060] = corpus.element(0x00080060, "CS", "CT")
    elements[0x00100010] = corpus.element(0x00100010, "PN", "Test^Patient")
    elements[0x00200032] = corpus.element(0x00200032, "DS", position)
    elements[0x7FE00010] = corpus.element(0x7FE00010, "OW", bytes(512))
    elements.update(extra or {})
    return corpus.write(folder / f"{sop}.dcm", corpus.part10(corpus.dataset(elements)))


def test_lengths_that_change_become_variable(layouts: Layouts, tmp_path: Path) -> None:
    """A sibling that differs only in a value's length misses once; the relearnt layout
    lets that value vary, and reads the next siblings."""
    first = ct_file(tmp_path, "1.2.3.9", "0\\0\\9")
    _walker.read_header(first)
    longer = ct_file(tmp_path, "1.2.3.100", "0\\0\\100")
    assert laid_out(layouts, longer) is None  # lengths differ: not this layout
    _walker.read_header(longer)  # walked, and learnt again with those lengths variable
    for number in (11, 123, 4567):
        sibling = ct_file(tmp_path, f"1.2.3.{number}", f"-1.5\\0\\{number}.25")
        assert laid_out(layouts, sibling) == walked(sibling)
    assert layouts.learnt == 2


def test_a_value_outside_its_characters_is_not_matched(layouts: Layouts, tmp_path: Path) -> None:
    _walker.read_header(ct_file(tmp_path, "1.2.3.9", "0\\0\\9"))
    _walker.read_header(ct_file(tmp_path, "1.2.3.100", "0\\0\\100"))  # position varies
    odd = ct_file(tmp_path, "1.2.3.11", "0\\0\\x1")  # not a decimal string
    assert laid_out(layouts, ct_file(tmp_path, "1.2.3.12", "0\\0\\12")) is not None
    assert laid_out(layouts, odd) is None


def outcome(read: Callable[[], object], path: Path) -> object:
    """What reading gives: the result, or the error's message without the path."""
    try:
        return read()
    except DicomReadError as error:
        return str(error).replace(str(path), "<path>")


@pytest.mark.parametrize("cut", [-1, -300, -514, -520, -523, -530, -540])
def test_damaged_siblings_go_to_the_walker(layouts: Layouts, tmp_path: Path, cut: int) -> None:
    """A truncated sibling of a learnt file is never matched: reading it gives what the
    walker alone gives (the same error, or for a cut pixel data header, the same tree)."""
    _walker.read_header(ct_file(tmp_path, "1.2.3.1", "0\\0\\1"))
    whole = ct_file(tmp_path, "1.2.3.2", "0\\0\\2")
    damaged = corpus.write(tmp_path / "damaged.dcm", whole.read_bytes()[:cut])
    assert laid_out(layouts, damaged) is None

    def through_cache() -> object:
        header = _walker.read_header(damaged)
        return header.transfer_syntax, header.media_class, header.tree

    assert outcome(through_cache, damaged) == outcome(lambda: walked(damaged), damaged)


def test_private_value_that_starts_with_an_item_goes_to_the_walker(
    layouts: Layouts, tmp_path: Path
) -> None:
    """The walker may read such a value as a sequence: a layout never skips one."""
    plain = {0x00091010: corpus.element(0x00091010, "OB", bytes(16))}
    _walker.read_header(ct_file(tmp_path, "1.2.3.1", "0\\0\\1", extra=plain))
    hidden = {0x00091010: corpus.element(0x00091010, "OB", corpus.item(bytes(8), undefined=False))}
    sibling = ct_file(tmp_path, "1.2.3.2", "0\\0\\2", extra=hidden)
    assert laid_out(layouts, sibling) is None


def test_top_level_sequences_are_read_by_the_walker(layouts: Layouts, tmp_path: Path) -> None:
    def referencing(sop: str, target: str) -> Path:
        ref = corpus.element(0x00081150, "UI", corpus.CT) + corpus.element(0x00081155, "UI", target)
        items = [corpus.item(ref, undefined=False)]
        extra = {0x00081140: corpus.sequence(0x00081140, items, undefined=False)}
        return ct_file(tmp_path, sop, "0\\0\\1", extra=extra)

    _walker.read_header(referencing("1.2.3.1", "1.2.3.100"))
    sibling = referencing("1.2.3.2", "1.2.3.200")
    read = laid_out(layouts, sibling)
    assert read is not None and read == walked(sibling)
    assert read[2][0x00081140] == [
        {0x00081150: corpus.pad(corpus.CT.encode(), "UI"), 0x00081155: b"1.2.3.200\0"}
    ]


def test_learning_stops_when_layouts_do_not_pay(layouts: Layouts, tmp_path: Path) -> None:
    for index in range(_layout.FREE_LEARNS + 5):  # every file laid out differently
        extra = {0x00091010: corpus.element(0x00091010, "OB", bytes(2 * (index + 1)))}
        _walker.read_header(ct_file(tmp_path, f"1.2.3.{index}", "0\\0\\1", extra=extra))
    assert layouts.learnt == _layout.FREE_LEARNS
    assert layouts.hits == 0


def test_files_without_preamble_are_not_learnt(layouts: Layouts, tmp_path: Path) -> None:
    data = ct_file(tmp_path, "1.2.3.1", "0\\0\\1").read_bytes()[132:]
    path = corpus.write(tmp_path / "bare.dcm", data)
    _walker.read_header(path)
    assert layouts.learnt == 0


def test_sizes_in_the_first_read(tmp_path: Path) -> None:
    """A header that does not fit the first read is not laid out (the walker reads on)."""
    big = {0x00091010: corpus.element(0x00091010, "OB", bytes(_walker.FIRST_READ))}
    path = ct_file(tmp_path, "1.2.3.1", "0\\0\\1", extra=big)
    buf, size = first_read(path)
    assert size > len(buf)
    assert _layout._elements(buf, size, 132 + 0) is None
