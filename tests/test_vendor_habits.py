"""How real writers bend references, each handled on purpose (DESIGN §8).

Every case is read the slow way (pydicom's Dataset through the adapter) and every fast way
(the walker in each encoding, the item layouts of long sequences, a header layout learnt
from a sibling file): all must give the same references.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

import extraction_corpus as corpus
from dicomref.catalog import Catalog
from dicomref.extraction import _items, _walker, read_object, references
from dicomref.extraction._layout import Layouts
from dicomref.extraction._rules import nonconformity
from dicomref.extraction._tree import Item
from dicomref.model import Kind, Reference

ENCODINGS = [corpus.EXPLICIT, corpus.IMPLICIT, corpus.BIG_ENDIAN]
VERIFICATION = "1.2.840.10008.1.1"  # a service class, not a storage class
UNKNOWN = "1.2.826.0.1.3680043.10.777.1"  # a class no dictionary knows
BASE = "ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]"


@pytest.fixture(autouse=True)
def quiet_pydicom() -> Iterator[None]:
    """Padded UIDs are invalid on purpose: pydicom's warnings about them are expected."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Invalid value for VR UI")
        yield


def read_every_way(ds: Dataset, tmp_path: Path) -> list[Reference]:
    """The references of ``ds`` as the Dataset walk reads them, checked against each file path."""
    expected = references(ds)
    for syntax in ENCODINGS:
        path = corpus.save(ds, tmp_path / f"every-way-{syntax}.dcm", syntax)
        assert list(read_object(path).references) == expected, syntax
    return expected


def varian_structure_set(slices: int = 3, rois: int = 2) -> Dataset:
    """A structure set as ARIA and Brainlab write it: the study item claims the class RT
    Structure Set Storage and holds the Study Instance UID as its instance."""
    ds = corpus.rtstruct(slices=slices, rois=rois)
    study = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    study.ReferencedSOPClassUID = corpus.RTSTRUCT
    return ds


def by_path(found: list[Reference]) -> dict[str, Reference]:
    return {r.path: r for r in found}


# -- study and series items, whatever their class says -----------------------------------------


def test_varian_study_item_is_the_study(tmp_path: Path) -> None:
    found = read_every_way(varian_structure_set(), tmp_path)
    study = by_path(found)[BASE]
    assert (study.target, study.kind, study.instance) == (corpus.CT_STUDY, Kind.STUDY, False)
    assert study.target_class == corpus.RTSTRUCT  # kept as written, for check to report
    images = [r for r in found if r.kind is Kind.CONTOUR_IMAGE]
    assert len(images) == 3 + 2 * 3
    assert {(r.study, r.series, r.instance) for r in images} == {
        (corpus.CT_STUDY, corpus.CT_SERIES, True)
    }
    assert not [r for r in found if r.kind is Kind.STRUCTURE_SET]
    reason = nonconformity(study.kind, study.target_class)
    assert reason is not None and "RT Structure Set Storage" in reason and "Varian" in reason


@pytest.mark.parametrize(
    ("sequence", "kind"),
    [
        ("ReferencedStudySequence", Kind.STUDY),
        ("StudiesContainingOtherReferencedInstancesSequence", Kind.STUDY),
        ("PertinentOtherEvidenceSequence", Kind.STUDY),
        ("ReferencedSeriesSequence", Kind.SERIES),
    ],
)
def test_items_of_study_and_series_sequences_name_no_object(
    sequence: str, kind: Kind, tmp_path: Path
) -> None:
    ds = corpus.base_dataset(corpus.KOS, "KO")
    setattr(ds, sequence, Sequence([corpus.ref(corpus.CT, "7.1")]))
    [found] = read_every_way(ds, tmp_path)
    assert (found.kind, found.instance, found.target_class) == (kind, False, corpus.CT)
    assert nonconformity(found.kind, found.target_class) is not None


def test_conforming_study_items_are_not_flagged(tmp_path: Path) -> None:
    found = read_every_way(corpus.rtstruct(), tmp_path)
    assert [nonconformity(r.kind, r.target_class) for r in found] == [None] * len(found)
    assert "no ReferencedSOPClassUID" in (nonconformity(Kind.STUDY, None) or "")


