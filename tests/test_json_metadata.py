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
from dicomref.errors import DicomReadError, NotAnInstanceError, ReadLimitError
from dicomref.extraction import (
    JsonInstance,
    ReadLimits,
    _walker,
    read_json,
    read_json_series,
    read_object,
)
from dicomref.extraction._json import tree_from_json
from dicomref.extraction._tree import MAX_DEPTH
from dicomref.extraction._walk import find_references
from dicomref.model import Kind, ObjectSummary
from dicomref.sample import generate_sample
from servers import OrthancServer

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
    different: dict[str, object] = {}
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
    # What labels name objects by is compared too, and is there to compare.
    assert summary.content_date and summary.content_time
    if "RTSTRUCT" in name:
        assert summary.label and summary.roi_count
    if "RTPLAN" in name:
        assert summary.label and summary.beam_count
    if "RTDOSE" in name:
        assert (summary.dose_type, summary.dose_units, summary.dose_summation) == (
            "PHYSICAL",
            "GY",
            "PLAN",
        )


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


# -- what PS3.18 allows that pydicom does not write ------------------------------------------

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"


def minimal(**extra: Any) -> dict[str, Any]:
    """The four identity UIDs, in lower case and out of order, and ``extra`` elements."""
    return {
        "0020000e": {"vr": "UI", "Value": ["1.2.3.2"]},
        "00080018": {"vr": "UI", "Value": ["1.2.3.3"]},
        "0020000d": {"vr": "UI", "Value": ["1.2.3.1"]},
        "00080016": {"vr": "UI", "Value": [CT_CLASS]},
        **extra,
    }


def reference(uid: str, sop_class: str = CT_CLASS, /, **extra: Any) -> dict[str, Any]:
    return {
        "00081155": {"vr": "UI", "Value": [uid]},
        "00081150": {"vr": "UI", "Value": [sop_class]},
        **extra,
    }


def test_values_in_every_form_ps3_18_allows() -> None:
    document = minimal(
        **{
            "00100010": {
                "vr": "PN",
                "Value": [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}],
            },
            "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
            "00200013": {"vr": "IS", "Value": ["7"]},
            "00200011": {"vr": "IS", "Value": [3.0]},
            "00200032": {"vr": "DS", "Value": ["-1.5", 2, 3.25]},
            "00280008": {"vr": "IS"},  # no Value: empty
            "00081140": {
                "vr": "SQ",
                "Value": [
                    reference("1.2.9.1", **{"00081160": {"vr": "IS", "Value": ["2", 4]}}),
                    reference(
                        "1.2.9.2",
                        "1.2.840.10008.5.1.4.1.1.66.4",
                        **{"0062000b": {"vr": "US", "Value": [1, "3"]}},
                    ),
                    {},  # an empty item
                ],
            },
            "00091010": {"vr": "SQ", "Value": [reference("1.2.9.3")]},  # private
            "00091011": {"vr": "OB", "BulkDataURI": "http://x/bulk"},
            "7fe00010": {"vr": "OW", "BulkDataURI": "http://x/pixels"},
            "fffafffa": {"vr": "SQ", "Value": [reference("1.2.9.4")]},  # after the pixels
        }
    )
    summary = read_json(document, source="ps3.18")
    assert (summary.sop_instance, summary.study, summary.series) == (
        "1.2.3.3",
        "1.2.3.1",
        "1.2.3.2",
    )
    assert summary.patient_name == "Yamada^Tarou=山田^太郎"
    assert (summary.instance_number, summary.series_number) == (7, 3)
    assert summary.image_position == (-1.5, 2.0, 3.25)
    assert summary.number_of_frames is None
    assert [(r.path, r.target, r.kind, r.frames, r.segments) for r in summary.references] == [
        ("ReferencedImageSequence[0]", "1.2.9.1", Kind.REFERENCED_IMAGE, (2, 4), ()),
        ("ReferencedImageSequence[1]", "1.2.9.2", Kind.SEGMENTATION, (), (1, 3)),
        ("(0009,1010)[0]", "1.2.9.3", Kind.OTHER, (), ()),
    ]


