"""Fast encoding of many files that differ from one template in a few top-level elements.

A CT series is thousands of datasets that differ only in SOP Instance UID, Instance
Number, position and pixels.  Encoding each with pydicom costs milliseconds; this
encoder lets pydicom encode the template once, keeps the constant runs of elements
between the varying ones as bytes, and per file only encodes the varying elements
(explicit VR little endian, the File Meta Information group length recomputed).
The tests check that the result is byte-identical to pydicom's own encoding.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_dataset
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

_PREAMBLE = b"\x00" * 128 + b"DICM"
_GROUP_LENGTH_HEADER = struct.pack("<HH", 0x0002, 0x0000) + b"UL" + struct.pack("<H", 4)
_NULL_PADDED_VRS = frozenset({"UI", "OB", "OD", "OF", "OL", "OV", "OW", "UN"})

_Variable = tuple[BaseTag, str, str]
"""A varying element: its tag, VR and keyword."""
_Run = tuple[bytes, _Variable | None]


class TemplateEncoder:
    """Encode files that equal ``template`` except for the top-level elements ``variable``.

    ``variable`` are keywords of elements present in ``template`` (their values there
    are placeholders); they may include File Meta Information elements such as
    MediaStorageSOPInstanceUID.  Nothing but these may differ from file to file.

    Raises:
        ValueError: a keyword of ``variable`` is not in ``template``.
    """

    def __init__(self, template: Dataset, variable: Iterable[str]) -> None:
        # Complete and check the File Meta Information as dcmwrite does.
        validate_file_meta(template.file_meta, enforce_standard=True)
        correct_ambiguous_vr(template, True)
        keywords = set(variable)
        absent = sorted(k for k in keywords if not _holds(template, k))
        if absent:
            raise ValueError(f"variable elements absent from the template: {absent}")
        meta = Dataset()
        for element in template.file_meta:
            if element.tag != 0x00020000:
                meta.add(element)
        self._keywords = frozenset(keywords)
        self._meta = _runs(meta, keywords)
        self._body = _runs(template, keywords)

    def encode(self, values: Mapping[str, str | bytes]) -> bytes:
        """Return the file whose variable elements hold ``values`` (keyword → text or bytes).

        Text is ASCII (UIDs, numbers as IS/DS text, backslash-separated values).

        Raises:
            KeyError: ``values`` does not name exactly the variable elements.
        """
        if values.keys() != self._keywords:
            missing = sorted(self._keywords.symmetric_difference(values.keys()))
            raise KeyError(f"variable elements not matching the template: {missing}")
        meta = _join(self._meta, values)
        body = _join(self._body, values)
        return b"".join((_PREAMBLE, _GROUP_LENGTH_HEADER, struct.pack("<I", len(meta)), meta, body))


def _holds(template: Dataset, keyword: str) -> bool:
    """Whether ``template`` or its File Meta Information holds the element ``keyword``."""
    tag = tag_for_keyword(keyword)
    return tag is not None and (tag in template or tag in template.file_meta)


def _runs(ds: Dataset, keywords: set[str]) -> list[_Run]:
    """Split ``ds`` into (constant bytes, variable element) pairs in tag order."""
    runs: list[_Run] = []
    constant = Dataset()
    for tag in sorted(ds.keys()):
        element = ds[tag]
        if element.keyword in keywords:
            runs.append((_encode_dataset(constant), (tag, str(element.VR), element.keyword)))
            constant = Dataset()
        else:
            constant.add(element)
    runs.append((_encode_dataset(constant), None))
    return runs


def _encode_dataset(ds: Dataset) -> bytes:
    stream = DicomBytesIO()
    stream.is_little_endian = True
    stream.is_implicit_VR = False
    write_dataset(stream, ds)
    return stream.getvalue()


def _join(runs: list[_Run], values: Mapping[str, str | bytes]) -> bytes:
    parts: list[bytes] = []
    for constant, variable in runs:
        parts.append(constant)
        if variable is not None:
            tag, vr, keyword = variable
            parts.append(_encode_element(tag, vr, values[keyword]))
    return b"".join(parts)


def _encode_element(tag: BaseTag, vr: str, value: str | bytes) -> bytes:
    """Encode one element in explicit VR little endian, padded to even length as pydicom does."""
    data = value.encode("ascii") if isinstance(value, str) else value
    if len(data) % 2:
        data += b"\x00" if vr in _NULL_PADDED_VRS else b" "
    header = struct.pack("<HH", tag.group, tag.element) + vr.encode("ascii")
    if vr in EXPLICIT_VR_LENGTH_32:
        header += struct.pack("<HI", 0, len(data))
    else:
        header += struct.pack("<H", len(data))
    return header + data