def test_series_item_with_its_own_reference_locates_what_it_holds(tmp_path: Path) -> None:
    """RTReferencedSeriesSequence items carry SeriesInstanceUID; one carrying a
    ReferencedSOPInstanceUID instead names the series of the slices it lists."""
    ds = corpus.rtstruct(slices=2, rois=1)
    series = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    listed = series.RTReferencedSeriesSequence[0]
    del listed.SeriesInstanceUID
    listed.ReferencedSOPClassUID = corpus.CT
    listed.ReferencedSOPInstanceUID = corpus.CT_SERIES
    found = by_path(read_every_way(ds, tmp_path))
    own = found[f"{BASE}.RTReferencedSeriesSequence[0]"]
    assert (own.kind, own.instance, own.target) == (Kind.SERIES, False, corpus.CT_SERIES)
    image = found[f"{BASE}.RTReferencedSeriesSequence[0].ContourImageSequence[1]"]
    assert (image.kind, image.study, image.series) == (
        Kind.CONTOUR_IMAGE,
        corpus.CT_STUDY,
        corpus.CT_SERIES,
    )


# -- the fast paths give the same answer -------------------------------------------------------


def test_long_varian_structure_set_through_item_layouts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runs: list[int] = []
    real = _items.ItemLayout.read

    def spy(self: _items.ItemLayout, buf: bytes, start: int, end: int) -> list[Item] | None:
        items = real(self, buf, start, end)
        if items is not None:
            runs.append(len(items))
        return items

    monkeypatch.setattr(_items.ItemLayout, "read", spy)
    ds = varian_structure_set(slices=40, rois=3)
    path = corpus.save(ds, tmp_path / "long.dcm")
    found = list(read_object(path).references)
    assert runs, "the contour items should have been read through a layout"
    assert found == references(ds)
    assert sum(1 for r in found if r.kind is Kind.STUDY and not r.instance) == 1


def test_sibling_read_through_a_header_layout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    layouts = Layouts()
    monkeypatch.setattr(_walker, "_LAYOUTS", layouts)
    first = varian_structure_set()
    corpus.save(first, tmp_path / "first.dcm")
    read_object(tmp_path / "first.dcm")  # walked, and its layout learnt
    second = varian_structure_set()
    other = corpus.SOP[:-1] + "2"  # the same length: the same layout
    second.SOPInstanceUID = other
    second.file_meta.MediaStorageSOPInstanceUID = UID(other)
    path = corpus.save(second, tmp_path / "second.dcm")
    data = path.read_bytes()
    assert layouts.read(data[: _walker.FIRST_READ], len(data)) is not None
    assert list(read_object(path).references) == references(second)


# -- classes missing, unknown or wrong ----------------------------------------------------------


@pytest.mark.parametrize("target_class", [None, UNKNOWN, VERIFICATION, corpus.CT])
def test_a_bad_class_does_not_hide_the_role(target_class: str | None, tmp_path: Path) -> None:
    plan = corpus.base_dataset(corpus.RTPLAN, "RTPLAN")
    plan.ReferencedStructureSetSequence = Sequence([corpus.ref(target_class, "8.1")])
    plan.ReferencedDoseSequence = Sequence([corpus.ref(target_class, "8.2")])
    found = read_every_way(plan, tmp_path)
    assert [(r.target, r.kind, r.instance, r.target_class) for r in found] == [
        ("8.1", Kind.STRUCTURE_SET, True, target_class),
        ("8.2", Kind.DOSE, True, target_class),
    ]


@pytest.mark.parametrize("target_class", [None, UNKNOWN, VERIFICATION])
def test_a_contour_image_without_a_good_class_is_still_a_slice(
    target_class: str | None, tmp_path: Path
) -> None:
    ds = corpus.rtstruct(slices=2, rois=1)
    for roi in ds.ROIContourSequence:
        for contour in roi.ContourSequence:
            image = contour.ContourImageSequence[0]
            if target_class is None:
                del image.ReferencedSOPClassUID
            else:
                image.ReferencedSOPClassUID = target_class
    found = [r for r in read_every_way(ds, tmp_path) if r.path.startswith("ROIContour")]
    assert {(r.kind, r.instance, r.study, r.series) for r in found} == {
        (Kind.CONTOUR_IMAGE, True, corpus.CT_STUDY, corpus.CT_SERIES)
    }


