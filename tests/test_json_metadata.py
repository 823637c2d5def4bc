"""read_json / read_json_series: DICOM JSON (DICOMweb metadata) read as the file is read.

The property: for every object the file reader reads (the generated patient's every kind,
pydicom's test and character set files, the hand-made corpus of vendor habits and the real
vendor files of tests/real_data.py), its DICOM JSON, as pydicom writes it and in every
form PS3.18 F.2 allows (lower-case tags, elements in any order, numbers as strings,
binaries inline or as BulkDataURIs, as text, in chunks, in a series array), gives the
summary the file gives: the same identity, place, geometry and references (kinds, paths,
hints, frames, segments), apart from ``path``, ``size``, ``mtime_ns`` and
``transfer_syntax`` (metadata is not the file).
"""

from __future__ import annotations

import dataclasses
import json
import random
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import extraction_corpus as corpus
import real_data
from dicomref.errors import DicomReadError
from dicomref.extraction import (
    JsonInstance,
    _walker,
    read_json,
    read_json_series,
    read_object,
)
from dicomref.extraction._json import tree_from_json
from dicomref.extraction._walk import find_references
from dicomref.model import Kind, ObjectSummary
from dicomref.sample import generate_sample

PYDICOM_DATA = Path(pydicom.__file__).parent / "data"
PYDICOM_FILES = sorted(
    [*PYDICOM_DATA.glob("test_files/*.dcm"), *PYDICOM_DATA.glob("charset_files/*.dcm")]
)
SOURCE = "https://pacs.example.org/dicom-web/studies/1/series/2/instances/3/metadata"
FIXTURES = Path(__file__).parent / "dicom_json"


