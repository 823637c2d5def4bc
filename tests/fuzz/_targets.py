"""What each fuzzing harness checks, as plain functions: the harnesses call them with the
fuzzer's bytes, and ``tests/test_fuzz.py`` calls them with every committed crash and seed.

- :func:`check_reader`: any bytes, as a file, give an :class:`ObjectSummary` or one of
  dicomref's own errors (:class:`~dicomref.errors.DicomrefError`), never another exception.
- :func:`check_layout`: a slice of a series, edited by the fuzzer's bytes (:func:`edited`),
  read through the layout learnt from the series' first slice reads exactly as the
  element-by-element walker reads it (the same tree, or the same error).
- :func:`~_pdu.check_pdu`: any bytes a peer sends to a real server end in the connection
  closed promptly, no thread of the server dies, and the server goes on (``_pdu.py``).
- :func:`~_dicom_json.check_json`: any bytes read as DICOM JSON (one instance, series metadata
  whole and in chunks) give summaries whose UIDs are UIDs, or dicomref's own errors
  (``_dicom_json.py``; its structure-aware mutator is in :data:`MUTATORS`).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from _dicom_json import check_json, mutate_json
from _pdu import check_pdu

from dicomref.errors import DicomrefError
from dicomref.extraction import _walker, read_object
from dicomref.extraction._layout import Layouts
from dicomref.extraction._tree import DICOMDIR_CLASS

#: The generated series whose first slice teaches the layout harness its layout; the seeds in
#: ``corpus/layout`` are edit scripts on its slices (see :func:`edited`).
LAYOUT_SERIES = {"seed": 7, "slices": 4, "rows": 16, "columns": 16}


@cache
def _scratch() -> Path:
    """A private folder (on tmpfs where there is one) for the file each input becomes."""
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    return Path(tempfile.mkdtemp(prefix="dicomref-fuzz-", dir=base))


def as_file(data: bytes) -> Path:
    path = _scratch() / "input.dcm"
    path.write_bytes(data)
    return path


#: What a UID read from a file may be once it is in a summary (dicomref checks UIDs where
#: they enter: digits and dots; up to 128 characters are kept, with a warning).
_UID = re.compile(r"[0-9.]{1,128}")


def check_reader(data: bytes) -> None:
    """Read ``data`` as a file; only dicomref's own errors may come out, and every UID in
    the summary is a UID (nothing that could break an output line or a path)."""
    path = as_file(data)
    try:
        summary = read_object(path)
    except DicomrefError:
        return
    uids: list[str | None] = [
        summary.sop_class,
        summary.sop_instance,
        summary.study,
        summary.series,
    ]
    for ref in summary.references:
        uids += [ref.source, ref.target, ref.target_class, ref.study, ref.series]
    for uid in uids:
        assert uid is None or _UID.fullmatch(uid), f"not a UID in the summary: {uid!r}"


@cache
def _series() -> tuple[Layouts, tuple[bytes, ...]]:
    """The seed series' slices, and a fresh layout cache that has learnt them in turn."""
    from dicomref.sample import generate_sample

    folder = _scratch() / "series"
    if not folder.exists():
        generate_sample(folder, **LAYOUT_SERIES)
    slices = tuple(p.read_bytes() for p in sorted((folder / "study1" / "CT_1").iterdir()))
    layouts = Layouts()
    for data in slices:  # as read_header learns: a miss is walked, then learnt from
        if layouts.read(data[: _walker.FIRST_READ], len(data)) is None:
            walker = _walker._Walker("<seed>", None, len(data), data)
            walker.read_file()
            layouts.learn(data[: _walker.FIRST_READ], len(data), walker.dataset_start)
    return layouts, slices


def edited(script: bytes) -> bytes:
    """A slice of the seed series changed by ``script``: its first byte picks the slice,
    then each 4 bytes are one edit (op, offset as 2 bytes, value): overwrite, insert or
    delete a byte, or cut the file there.  Edits keep most of the layout, so the fuzzer
    spends its time on files a layout may match."""
    slices = _series()[1]
    if not script:
        return slices[0]
    data = bytearray(slices[script[0] % len(slices)])
    for at in range(1, len(script) - 3, 4):
        op, offset, value = (
            script[at] % 4,
            int.from_bytes(script[at + 1 : at + 3], "little"),
            script[at + 3],
        )
        offset %= max(len(data), 1)
        if op == 0 and data:
            data[offset] = value
        elif op == 1:
            data.insert(offset, value)
        elif op == 2 and data:
            del data[offset]
        elif op == 3:
            del data[offset:]
    return bytes(data)


def _outcome(read: Callable[[], object]) -> object:
    try:
        return read()
    except DicomrefError as error:
        return f"{type(error).__name__}: {error}"


def check_layout(script: bytes) -> None:
    """Where the learnt layout matches the edited slice, its reading must be the walker's."""
    layouts = _series()[0]
    data = edited(script)
    matched = layouts.read(data[: _walker.FIRST_READ], len(data))
    if (
        matched is None
        or matched.media == DICOMDIR_CLASS
        or matched.syntax in _walker.PYDICOM_SYNTAXES
    ):
        return  # read_header hands these to the walker or to pydicom, as it does here
    label = "<fuzz>"

    def through_layout() -> object:
        walker = _walker._Walker(label, None, len(data), data)
        for tag, start, end in matched.sequences:
            matched.tree[tag], _ = walker.sequence(start, end, False, 1, tag)
        return matched.syntax, matched.media, matched.tree

    def walked() -> object:
        return _walker._Walker(label, None, len(data), data).read_file()

    laid, walk = _outcome(through_layout), _outcome(walked)
    assert laid == walk, f"layout read {laid!r}\nwalker read {walk!r}"


TARGETS: dict[str, Callable[[bytes], None]] = {
    "reader": check_reader,
    "layout": check_layout,
    "pdu": check_pdu,
    "json": check_json,
}

#: Structure-aware mutators, by target: (data, max_size, seed, libFuzzer's mutate) → bytes.
MUTATORS: dict[str, Callable[[bytes, int, int, Callable[[bytes, int], bytes]], bytes]] = {
    "json": mutate_json,
}