def test_latin1_names_read_as_the_file_holds_them(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.CT, "CT")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Jürgen"
    ds.PatientID = "Zoë-1"  # LO: the file reader shows what is not ASCII as U+FFFD
    path = corpus.save(ds, tmp_path / "latin1.dcm")
    expected = assert_same_as_file(path)
    assert expected.patient_name == "Müller^Jürgen"
    assert expected.patient_id == "Zo\ufffd-1"


def test_a_latin1_structure_set_label_reads_as_the_file_holds_it(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.RTSTRUCT, "RTSTRUCT")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StructureSetLabel = "Hüfte+OAR"  # SH, decoded in the object's character set
    ds.StructureSetROISequence = [Dataset(), Dataset()]
    path = corpus.save(ds, tmp_path / "latin1-rtstruct.dcm")
    expected = assert_same_as_file(path)
    assert (expected.label, expected.roi_count) == ("Hüfte+OAR", 2)


def test_latin1_study_and_series_descriptions_read_as_the_file_holds_them(
    tmp_path: Path,
) -> None:
    """Descriptions (LO) are decoded in the object's character set, as labels are: the
    web page and ``show`` print what a viewer shows, not U+FFFD."""
    ds = corpus.base_dataset(corpus.CT, "CT")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StudyDescription = "Kopf-Hals Planung Ärztin"
    ds.SeriesDescription = "Thorax für RT"
    expected = assert_same_as_file(corpus.save(ds, tmp_path / "latin1-descriptions.dcm"))
    assert expected.study_description == "Kopf-Hals Planung Ärztin"
    assert expected.series_description == "Thorax für RT"


@pytest.mark.parametrize(
    ("sop_class", "sequence", "field"),
    [
        (corpus.RTIONPLAN, "IonBeamSequence", "beam_count"),
        (corpus.RTPLAN, "ApplicationSetupSequence", "applicator_count"),  # brachytherapy
    ],
)
def test_ion_beams_and_brachytherapy_applicators_are_counted(
    sop_class: str, sequence: str, field: str, tmp_path: Path
) -> None:
    ds = corpus.base_dataset(sop_class, "RTPLAN")
    ds.RTPlanLabel = "PLAN A"
    ds.RTPlanDate, ds.RTPlanTime = "20240102", "101500"
    setattr(ds, sequence, [Dataset(), Dataset(), Dataset()])
    expected = assert_same_as_file(corpus.save(ds, tmp_path / "plan.dcm"))
    assert (expected.label, getattr(expected, field)) == ("PLAN A", 3)
    assert (expected.content_date, expected.content_time) == ("20240102", "101500")


def test_a_un_sequence_behind_a_bulk_data_uri_is_not_read(tmp_path: Path) -> None:
    """A server that moves a UN value behind a BulkDataURI (or drops it, as Microsoft's
    does) hides the references a private sequence written in implicit VR holds: they are
    absent, nothing else changes, and nothing is fetched."""
    ds = _corpus()["frames-private"]
    path = corpus.save(ds, tmp_path / "private.dcm", corpus.IMPLICIT)
    document = with_bulk_uris(to_json(pydicom.dcmread(path), bulk=False), keep_un=False)
    assert document["00091010"]["vr"] == "UN" and "BulkDataURI" in document["00091010"]
    expected = expected_from_file(path)
    found = read_json(document, source=SOURCE)
    assert [r for r in expected.references if r not in found.references] == [
        r for r in expected.references if r.path == "(0009,1010)[0]"
    ]