def test_unknown_class_in_an_unknown_place_is_still_a_reference(tmp_path: Path) -> None:
    ds = corpus.base_dataset(corpus.CT, "CT")
    ds.add_new(0x00290010, "LO", "SOME VENDOR")
    ds.add_new(0x00291010, "SQ", Sequence([corpus.ref(UNKNOWN, "9.1"), corpus.ref(None, "9.2")]))
    found = read_every_way(ds, tmp_path)
    assert [(r.target, r.kind, r.instance) for r in found] == [
        ("9.1", Kind.OTHER, True),
        ("9.2", Kind.OTHER, True),
    ]


# -- UIDs padded with spaces or NULs --------------------------------------------------------------


def padded_ct(sop: str, *, explicit: bool = True) -> bytes:
    """A CT slice whose identity UIDs are padded as some writers do (space, NULs)."""
    ident = corpus.identity(
        sop=sop + " ",
        study=corpus.CT_STUDY + "\0\0",
        series=corpus.CT_SERIES + " ",
        explicit=explicit,
    )
    ident[0x00080060] = corpus.element(0x00080060, "CS", "CT", explicit=explicit)
    return corpus.dataset(ident)


def padded_plan(target: str) -> bytes:
    """A plan naming structure set ``target`` with trailing NULs and space in its UIDs."""
    ident = corpus.identity(sop_class=corpus.RTPLAN, sop="1.2.826.0.1.3680043.10.5.1 ")
    item = corpus.item(
        corpus.element(0x00081150, "UI", corpus.RTSTRUCT + "\0\0")
        + corpus.element(0x00081155, "UI", target + " \0")
    )
    ident[0x300C0060] = corpus.sequence(0x300C0060, [item])
    return corpus.dataset(ident)


def test_padded_uids_are_stripped(tmp_path: Path) -> None:
    path = corpus.write(tmp_path / "plan.dcm", corpus.part10(padded_plan("1.2.3.44")))
    summary = read_object(path)
    assert summary.sop_instance == "1.2.826.0.1.3680043.10.5.1"
    [found] = summary.references
    assert (found.target, found.target_class, found.kind) == (
        "1.2.3.44",
        corpus.RTSTRUCT,
        Kind.STRUCTURE_SET,
    )