@pytest.fixture(autouse=True)
def quiet_pydicom() -> Iterator[None]:
    """pydicom warns about the odd values its own test files hold on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- DICOM JSON in every form PS3.18 allows --------------------------------------------------


def to_json(ds: Dataset, *, bulk: bool = True) -> dict[str, Any]:
    """``ds`` as DICOM JSON, every binary inline, or (``bulk``) binaries over 64 bytes as
    BulkDataURIs, as servers give pixel data, except UN values, which may hold a sequence
    (see test_a_un_sequence_behind_a_bulk_data_uri_is_not_read)."""
    document = ds.to_json_dict(bulk_data_threshold=1 << 40)
    return with_bulk_uris(document, keep_un=True) if bulk else document


def with_bulk_uris(value: Any, *, keep_un: bool) -> Any:
    """Every InlineBinary over 64 characters replaced by a BulkDataURI."""
    if isinstance(value, list):
        return [with_bulk_uris(v, keep_un=keep_un) for v in value]
    if not isinstance(value, dict):
        return value
    inline = value.get("InlineBinary")
    if isinstance(inline, str) and len(inline) > 64 and not (keep_un and value["vr"] == "UN"):
        return {"vr": value["vr"], "BulkDataURI": f"{SOURCE}/bulk/{len(inline)}"}
    return {k: with_bulk_uris(v, keep_un=keep_un) for k, v in value.items()}


def transformed(value: Any, key: Callable[[str], str], order: Callable[[list[str]], None]) -> Any:
    """A JSON dataset with its tags rewritten by ``key`` and its elements reordered."""
    if isinstance(value, list):
        return [transformed(v, key, order) for v in value]
    if not isinstance(value, dict):
        return value
    if "vr" in value:  # an element: only a sequence's items are datasets
        if value["vr"] != "SQ":
            return value
        return {k: transformed(v, key, order) for k, v in value.items()}
    keys = list(value)
    order(keys)
    return {key(k): transformed(value[k], key, order) for k in keys}


def numbers_as_strings(value: Any) -> Any:
    """Every IS, DS and US value written as a JSON string (PS3.18 F.2.3.1 allows both)."""
    if isinstance(value, list):
        return [numbers_as_strings(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("vr") in ("IS", "DS", "US") and "Value" in value:
        return {**value, "Value": [v if v is None else str(v) for v in value["Value"]]}
    return {k: numbers_as_strings(v) for k, v in value.items()}


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _only(found: list[JsonInstance]) -> ObjectSummary:
    [instance] = found
    if instance.error is not None:
        raise instance.error
    assert instance.summary is not None
    return instance.summary


#: Each form of one dataset's JSON, and how it is read.
FORMS: dict[str, Callable[[dict[str, Any]], ObjectSummary]] = {
    "dict": lambda doc: read_json(doc, source=SOURCE),
    "text": lambda doc: read_json(json.dumps(doc).encode(), source=SOURCE),
    "wado-array": lambda doc: read_json(json.dumps([doc], indent="\t"), source=SOURCE),
    "lower-case-reversed": lambda doc: read_json(
        transformed(doc, str.lower, lambda keys: keys.reverse()), source=SOURCE
    ),
    "shuffled-numbers-as-strings": lambda doc: read_json(
        numbers_as_strings(transformed(doc, str.upper, random.Random(7).shuffle)),
        source=SOURCE,
    ),
    "series-chunks": lambda doc: dataclasses.replace(
        _only(list(read_json_series(chunks(json.dumps([doc]).encode(), 997), source=SOURCE))),
        path=SOURCE,
    ),
}


def expected_from_file(path: Path) -> ObjectSummary:
    """What the file reader gives, but for what metadata cannot say."""
    return dataclasses.replace(
        read_object(path), path=SOURCE, size=0, mtime_ns=0, transfer_syntax=None
    )


def assert_same_as_file(path: Path, *, bulk: bool = True) -> ObjectSummary:
    """Every form of the file's JSON reads as the file does; the file's summary."""
    expected = expected_from_file(path)
    try:
        document = to_json(pydicom.dcmread(path, force=True), bulk=bulk)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # pydicom's, not ours
        pytest.skip(f"pydicom cannot write {path.name} as JSON ({type(exc).__name__}: {exc})")
    for form, read in FORMS.items():
        found = read(document)
        assert found == expected, (form, _difference(expected, found))
    return expected


def _difference(expected: ObjectSummary, found: ObjectSummary) -> dict[str, object]:
    different = {}
    for field in dataclasses.fields(expected):
        a, b = getattr(expected, field.name), getattr(found, field.name)
        if a != b:
            if field.name == "references":
                a = [r for r in a if r not in b][:3]
                b = [r for r in b if r not in getattr(expected, field.name)][:3]
            different[field.name] = (a, b)
    return different


# -- the property, over every object at hand --------------------------------------------------


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("json") / "patient"
    sample = generate_sample(folder, seed=11, slices=6, rows=16, columns=16)
    return {
        f"{o.path.parent.parent.name}/{o.path.parent.name}/{o.path.name}": o.path
        for o in sample.objects
    }


SAMPLE_NAMES = [
    f"{study}/{series}/{number}"
    for study, series, number in [
        ("study1", "CT_1", "0001.dcm"),
        ("study1", "RTSTRUCT_2", "0001.dcm"),
        ("study1", "RTSTRUCT_2", "0002.dcm"),
        ("study1", "RTPLAN_3", "0001.dcm"),
        ("study1", "RTPLAN_4", "0001.dcm"),
        ("study1", "RTDOSE_5", "0001.dcm"),
        ("study1", "SEG_6", "0001.dcm"),
        ("study1", "KO_7", "0001.dcm"),
        ("study2", "CT_1", "0004.dcm"),
        ("study2", "RTSTRUCT_2", "0001.dcm"),
    ]
]


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk-uri", "inline"])
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_generated_kind(name: str, bulk: bool, patient: dict[str, Path]) -> None:
    summary = assert_same_as_file(patient[name], bulk=bulk)
    if "RTSTRUCT" in name or "SEG" in name or "KO" in name:
        assert summary.references


def test_the_sample_names_every_generated_object(patient: dict[str, Path]) -> None:
    kinds = {name.split("/")[1] for name in patient}
    assert kinds == {name.split("/")[1] for name in SAMPLE_NAMES}


@pytest.mark.parametrize("path", PYDICOM_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pydicom_files(path: Path) -> None:
    try:
        read_object(path)
    except DicomReadError as exc:
        refused_alike(path, exc)
        return
    assert_same_as_file(path)


def refused_alike(path: Path, refused: DicomReadError) -> None:
    """A file the reader refuses for what it holds (no SOP Class UID …): its JSON is refused
    for the same reason, and its trees name the same references."""
    try:
        header = _walker.read_header(path)
    except DicomReadError:
        header = None
    if header is None or header.tree is None:
        pytest.skip(f"the file reader refuses its bytes, nothing to compare: {refused}")
    document = to_json(pydicom.dcmread(path, force=True))
    _, _, tree = tree_from_json(document, SOURCE)
    assert find_references(tree, "", None) == find_references(header.tree, "", None)
    with pytest.raises(type(refused)) as raised:
        read_json(document, source=SOURCE)
    assert raised.value.reason == refused.reason


def _corpus() -> dict[str, Dataset]:
    """The hand-made datasets of vendor habits and of each family's rules."""
    varian = corpus.rtstruct(slices=3, rois=2)
    study = varian.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    study.ReferencedSOPClassUID = corpus.RTSTRUCT  # Varian ARIA, Brainlab
    gsps = corpus.base_dataset(corpus.GSPS, "PR")
    series = corpus.with_items(ReferencedImageSequence=[corpus.ref(corpus.CT, "1.5.1")])
    series.SeriesInstanceUID = corpus.CT_SERIES
    gsps.ReferencedSeriesSequence = Sequence([series])
    reg = corpus.base_dataset(corpus.REG, "REG")
    registration = corpus.with_items(ReferencedImageSequence=[corpus.ref(corpus.CT, "1.6.1")])
    registration.FrameOfReferenceUID = "1.6.9"
    reg.RegistrationSequence = Sequence([registration])
    image = corpus.base_dataset(corpus.CT, "CT")
    image.ReferencedImageSequence = Sequence(
        [
            corpus.ref(
                corpus.SEG, "5.1", ReferencedFrameNumber=[1, 3], ReferencedSegmentNumber=[2, 4]
            )
        ]
    )
    image.add_new(0x00090010, "LO", "DICOMREF TEST")
    image.add_new(0x00091010, "SQ", Sequence([corpus.ref(corpus.CT, "4.4")]))
    image.ReferencedPatientSequence = Sequence([corpus.ref("1.2.840.10008.3.1.2.1.1", "3.4")])
    return {"varian-rtstruct": varian, "gsps": gsps, "reg": reg, "frames-private": image}