# -- what the metadata cannot be ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "tag", "words"),
    [
        ({"00081140": "x"}, "(0008,1140) ReferencedImageSequence", "is a JSON string"),
        ({"00081140": {"vr": "SQ", "Value": {}}}, "(0008,1140)", "not an array"),
        ({"00081140": {"vr": "SQ", "Value": [1]}}, "(0008,1140)", "item 0 of the sequence"),
        (
            {"00081140": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [{}]}}]}},
            "(0008,1155) ReferencedSOPInstanceUID",
            "in ReferencedImageSequence[0]",
        ),
        ({"0010001": {"vr": "LO"}}, None, "'0010001' is not a tag"),
        ({"0010001G": {"vr": "LO"}}, None, "'0010001G' is not a tag"),
        ({"00100010": {"vr": "PN", "Value": [{"Alphabetic": 5}]}}, "(0010,0010)", "Alphabetic"),
        ({"00200013": {"vr": "IS", "Value": [True]}}, "(0020,0013)", "JSON boolean"),
        ({"00200013": {"vr": "IS", "InlineBinary": "%%"}}, "(0020,0013)", "not base64"),
    ],
)
def test_malformed_metadata_names_the_tag_and_the_place(
    element: dict[str, Any], tag: str | None, words: str
) -> None:
    with pytest.raises(DicomReadError) as raised:
        read_json(minimal(**element), source="bad.json")
    message = str(raised.value)
    assert message.startswith("bad.json: ") and words in message and "PS3.18" in message
    if tag is not None:
        assert raised.value.tag is not None and raised.value.tag.startswith(tag.split(" ")[0])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b"", "not JSON"),
        (b'{"00080016": ', "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"42", "a JSON number, not an object"),
        (b"[{}, {}]", "an array of 2 instances"),
    ],
)
def test_text_that_is_not_one_instance(text: bytes, words: str) -> None:
    with pytest.raises(DicomReadError, match=words):
        read_json(text, source="bad.json")


def test_missing_identity_is_refused_as_the_file_is() -> None:
    document = minimal()
    del document["00080018"]
    with pytest.raises(DicomReadError, match=r"\(0008,0018\) SOPInstanceUID is missing"):
        read_json(document, source="x")
    document["00080018"] = {"vr": "UI", "Value": ["1.2.3\n../x"]}
    with pytest.raises(DicomReadError, match="is not a UID"):
        read_json(document, source="x")


def test_a_dicomdir_is_not_an_instance() -> None:
    document = minimal(**{"00041220": {"vr": "SQ", "Value": []}})
    with pytest.raises(NotAnInstanceError, match="DICOMDIR"):
        read_json(document, source="x")


def _nested(depth: int) -> dict[str, Any]:
    item: dict[str, Any] = reference("1.2.9.9")
    for _ in range(depth):
        item = {"00081140": {"vr": "SQ", "Value": [item]}}
    return item


def test_nesting_is_bounded() -> None:
    fine = read_json(minimal(**_nested(MAX_DEPTH)), source="x")
    assert len(fine.references) == 1 and fine.references[0].path.count(".") == MAX_DEPTH - 1
    with pytest.raises(ReadLimitError, match="deeper than the 64 levels") as raised:
        read_json(minimal(**_nested(MAX_DEPTH + 1)), source="x")
    assert (raised.value.limit, raised.value.bound) == ("max_depth", MAX_DEPTH)
    # Deeper than Python's JSON parser goes: still one of dicomref's errors.
    with pytest.raises(ReadLimitError, match="deeper"):
        read_json(b"[" * 100_000 + b"]" * 100_000, source="x")


def test_values_are_bounded() -> None:
    limits = ReadLimits(max_value=1000)
    long_name = minimal(**{"00100020": {"vr": "LO", "Value": ["x" * 1001]}})
    with pytest.raises(ReadLimitError, match="max_value") as raised:
        read_json(long_name, source="x", limits=limits)
    assert raised.value.tag == "(0010,0020) PatientID" and raised.value.bound == 1000
    many_frames = {"00081160": {"vr": "IS", "Value": list(range(400))}}
    with pytest.raises(ReadLimitError, match="max_value"):
        read_json(
            minimal(**{"00081140": {"vr": "SQ", "Value": [reference("1.2", **many_frames)]}}),
            source="x",
            limits=limits,
        )
    inline = {"0062000b": {"vr": "US", "InlineBinary": "AAAA" * 400}}
    with pytest.raises(ReadLimitError, match="max_value"):
        read_json(
            minimal(**{"00081140": {"vr": "SQ", "Value": [reference("1.2", **inline)]}}),
            source="x",
            limits=limits,
        )
    text = json.dumps(minimal()).encode()
    with pytest.raises(ReadLimitError, match="max_metadata"):
        read_json(text, source="x", limits=ReadLimits(max_metadata=len(text) - 1))
    assert read_json(text, source="x", limits=ReadLimits(max_metadata=len(text))).sop_instance


# -- series metadata ---------------------------------------------------------------------------