def test_padded_uids_match_in_the_catalog(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    slice_uid = corpus.slice_uid(4)
    corpus.write(folder / "ct.dcm", corpus.part10(padded_ct(slice_uid)))
    ds = corpus.rtstruct(slices=1, rois=1)
    for roi in ds.ROIContourSequence:
        for contour in roi.ContourSequence:
            contour.ContourImageSequence[0].ReferencedSOPInstanceUID = slice_uid + "\0\0"
    listed = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    listed.RTReferencedSeriesSequence[0].ContourImageSequence[0].ReferencedSOPInstanceUID = (
        slice_uid + " "
    )
    corpus.save(ds, folder / "rtstruct.dcm")
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        report = catalog.scan([folder])
        assert report.indexed == 2, report.failed
        [held] = catalog.locate(slice_uid)
        assert (held.study, held.series) == (corpus.CT_STUDY, corpus.CT_SERIES)
        assert catalog.locate(slice_uid + "\0") == [held]  # a UID copied with its padding
        assert catalog.referrers(slice_uid + " ") == catalog.referrers(slice_uid)
        assert [s.sop_instance for s in catalog.series_instances(corpus.CT_SERIES + " ")] == [
            slice_uid
        ]
        assert catalog.dangling() == []
        assert {r.source for r in catalog.referrers(slice_uid)} == {corpus.SOP}


# -- where the slices are ------------------------------------------------------------------------


def test_contour_images_in_other_studies_take_their_study_item_as_hint(tmp_path: Path) -> None:
    """A structure set on a planning CT of one study and a CBCT of another: each slice is
    looked for in the study its RTReferencedStudySequence item names, not the source's."""
    ds = varian_structure_set(slices=2, rois=1)
    other = corpus.ref(corpus.RTSTRUCT, "1.2.826.0.1.3680043.10.3")  # Varian habit again
    series = corpus.with_items(ContourImageSequence=[corpus.ref(corpus.CT, "1.2.826.0.1.3.1")])
    series.SeriesInstanceUID = "1.2.826.0.1.3680043.10.3.1"
    other.RTReferencedSeriesSequence = Sequence([series])
    ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence.append(other)
    contour = corpus.with_items(ContourImageSequence=[corpus.ref(corpus.CT, "1.2.826.0.1.3.1")])
    contour.ContourGeometricType = "POINT"
    contour.NumberOfContourPoints = 1
    contour.ContourData = [0.0, 0.0, 0.0]
    ds.ROIContourSequence[0].ContourSequence.append(contour)
    found = read_every_way(ds, tmp_path)
    assert ds.StudyInstanceUID not in {r.study for r in found}
    hints = {(r.target, r.study, r.series) for r in found if r.kind is Kind.CONTOUR_IMAGE}
    assert ("1.2.826.0.1.3.1", "1.2.826.0.1.3680043.10.3", "1.2.826.0.1.3680043.10.3.1") in hints
    assert (corpus.slice_uid(0), corpus.CT_STUDY, corpus.CT_SERIES) in hints
    assert [r.target for r in found if r.kind is Kind.STUDY] == [
        corpus.CT_STUDY,
        "1.2.826.0.1.3680043.10.3",
    ]


def test_slices_listed_only_under_the_referenced_series(tmp_path: Path) -> None:
    """Contours naming no slice: the slices come from RTReferencedSeriesSequence alone."""
    ds = corpus.rtstruct(slices=4, rois=2)
    for roi in ds.ROIContourSequence:
        for contour in roi.ContourSequence:
            del contour.ContourImageSequence
    found = read_every_way(ds, tmp_path)
    images = [r for r in found if r.kind is Kind.CONTOUR_IMAGE]
    assert [r.target for r in images] == [corpus.slice_uid(i) for i in range(4)]
    assert {(r.study, r.series, r.instance) for r in images} == {
        (corpus.CT_STUDY, corpus.CT_SERIES, True)
    }


def test_contour_images_not_listed_have_no_hint(tmp_path: Path) -> None:
    """The converse: contours naming slices the series list leaves out get no invented hint
    (the planner then tries the source's own study first)."""
    ds = corpus.rtstruct(slices=3, rois=1)
    listed = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    del listed.RTReferencedSeriesSequence[0].ContourImageSequence[1:]
    found = by_path(read_every_way(ds, tmp_path))
    inner = found["ROIContourSequence[0].ContourSequence[2].ContourImageSequence[0]"]
    assert (inner.kind, inner.study, inner.series) == (Kind.CONTOUR_IMAGE, None, None)
    hinted = found["ROIContourSequence[0].ContourSequence[0].ContourImageSequence[0]"]
    assert (hinted.study, hinted.series) == (corpus.CT_STUDY, corpus.CT_SERIES)


# -- no preamble, no file meta (Elekta Monaco) ------------------------------------------------


def headless(ds: Dataset, path: Path, *, implicit: bool) -> Path:
    """``ds`` written as Monaco writes plans: no preamble, no 'DICM', no File Meta group."""
    ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=False)
    data = path.read_bytes()
    assert data[128:132] != b"DICM" and not data.startswith(b"\x02\x00")
    return path


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "explicit"])
def test_plans_and_doses_without_preamble_or_meta(implicit: bool, tmp_path: Path) -> None:
    plan = corpus.base_dataset(corpus.RTPLAN, "RTPLAN", sop="1.2.826.0.1.3680043.10.6.1")
    del plan.file_meta
    plan.SpecificCharacterSet = "ISO_IR 100"
    structure_set = corpus.RTSTRUCT + ".1572928750"  # Monaco: built on the class root
    plan.ReferencedStructureSetSequence = Sequence([corpus.ref(corpus.RTSTRUCT, structure_set)])
    dose = corpus.base_dataset(corpus.RTDOSE, "RTDOSE", sop="1.2.826.0.1.3680043.10.6.2")
    del dose.file_meta
    dose.ReferencedRTPlanSequence = Sequence([corpus.ref(corpus.RTPLAN, plan.SOPInstanceUID)])
    folder = tmp_path / "monaco"
    folder.mkdir()
    plan_path = headless(plan, folder / "plan.dcm", implicit=implicit)
    dose_path = headless(dose, folder / "dose.dcm", implicit=implicit)
    read_plan, read_dose = read_object(plan_path), read_object(dose_path)
    assert read_plan.transfer_syntax is None
    assert [(r.target, r.kind, r.instance) for r in read_plan.references] == [
        (structure_set, Kind.STRUCTURE_SET, True)
    ]
    assert [(r.target, r.kind) for r in read_dose.references] == [(plan.SOPInstanceUID, Kind.PLAN)]
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        report = catalog.scan([folder])
        assert (report.indexed, report.failed) == (2, ())
        assert [r.target for r in catalog.dangling()] == [structure_set]  # truly absent
