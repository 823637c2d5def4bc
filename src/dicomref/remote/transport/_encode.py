"""A data set as a DICOM file, written by pydicom: for the rare object that arrives without
the bytes it was sent as (a C-STORE always has them: :mod:`._part10`)."""

from __future__ import annotations

import io

from pydicom import dcmwrite
from pydicom.dataset import Dataset


def encode(dataset: Dataset) -> bytes:
    """``dataset`` as a complete DICOM file (preamble, file meta), in memory."""
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()