def _series_document() -> list[Any]:
    good = minimal(**{"00081140": {"vr": "SQ", "Value": [reference("1.2.9.1")]}})
    no_study = minimal()
    del no_study["0020000d"]
    bad_value = minimal(
        **{"00081140": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [[1]]}}]}}
    )
    bad_value["00080018"] = {"vr": "UI", "Value": ["1.2.3.7"]}
    last = minimal()
    last["00080018"] = {"vr": "UI", "Value": ["1.2.3.8"]}
    return [good, no_study, 42, bad_value, last]


def _check_series(found: list[JsonInstance]) -> None:
    assert [i.index for i in found] == [0, 1, 2, 3, 4]
    assert [i.summary.sop_instance if i.summary else None for i in found] == [
        "1.2.3.3",
        None,
        None,
        None,
        "1.2.3.8",
    ]
    assert found[0].summary is not None and found[0].summary.path == "series.json[0]"
    errors = [str(i.error) for i in found if i.error is not None]
    assert errors[0].startswith("series.json[1] (SOP Instance UID 1.2.3.3): ")
    assert "StudyInstanceUID is missing" in errors[0]
    assert errors[1].startswith("series.json[2]: the instance is a JSON number")
    assert errors[2].startswith("series.json[3] (SOP Instance UID 1.2.3.7): ")
    assert "in ReferencedImageSequence[0]" in errors[2] and "(0008,1155)" in errors[2]


@pytest.mark.parametrize("size", [0, 1, 7, 4096])
def test_series_bad_instances_are_reported_alone(size: int) -> None:
    document = _series_document()
    text = json.dumps(document, indent=1).encode()
    source: Any = document if size == 0 else chunks(text, size)
    _check_series(list(read_json_series(source, source="series.json")))


def test_series_is_read_as_it_arrives() -> None:
    many = [reference(f"1.2.9.{n}") for n in range(2000)]
    large = minimal(**{"00081140": {"vr": "SQ", "Value": many}})
    text = json.dumps([*_series_document(), large]).encode()
    sent = 0

    def network() -> Iterator[bytes]:
        nonlocal sent
        for chunk in chunks(text, 64):
            sent += len(chunk)
            yield chunk

    reading = read_json_series(network(), source="series.json")
    first = next(reading)
    assert first.summary is not None and sent < len(text) / 10
    rest = list(reading)
    _check_series([first, *rest[:4]])
    assert rest[4].summary is not None and len(rest[4].summary.references) == 2000


@pytest.mark.parametrize(
    ("text", "count", "words"),
    [
        (b"[]", 0, None),
        (b"  \n", 0, None),  # an HTTP 204
        (b"x", 1, "starts with 'x'"),
        (b"{}{}", 2, "text follows the instance"),
        (b"[{}, ", 2, "not JSON from here on"),
        (b"[{} {}]", 2, "not ',' or ']'"),
        (b"[{}]x", 2, "text follows the array"),
        (b'[{}, {"00080016": }, {}]', 2, "Expecting value"),
        (b"[{}, \xff]", 2, "not UTF-8"),
        (b"[" + b"[" * 100_000, 1, "deeper"),
    ],
)
def test_series_text_that_breaks_off(text: bytes, count: int, words: str | None) -> None:
    found = list(read_json_series(chunks(text, 3), source="s"))
    assert len(found) == count
    if words is not None:
        assert found[-1].error is not None and words in str(found[-1].error)
        assert all(i.summary is None for i in found)  # {} has no identity


def test_series_instance_size_is_bounded() -> None:
    text = json.dumps([minimal(), minimal(**{"00100020": {"vr": "LO", "Value": ["x" * 5000]}})])
    found = list(read_json_series(text, source="s", limits=ReadLimits(max_metadata=4000)))
    assert found[0].summary is not None
    assert isinstance(found[1].error, ReadLimitError) and found[1].error.limit == "max_metadata"


def test_series_chunks_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="chunks must be bytes"):
        list(read_json_series(iter([b"[", 5]), source="s"))  # type: ignore[arg-type]


# -- Orthanc's DICOMweb plugin: captured answers, and the live server ------------------------


