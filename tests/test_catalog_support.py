"""Fixtures and fakes shared by the catalog and scan tests (this module holds no tests).

* ``db_url``: a fresh catalog URL per test, parametrized: each test using it runs on a SQLite
  file and on a new database of the session's throwaway PostgreSQL server.
* summaries made from a few numbers, so tests read as the facts they set up;
* a fake file reader: "FAKEDICOM" files hold an ObjectSummary as JSON, so scans can be
  tested without the real reader (and with failures chosen at will).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from dicomref.errors import DicomReadError, NotAnInstanceError, NotDicomError
from dicomref.model import Kind, ObjectSummary, Reference, to_json

CT = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
RTPLAN = "1.2.840.10008.5.1.4.1.1.481.5"
STUDY_CLASS = "1.2.840.10008.3.1.2.3.1"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A catalog URL nobody else uses: a SQLite file, then a new PostgreSQL database on the
    session's server (conftest.py's ``postgres_url``): every test using it runs on both."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'catalog.sqlite'}"


def uid(*parts: int) -> str:
    return "1.2.826.0.1.3680043.8.498." + ".".join(str(p) for p in parts)


def ref(
    source: str,
    target: str,
    kind: Kind = Kind.CONTOUR_IMAGE,
    *,
    path: str = "ROIContourSequence[0].ContourSequence[0].ContourImageSequence[0]",
    target_class: str | None = CT,
    instance: bool = True,
    frames: tuple[int, ...] = (),
    segments: tuple[int, ...] = (),
    study: str | None = None,
    series: str | None = None,
) -> Reference:
    return Reference(
        source=source,
        target=target,
        target_class=target_class,
        kind=kind,
        path=path,
        study=study,
        series=series,
        frames=frames,
        segments=segments,
        instance=instance,
    )


def summary(
    path: str | Path,
    sop: str,
    *,
    series: str = uid(2, 1),
    study: str = uid(1),
    sop_class: str = CT,
    modality: str = "CT",
    number: int | None = None,
    references: Sequence[Reference] = (),
    patient_id: str | None = "PAT-1",
    size: int = 100,
    mtime_ns: int = 1_700_000_000_000_000_000,
) -> ObjectSummary:
    return ObjectSummary(
        path=str(path),
        size=size,
        mtime_ns=mtime_ns,
        sop_class=sop_class,
        sop_instance=sop,
        study=study,
        series=series,
        transfer_syntax="1.2.840.10008.1.2.1",
        patient_id=patient_id,
        patient_name="Doe^Jane" if patient_id else None,
        modality=modality,
        frame_of_reference=uid(9),
        study_date="20240102",
        study_description="planning",
        series_description=f"{modality} series",
        series_number=1,
        instance_number=number,
        number_of_frames=None,
        image_position=(-250.0, -250.0, 2.5 * (number or 0)) if modality == "CT" else None,
        image_orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0) if modality == "CT" else None,
        references=tuple(references),
    )


# -- the fake reader ----------------------------------------------------------------------

FAKE_MAGIC = "FAKEDICOM\n"
NOT_INSTANCE = "NOTINSTANCE\n"
DAMAGED = "DAMAGED\n"
BUG = "BUG\n"


def write_fake(path: Path, s: ObjectSummary) -> Path:
    """Write a file the fake reader reads back as ``s`` (path, size and mtime from disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE_MAGIC + json.dumps(to_json(s)))
    return path


def _reference(d: dict[str, Any]) -> Reference:
    return Reference(
        **{
            **d,
            "kind": Kind(d["kind"]),
            "frames": tuple(d["frames"]),
            "segments": tuple(d["segments"]),
        }
    )


def fake_read(path: str | os.PathLike[str]) -> ObjectSummary:
    """The fake ``read_object``: FAKEDICOM files, NOTINSTANCE files, DAMAGED files (DICOM
    that cannot be read), BUG files (a bug); anything else is not DICOM."""
    p = Path(path)
    content = p.read_text(errors="replace")
    if content.startswith(NOT_INSTANCE):
        raise NotAnInstanceError(str(p), "holds no composite instance (a DICOMDIR)")
    if content.startswith(BUG):
        raise RuntimeError(f"a bug in the reader, met on {p}")
    if content.startswith(DAMAGED):
        raise DicomReadError(str(p), "the file is damaged")
    if not content.startswith(FAKE_MAGIC):
        raise NotDicomError(str(p), "not a DICOM file (no DICM prefix)")
    d = json.loads(content[len(FAKE_MAGIC) :])
    st = p.stat()
    d.update(path=str(p), size=st.st_size, mtime_ns=st.st_mtime_ns)
    for key in ("image_position", "image_orientation"):
        if d[key] is not None:
            d[key] = tuple(d[key])
    d["references"] = tuple(_reference(r) for r in d["references"])
    return ObjectSummary(**d)


def fake_dicomdir_files(path: str | os.PathLike[str]) -> list[Path]:
    """The fake ``dicomdir_files``: a DICOMDIR of lines "DICOMDIR" then relative paths."""
    p = Path(path)
    lines = p.read_text().splitlines()
    if not lines or lines[0] != "DICOMDIR":
        raise NotDicomError(str(p), "not a DICOMDIR")
    return [p.parent / line for line in lines[1:]]


@pytest.fixture
def fake_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make Catalog.scan read files with :func:`fake_read` and :func:`fake_dicomdir_files`."""
    from dicomref.catalog import _catalog

    monkeypatch.setattr(_catalog, "_file_readers", lambda: (fake_read, fake_dicomdir_files))


def make_patient(root: Path, slices: int = 10, *, series_no: int = 1) -> list[ObjectSummary]:
    """A CT series and a structure set referencing each slice, written as fake files."""
    written = []
    ct_series = uid(2, series_no)
    cts = [
        summary(root / f"ct/{i:05d}.dcm", uid(3, series_no, i), series=ct_series, number=i)
        for i in range(1, slices + 1)
    ]
    rs_sop = uid(4, series_no)
    rs = summary(
        root / "rs.dcm",
        rs_sop,
        series=uid(5, series_no),
        sop_class=RTSTRUCT,
        modality="RTSTRUCT",
        references=[ref(rs_sop, ct.sop_instance) for ct in cts]
        + [ref(rs_sop, uid(1), Kind.STUDY, target_class=STUDY_CLASS, instance=False)],
    )
    for s in [*cts, rs]:
        write_fake(Path(s.path), s)
        written.append(s)
    return written
