"""The catalog's queries, over objects indexed with Catalog.add (no file reading)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from dicomref import catalog as catalog_module
from dicomref.catalog import Catalog, DuplicateGroup, SeriesSummary, _queries
from dicomref.catalog._schema import files
from dicomref.errors import NotInCatalogError
from dicomref.model import Kind, ObjectSummary
from test_catalog_support import (
    RTPLAN,
    RTSTRUCT,
    STUDY_CLASS,
    db_url,
    ref,
    summary,
    uid,
)

__all__ = ["db_url"]  # the fixture, imported for pytest

SERIES = uid(2, 1)
RS = uid(4, 1)
PLAN = uid(6, 1)


def _patient(root: Path, slices: int = 3) -> list[ObjectSummary]:
    cts = [
        summary(root / f"ct{i}.dcm", uid(3, i), series=SERIES, number=i)
        for i in range(slices, 0, -1)  # added out of order on purpose
    ]
    rs = summary(
        root / "rs.dcm",
        RS,
        series=uid(5),
        sop_class=RTSTRUCT,
        modality="RTSTRUCT",
        references=[
            *(ref(RS, uid(3, i), frames=(1,)) for i in range(1, slices + 1)),
            ref(RS, uid(3, 99)),  # a slice nobody has
            ref(RS, uid(1), Kind.STUDY, target_class=STUDY_CLASS, instance=False),
        ],
    )
    plan = summary(
        root / "plan.dcm",
        PLAN,
        series=uid(7),
        sop_class=RTPLAN,
        modality="RTPLAN",
        references=[
            ref(
                PLAN,
                RS,
                Kind.STRUCTURE_SET,
                path="ReferencedStructureSetSequence[0]",
                target_class=RTSTRUCT,
            )
        ],
    )
    return [*cts, rs, plan]


@pytest.fixture
def cat(db_url: str, tmp_path: Path) -> Catalog:
    catalog = Catalog(db_url)
    catalog.add(_patient(tmp_path))
    return catalog


def test_public_names_are_exactly_these() -> None:
    assert sorted(catalog_module.__all__) == catalog_module.__all__
    assert set(catalog_module.__all__) == {
        "Catalog",
        "DuplicateGroup",
        "ScanFailure",
        "ScanProgress",
        "ScanReport",
        "SeriesSummary",
        "default_url",
    }


def test_locate_gives_back_what_was_added_without_references(cat: Catalog, tmp_path: Path) -> None:
    expected = next(s for s in _patient(tmp_path) if s.sop_instance == uid(3, 2))
    assert cat.locate(uid(3, 2)) == [expected]
    assert cat.locate(RS)[0].references == ()
    assert cat.locate(uid(3, 99)) == []


def test_get_gives_references_and_raises_for_unknown_uid(cat: Catalog, tmp_path: Path) -> None:
    expected = next(s for s in _patient(tmp_path) if s.sop_instance == RS)
    assert cat.get(RS) == expected
    with pytest.raises(NotInCatalogError, match="dicomref scan") as info:
        cat.get(uid(3, 99))
    assert info.value.uid == uid(3, 99)


def test_references_both_ways(cat: Catalog) -> None:
    assert [r.target for r in cat.references_from(PLAN)] == [RS]
    assert [(r.source, r.kind) for r in cat.referrers(RS)] == [(PLAN, Kind.STRUCTURE_SET)]
    assert [r.source for r in cat.referrers(uid(3, 1))] == [RS]
    assert cat.referrers(uid(3, 1))[0].frames == (1,)
    assert cat.referrers(uid(3, 99))[0].target == uid(3, 99)  # referenced, not held
    assert cat.references_from(uid(3, 99)) == []  # not held: nothing, no error
    assert cat.references_from(uid(3, 1)) == []


def test_dangling_lists_instance_references_to_objects_no_file_holds(
    cat: Catalog, tmp_path: Path
) -> None:
    assert [(r.source, r.target) for r in cat.dangling()] == [(RS, uid(3, 99))]
    cat.add([summary(tmp_path / "ct99.dcm", uid(3, 99), series=SERIES, number=99)])
    assert cat.dangling() == []


def test_series_and_study_views(cat: Catalog) -> None:
    assert [s.instance_number for s in cat.series_instances(SERIES)] == [1, 2, 3]
    assert cat.study_series(uid(1)) == [
        SeriesSummary(SERIES, "CT", "CT series", 1, 3),
        SeriesSummary(uid(5), "RTSTRUCT", "RTSTRUCT series", 1, 1),
        SeriesSummary(uid(7), "RTPLAN", "RTPLAN series", 1, 1),
    ]
    assert cat.study_series(uid(99)) == []


def test_instances_filter_and_page(
    cat: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_queries, "PAGE", 2)
    assert len(list(cat.instances())) == 5
    assert {s.sop_instance for s in cat.instances(modality="CT")} == {uid(3, i) for i in (1, 2, 3)}
    assert [s.sop_instance for s in cat.instances(sop_class=RTPLAN)] == [PLAN]
    assert list(cat.instances(modality="MR")) == []


def test_counts(cat: Catalog) -> None:
    assert cat.counts() == {
        "patients": 1,
        "studies": 1,
        "series": 3,
        "instances": 5,
        "files": 5,
        "references": 6,
    }


def test_adding_a_path_again_replaces_its_rows(cat: Catalog, tmp_path: Path) -> None:
    rs = cat.get(RS)
    cat.add([dataclasses.replace(rs, references=rs.references[:1])])
    assert len(cat.references_from(RS)) == 1
    assert cat.counts()["files"] == 5


def test_patient_without_id_and_names_are_stored(db_url: str, tmp_path: Path) -> None:
    with Catalog(db_url) as cat:
        cat.add([summary(tmp_path / "a.dcm", uid(3, 1), patient_id=None)])
        cat.add([summary(tmp_path / "b.dcm", uid(3, 2))])
        assert cat.locate(uid(3, 1))[0].patient_id is None
        assert cat.locate(uid(3, 2))[0].patient_name == "Doe^Jane"
        assert cat.counts()["patients"] == 1


# -- duplicates -------------------------------------------------------------------------


def _copies(folder: Path, sop: str, contents: list[bytes]) -> list[ObjectSummary]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n, content in enumerate(contents):
        path = folder / f"copy{n}.dcm"
        path.write_bytes(content)
        st = path.stat()
        out.append(summary(path, sop, size=st.st_size, mtime_ns=st.st_mtime_ns))
    return out


def test_duplicates_compare_content(db_url: str, tmp_path: Path) -> None:
    with Catalog(db_url) as cat:
        cat.add(_copies(tmp_path / "same", uid(3, 1), [b"x" * 10, b"x" * 10]))
        cat.add([summary(tmp_path / "other.dcm", uid(3, 2))])
        [group] = cat.duplicates()
        assert group == DuplicateGroup(
            uid(3, 1),
            (str(tmp_path / "same/copy0.dcm"), str(tmp_path / "same/copy1.dcm")),
            (10, 10),
            True,
        )
        assert cat.duplicates(compare=False)[0].same_content is None
        engine = create_engine(db_url)
        with engine.connect() as conn:  # the hashes are cached for next time
            cached = conn.execute(select(files.c.content_sha256)).scalars().all()
        engine.dispose()
        assert sum(1 for h in cached if h) == 2
        assert cat.duplicates()[0].same_content is True


def test_duplicates_that_differ_or_cannot_be_compared(db_url: str, tmp_path: Path) -> None:
    with Catalog(db_url) as cat:
        cat.add(_copies(tmp_path / "bytes", uid(3, 1), [b"x" * 10, b"y" * 10]))
        cat.add(_copies(tmp_path / "sizes", uid(3, 2), [b"x" * 10, b"x" * 11]))
        cat.add(_copies(tmp_path / "gone", uid(3, 3), [b"x" * 10, b"x" * 10]))
        cat.add(_copies(tmp_path / "changed", uid(3, 4), [b"x" * 10, b"x" * 10]))
        (tmp_path / "gone/copy1.dcm").unlink()
        changed = tmp_path / "changed/copy1.dcm"
        changed.write_bytes(b"z" * 10)
        os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
        (tmp_path / "sizes/copy1.dcm").unlink()  # sizes differ: known without reading
        found = {g.sop_uid: g.same_content for g in cat.duplicates()}
        assert found == {uid(3, 1): False, uid(3, 2): False, uid(3, 3): None, uid(3, 4): None}


def test_the_summary_survives_every_field(db_url: str, tmp_path: Path) -> None:
    s = dataclasses.replace(
        summary(tmp_path / "mf.dcm", uid(3, 7), number=7),
        number_of_frames=12,
        image_position=(0.1, -1e-7, 1234.5678),
        references=(
            ref(uid(3, 7), uid(8), Kind.SOURCE_IMAGE, frames=(1, 2, 3), segments=(4,)),
            ref(uid(3, 7), uid(8, 2), Kind.OTHER, study=uid(1), series=uid(2), target_class=None),
        ),
    )
    with Catalog(db_url) as cat:
        cat.add([s])
        assert cat.get(uid(3, 7)) == s


def test_duplicates_on_a_read_only_catalog_are_compared_without_caching(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with Catalog(f"sqlite:///{path}") as cat:
        cat.add(_copies(tmp_path / "same", uid(3, 1), [b"x" * 10, b"x" * 10]))
    with Catalog(f"sqlite:///file:{path}?mode=ro&uri=true") as cat:
        assert [g.same_content for g in cat.duplicates()] == [True]