@pytest.fixture(scope="module")
def captured_patient(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The patient the Orthanc captures are of, generated again (the generator is
    deterministic): see tests/dicom_json/capture_orthanc.py."""
    root = tmp_path_factory.mktemp("captured") / "patient"
    generate_sample(root, seed=5, slices=3, rows=16, columns=16)
    return root


def _same_as_files(found: list[JsonInstance], files: list[Path], source: str) -> None:
    by_uid = {read_object(path).sop_instance: path for path in files}
    assert len(found) == len(by_uid)
    for instance in found:
        assert instance.error is None and instance.summary is not None
        expected = expected_from_file(by_uid[instance.summary.sop_instance])
        assert instance.summary == dataclasses.replace(expected, path=f"{source}[{instance.index}]")


@pytest.mark.parametrize(
    "name", ["study1/CT_1/0001.dcm", "study1/RTSTRUCT_2/0001.dcm", "study1/RTDOSE_5/0001.dcm"]
)
def test_orthanc_instance_metadata(name: str, captured_patient: Path) -> None:
    text = (FIXTURES / "orthanc" / (name.replace("/", "-")[:-4].lower() + ".json")).read_bytes()
    if "RTSTRUCT" not in name:  # the pixels are a BulkDataURI, as Orthanc gives them
        assert json.loads(text)[0]["7FE00010"].keys() == {"BulkDataURI", "vr"}
    summary = read_json(text, source=SOURCE)
    assert summary == expected_from_file(captured_patient / name)
    if "RTSTRUCT" in name:
        assert {r.kind for r in summary.references} >= {Kind.CONTOUR_IMAGE, Kind.STUDY}


def test_orthanc_series_metadata(captured_patient: Path) -> None:
    text = (FIXTURES / "orthanc" / "study1-ct_1-series.json").read_bytes()
    found = list(read_json_series(chunks(text, 1000), source=SOURCE))
    _same_as_files(found, sorted((captured_patient / "study1" / "CT_1").iterdir()), SOURCE)


def test_live_orthanc_metadata_reads_as_the_files(
    orthanc_dicomweb: OrthancServer, tmp_path: Path
) -> None:
    """Every object of a generated patient stored in Orthanc: its instance metadata, and its
    series' metadata streamed as it arrives, read as its file."""
    import httpx

    sample = generate_sample(tmp_path / "patient", seed=12, slices=5, rows=16, columns=16)
    orthanc_dicomweb.upload([o.path for o in sample.objects])
    series: dict[str, list[Path]] = {}
    with httpx.Client(base_url=orthanc_dicomweb.dicomweb_url, timeout=30) as client:
        for obj in sample.objects:
            summary = read_object(obj.path)
            url = (
                f"/studies/{summary.study}/series/{summary.series}/instances/"
                f"{summary.sop_instance}/metadata"
            )
            answer = client.get(url)
            assert answer.status_code == 200, answer.text
            assert read_json(answer.content, source=SOURCE) == expected_from_file(obj.path)
            series.setdefault(f"/studies/{summary.study}/series/{summary.series}", []).append(
                obj.path
            )
        for url, files in series.items():
            with client.stream("GET", f"{url}/metadata") as response:
                assert response.status_code == 200
                found = list(read_json_series(response.iter_bytes(), source=SOURCE))
            _same_as_files(found, files, SOURCE)


_LONE_SURROGATE = '[{"00080018": {"vr": "UI", "Value": ["1.2\ud95c"]}}]'.encode(
    "utf-8", "surrogatepass"
)


@pytest.mark.parametrize(
    ("document", "index"),
    [
        (_LONE_SURROGATE, 0),
        (b"[] \xff\xfe", 0),
        (b'{"00080018": {"vr": "UI", "Value": ["1.2.3"]}} \xff', 1),
    ],
    ids=[
        "bytes not UTF-8 in the first instance",
        "bytes not UTF-8 after the array",
        "bytes not UTF-8 after a lone instance",
    ],
)
def test_series_metadata_that_is_not_utf8_is_reported_never_read_as_empty(
    document: bytes, index: int
) -> None:
    """A lone surrogate written as bytes (what the fuzzer's mutator once made) is not UTF-8:
    the series says so with an error where the text stops being JSON, instead of ending
    quietly as if the text ended there."""
    found = list(read_json_series(document, source="series.json"))
    assert found and found[-1].error is not None
    assert "not UTF-8" in str(found[-1].error)
    assert f"series.json[{index}]" in str(found[-1].error)