@pytest.mark.parametrize("name", sorted(_corpus()))
def test_corpus_of_habits(name: str, tmp_path: Path) -> None:
    ds = _corpus()[name]
    for syntax in (corpus.EXPLICIT, corpus.IMPLICIT):
        assert_same_as_file(corpus.save(ds, tmp_path / f"{name}.dcm", syntax))


def test_varian_study_item_is_a_study_from_json(tmp_path: Path) -> None:
    path = corpus.save(_corpus()["varian-rtstruct"], tmp_path / "varian.dcm")
    summary = read_json(to_json(pydicom.dcmread(path)), source=SOURCE)
    base = "ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]"
    study = next(r for r in summary.references if r.path == base)
    assert (study.target, study.kind, study.instance) == (corpus.CT_STUDY, Kind.STUDY, False)
    assert study.target_class == corpus.RTSTRUCT
    images = [r for r in summary.references if r.kind is Kind.CONTOUR_IMAGE]
    assert len(images) == 3 + 2 * 3
    assert {(r.study, r.series) for r in images} == {(corpus.CT_STUDY, corpus.CT_SERIES)}


def _real(dist: real_data.Distribution) -> list[Path]:
    try:
        found = real_data.files(dist)
    except real_data.Unavailable as exc:
        if real_data.in_ci():
            pytest.fail(f"real data {dist.key} could not be downloaded: {exc}")
        pytest.skip(f"real data {dist.key} not available: {exc}")
    return sorted(found.values())


@pytest.mark.parametrize(
    "dist", real_data.DISTRIBUTIONS, ids=[d.key for d in real_data.DISTRIBUTIONS]
)
def test_real_vendor_files(dist: real_data.Distribution) -> None:
    total = 0
    for path in _real(dist):
        total += len(assert_same_as_file(path).references)
    assert total > 0
