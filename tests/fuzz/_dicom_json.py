"""The ``json`` target: DICOM JSON (DICOMweb metadata) read by read_json / read_json_series.

:func:`check_json` reads any bytes as one instance's metadata and as series metadata, whole
and in chunks: only dicomref's own errors may come out of ``read_json``, nothing at all out
of ``read_json_series`` (each problem is an instance's ``error``), every UID in a summary is
a UID, and a series read in chunks reads as the same text whole (for UTF-8 text).

:func:`mutate_json` is the structure-aware mutator the harness gives libFuzzer for this
target: an input that parses as JSON is changed as a tree (a value swapped for another JSON
type, a key renamed or in another case, an element dropped or copied, a sequence nested
deeper, a vr changed …) and written back; anything else, and one time in five, gets
libFuzzer's own byte mutations.  So the fuzzer spends its time on DICOM JSON that is almost
right, where the walk's branches are.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

from dicomref.errors import DicomReadError, DicomrefError
from dicomref.extraction import JsonInstance, read_json, read_json_series
from dicomref.model import ObjectSummary

#: What a UID may be once it is in a summary (as for the reader target).
_UID = re.compile(r"[0-9.]{1,128}")
_SOURCE = "<fuzz>"


def check_json(data: bytes) -> None:
    with contextlib.suppress(DicomrefError):
        _check_uids(read_json(data, source=_SOURCE))
    whole = _series(iter((data,)))
    in_chunks = _series(_chunks(data, 7))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return  # undecodable bytes end a stream where its chunks do: the rest may differ
    assert _outline(whole) == _outline(in_chunks), f"{whole}\n{in_chunks}"


def _series(chunks: Iterator[bytes]) -> list[JsonInstance]:
    found = list(read_json_series(chunks, source=_SOURCE))
    for instance in found:
        assert (instance.summary is None) != (instance.error is None), instance
        if instance.summary is not None:
            _check_uids(instance.summary)
        else:
            assert isinstance(instance.error, DicomReadError), instance
    return found


def _outline(found: list[JsonInstance]) -> list[tuple[int, ObjectSummary | None, str]]:
    return [(i.index, i.summary, type(i.error).__name__) for i in found]


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _check_uids(summary: ObjectSummary) -> None:
    uids: list[str | None] = [
        summary.sop_class,
        summary.sop_instance,
        summary.study,
        summary.series,
        summary.frame_of_reference,
        summary.transfer_syntax,
    ]
    for ref in summary.references:
        uids += [ref.source, ref.target, ref.target_class, ref.study, ref.series]
    for uid in uids:
        assert uid is None or _UID.fullmatch(uid), f"not a UID in the summary: {uid!r}"


# -- the structure-aware mutator ---------------------------------------------------------------

_VRS = ("SQ", "UI", "IS", "DS", "US", "PN", "LO", "CS", "UN", "OB", None)
_KEYS = ("00081155", "00081150", "00081140", "0020000D", "00080018", "00091010", "7FE00010")


def mutate_json(
    data: bytes, max_size: int, seed: int, byte_mutate: Callable[[bytes, int], bytes]
) -> bytes:
    """One mutation of ``data`` (see the module docstring); at most ``max_size`` bytes."""
    rng = random.Random(seed)
    try:
        tree = json.loads(data)
    except (ValueError, RecursionError):
        tree = None
    if tree is None or rng.random() < 0.2:
        return byte_mutate(data, max_size)
    try:
        for _ in range(rng.randint(1, 3)):
            tree = _mutate(tree, rng)
        # A lone surrogate (from a "\\udXXX" escape) is written as the bytes it would be:
        # invalid UTF-8, which the reader must refuse with its own error.
        text = json.dumps(tree, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    except RecursionError:  # nested past what json.dumps writes
        return byte_mutate(data, max_size)
    return text if len(text) <= max_size else byte_mutate(data, max_size)


def _nodes(value: Any, found: list[tuple[Any, Any]]) -> None:
    """Every (container, key) pair of the tree, depth first."""
    if isinstance(value, dict):
        for key in list(value):
            found.append((value, key))
            _nodes(value[key], found)
    elif isinstance(value, list):
        for index in range(len(value)):
            found.append((value, index))
            _nodes(value[index], found)


def _random_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            rng.randint(-(2**70), 2**70),
            float(f"{rng.random():.6f}e{rng.randint(-5, 400)}"),  # up to inf
            "1.2.3",
            "\u00e9\u5c71\n../",
            "",
            [],
            {},
            [{"Alphabetic": "A^B", "Ideographic": "\u5c71"}],
            {"vr": rng.choice(_VRS), "Value": ["1.2"]},
            {"vr": "UN", "InlineBinary": "/v8A4AgAAAAIAFURBAAAADEuMgA="},
            {"vr": "OB", "BulkDataURI": "http://x/bulk"},
        ]
    )


def _mutate(tree: Any, rng: random.Random) -> Any:
    nodes: list[tuple[Any, Any]] = []
    _nodes(tree, nodes)
    if not nodes:
        return [tree] if rng.random() < 0.5 else {rng.choice(_KEYS): {"vr": "SQ", "Value": [tree]}}
    container, key = rng.choice(nodes)
    choice = rng.randrange(8)
    if choice == 0:
        container[key] = _random_value(rng)
    elif choice == 1 and isinstance(container, dict):  # rename: another tag, case or garbage
        value = container.pop(key)
        name = str(key)
        container[
            rng.choice([name.lower(), name.upper(), rng.choice(_KEYS), name[:7], name + "0"])
        ] = value
    elif choice == 2:  # drop
        del container[key]
    elif choice == 3 and isinstance(container, list):  # copy an item
        container.insert(key, container[key])
    elif choice == 4:  # nest deeper
        container[key] = (
            {"00081140": {"vr": "SQ", "Value": [container[key]]}}
            if rng.random() < 0.5
            else [container[key]]
        )
    elif choice == 5 and isinstance(container[key], dict) and "vr" in container[key]:
        container[key]["vr"] = rng.choice(_VRS)
    elif choice == 6 and isinstance(container[key], list):
        container[key] = container[key] * rng.randint(0, 3)
    else:
        container[key] = str(container[key])[: rng.randint(0, 80)]
    return tree
