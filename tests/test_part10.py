"""The file header of a received object, encoded by hand, is what pynetdicom writes."""

from __future__ import annotations

import io

import pytest
from pydicom import dcmread
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless
from pynetdicom.dsutils import create_file_meta, encode_file_meta

from dicomref.remote.transport._part10 import PREAMBLE, file_header

CASES = [
    ("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", ImplicitVRLittleEndian),  # even, odd lengths
    ("1.2.840.10008.5.1.4.1.1.481.3", "1.2.826.0.1.3680043.8.498.1", ExplicitVRLittleEndian),
    ("1.2.840.10008.5.1.4.1.1.481.2", "9" * 64, JPEG2000Lossless),
]


@pytest.mark.parametrize(("sop_class", "sop", "syntax"), CASES)
def test_the_header_is_byte_for_byte_pynetdicoms(sop_class: str, sop: str, syntax: str) -> None:
    meta = create_file_meta(
        sop_class_uid=UID(sop_class), sop_instance_uid=UID(sop), transfer_syntax=UID(syntax)
    )
    assert file_header(sop_class, sop, syntax) == PREAMBLE + encode_file_meta(meta)
    read = dcmread(io.BytesIO(file_header(sop_class, sop, syntax)), force=True)
    assert read.file_meta.MediaStorageSOPInstanceUID == sop
    assert read.file_meta.TransferSyntaxUID == syntax
