"""The DICOMweb server over HTTP (uvicorn on loopback, httpx as the client): QIDO-RS at
every level with the DIMSE side's matching rules, 400 for what it cannot honour, WADO-RS
retrieve and metadata."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from dicomref.sample import Sample
from dicomref.server.dicomweb import DicomWebLimits
from dicomweb_support import WebServed, datasets, parts, web_served
from serve_support import STUDY_FIND, query, raw_association
from servers import PostgresServer, clone_ct

SOP, STUDY, SERIES = "00080018", "0020000D", "0020000E"
RETRIEVE_URL = "00081190"
EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def web(
    request: pytest.FixtureRequest,
    pristine_sample: Sample,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WebServed]:
    """The sample (and two odd files) served from a catalog on SQLite, then on PostgreSQL."""
    folder = tmp_path_factory.mktemp("dicomweb")
    odd = folder / "odd"
    odd.mkdir()
    for name in ("MR_small_implicit.dcm", "SC_rgb_jpeg_dcmtk.dcm"):
        shutil.copy(str(get_testdata_file(name)), odd / name)
    url = f"sqlite:///{folder / 'catalog.sqlite'}"
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.new_database("dicomweb")
    with web_served([pristine_sample.root, odd], url) as served:
        yield served


@pytest.fixture
def http(web: WebServed) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web.url, timeout=30) as client:
        yield client


def values(rows: list[dict[str, Any]], tag: str) -> list[str]:
    return [row[tag]["Value"][0] for row in rows]


def found(http: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    answer = http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/dicom+json")
    rows: list[dict[str, Any]] = answer.json()
    return rows


# -- QIDO-RS ---------------------------------------------------------------------------------


def test_an_instance_by_its_sop_uid_alone(http: httpx.Client, pristine_sample: Sample) -> None:
    plan = pristine_sample.plans[0]
    [row] = found(http, "/instances", SOPInstanceUID=plan.sop_instance)
    assert (row[STUDY]["Value"], row[SERIES]["Value"]) == ([plan.study], [plan.series])
    assert row["00080016"]["Value"] == [plan.sop_class]
    assert "00080052" not in row and "00080054" not in row  # no DIMSE-only keys
    url = row[RETRIEVE_URL]["Value"][0]
    assert url == (
        f"{http.base_url}studies/{plan.study}/series/{plan.series}/instances/{plan.sop_instance}"
    )
    retrieved = http.get(url, headers={"Accept": "multipart/related; type=application/dicom"})
    assert [str(ds.SOPInstanceUID) for ds in datasets(retrieved)] == [plan.sop_instance]


def test_uid_lists_by_commas_and_by_repeated_keys(
    http: httpx.Client, pristine_sample: Sample
) -> None:
    wanted = [pristine_sample.ct[2].sop_instance, pristine_sample.dose.sop_instance]
    by_commas = found(http, "/instances", SOPInstanceUID=",".join([*wanted, "1.2.3.4"]))
    assert set(values(by_commas, SOP)) == set(wanted)
    repeated = http.get("/instances", params=[("SOPInstanceUID", uid) for uid in wanted])
    assert set(values(repeated.json(), SOP)) == set(wanted)


def test_every_level_and_path(http: httpx.Client, pristine_sample: Sample) -> None:
    first, second = pristine_sample.study_uids
    studies = found(http, "/studies", PatientID=pristine_sample.patient_id)
    assert set(values(studies, STUDY)) == {first, second}
    by_study = {row[STUDY]["Value"][0]: row for row in studies}
    in_first = [o for o in pristine_sample.objects if o.study == first]
    assert by_study[first]["00201208"]["Value"] == [len(in_first)]  # NumberOfStudyRelatedInstances
    assert "RTPLAN" in by_study[first]["00080061"]["Value"]  # ModalitiesInStudy
    assert by_study[first][RETRIEVE_URL]["Value"] == [f"{http.base_url}studies/{first}"]

    series = found(http, f"/studies/{first}/series")
    assert set(values(series, SERIES)) == {o.series for o in in_first}
    ct = pristine_sample.ct
    [ct_series] = [row for row in series if row[SERIES]["Value"] == [ct[0].series]]
    assert ct_series["00201209"]["Value"] == [len(ct)]  # NumberOfSeriesRelatedInstances

    instances = found(http, f"/studies/{first}/series/{ct[0].series}/instances")
    assert values(instances, SOP) == [o.sop_instance for o in ct]  # instance-number order
    assert found(http, f"/studies/{first}/instances", Modality="SEG")[0][SOP]["Value"] == [
        pristine_sample.seg.sop_instance
    ]
    relational = found(http, "/series", Modality="RTSTRUCT")
    assert {row[STUDY]["Value"][0] for row in relational} == {first, second}
    assert "00100020" in relational[0]  # study attributes in a search without a study


def c_find_uids(web: WebServed, level: str, keyword: str, **keys: Any) -> set[str]:
    with raw_association(web.server.port, relational=True) as assoc:
        identifier = query(level, **{keyword: "", **keys})
        return {
            str(getattr(ds, keyword))
            for status, ds in assoc.send_c_find(identifier, STUDY_FIND)
            if status.Status in (0xFF00, 0xFF01)
        }


@pytest.mark.parametrize(
    ("path", "level", "keyword", "keys"),
    [
        ("/studies", "STUDY", "StudyInstanceUID", {"PatientName": "dicomref^sample*"}),
        ("/studies", "STUDY", "StudyInstanceUID", {"StudyDate": "20180101-20180110"}),
        ("/studies", "STUDY", "StudyInstanceUID", {"StudyDate": "20180115-"}),
        ("/studies", "STUDY", "StudyInstanceUID", {"StudyDate": "2018"}),
        ("/studies", "STUDY", "StudyInstanceUID", {"StudyDescription": "FOLLOW?UP*"}),
        ("/studies", "STUDY", "StudyInstanceUID", {"StudyDescription": "follow*"}),
        ("/studies", "STUDY", "StudyInstanceUID", {"ModalitiesInStudy": "SEG"}),
        ("/studies", "STUDY", "StudyInstanceUID", {"ModalitiesInStudy": "MR\\RTSTRUCT"}),
        ("/series", "SERIES", "SeriesInstanceUID", {"SeriesDescription": "PLAN *"}),
        ("/series", "SERIES", "SeriesInstanceUID", {"Modality": "RT*"}),
        ("/instances", "IMAGE", "SOPInstanceUID", {"InstanceNumber": "2\\5"}),
        ("/instances", "IMAGE", "SOPInstanceUID", {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.2"}),
    ],
)
@pytest.mark.filterwarnings("ignore:Invalid value for VR")  # the C-FIND side's wildcards
def test_the_matching_rules_of_the_dimse_side(
    web: WebServed, http: httpx.Client, path: str, level: str, keyword: str, keys: dict[str, str]
) -> None:
    tag = {"StudyInstanceUID": STUDY, "SeriesInstanceUID": SERIES, "SOPInstanceUID": SOP}[keyword]
    dimse_keys = {k: v.split("\\") if "\\" in v else v for k, v in keys.items()}
    expected = c_find_uids(web, level, keyword, **dimse_keys)
    assert set(values(found(http, path, **keys), tag)) == expected
    if keys != {"StudyDate": "2018"} and "follow*" not in keys.values():
        assert expected  # the cases that should match do


def test_limit_and_offset(http: httpx.Client, pristine_sample: Sample) -> None:
    series = pristine_sample.ct[0].series
    every = values(found(http, "/instances", SeriesInstanceUID=series), SOP)
    first = values(found(http, "/instances", SeriesInstanceUID=series, limit=5), SOP)
    rest = values(found(http, "/instances", SeriesInstanceUID=series, limit=50, offset=5), SOP)
    assert first + rest == every and len(first) == 5
    assert found(http, "/instances", SeriesInstanceUID=series, offset=500) == []


def test_more_answers_than_the_maximum_are_cut_with_a_warning(
    pristine_sample: Sample, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with web_served([pristine_sample.root], url, limits=DicomWebLimits(max_results=3)) as web:
        answer = httpx.get(f"{web.url}/instances")
        assert len(answer.json()) == 3
        assert answer.headers["warning"].startswith("299 ")
        asked = httpx.get(f"{web.url}/instances", params={"limit": 2})
        assert len(asked.json()) == 2 and "warning" not in asked.headers


def test_strict_mode_searches_only_within_study_and_series(
    pristine_sample: Sample, tmp_path: Path
) -> None:
    """``ServerConfig.strict`` (``serve --strict``): as the DIMSE side refuses identifiers
    without the unique keys above, a search outside its study and series is 400."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    ct = pristine_sample.ct[0]
    study, series = ct.study, ct.series
    with web_served([pristine_sample.root], url, strict=True) as web:
        for path in ("/instances", "/series", f"/studies/{study}/instances"):
            answer = httpx.get(f"{web.url}{path}", params={"SOPInstanceUID": ct.sop_instance})
            assert answer.status_code == 400, path
            assert "/studies/{study}/series" in answer.text
        inside = httpx.get(f"{web.url}/studies/{study}/series/{series}/instances")
        assert ct.sop_instance in values(inside.json(), "00080018")
        listed = httpx.get(f"{web.url}/studies/{study}/series")
        assert series in values(listed.json(), "0020000E")
        assert len(httpx.get(f"{web.url}/studies").json()) >= 1


def test_an_empty_answer_is_200_and_an_empty_list(http: httpx.Client) -> None:
    answer = http.get("/instances", params={"SOPInstanceUID": "1.2.3.4.5"})
    assert (answer.status_code, answer.json()) == (200, [])


def test_reference_sequences_from_the_catalog(http: httpx.Client, pristine_sample: Sample) -> None:
    plan, structure_set = pristine_sample.plans[0], pristine_sample.structure_sets[0]
    [row] = found(
        http,
        "/instances",
        SOPInstanceUID=plan.sop_instance,
        includefield="ReferencedStructureSetSequence",
    )
    [item] = row["300C0060"]["Value"]
    assert item["00081155"]["Value"] == [structure_set.sop_instance]
    [everything] = found(
        http, "/instances", SOPInstanceUID=structure_set.sop_instance, includefield="all"
    )
    contour_images = str(everything["30060039"])  # ROIContourSequence → ContourImageSequence
    assert all(ct.sop_instance in contour_images for ct in pristine_sample.ct[3:6])
    assert "00200052" in everything  # FrameOfReferenceUID: a catalog column


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        (
            "/instances",
            {"ReferencedStructureSetSequence.ReferencedSOPInstanceUID": "1.2.3"},
            "ReferencedStructureSetSequence.ReferencedSOPInstanceUID",
        ),
        ("/instances", {"Rows": "512"}, "Rows"),
        ("/instances", {"00280010": "512"}, "00280010"),
        ("/instances", {"PatientBirthTime": "1200"}, "PatientBirthTime"),
        ("/instances", {"NoSuchKeyword": "x"}, "NoSuchKeyword"),
        ("/instances", {"ImagePositionPatient": "0\\0\\0"}, "ImagePositionPatient"),
        ("/studies", {"SOPInstanceUID": "1.2.3"}, "SOPInstanceUID"),
        ("/studies", {"Modality": "CT"}, "Modality"),
        ("/studies", {"fuzzymatching": "true"}, "fuzzymatching"),
        ("/studies", {"limit": "ten"}, "limit"),
        ("/studies", {"offset": "-1"}, "offset"),
        ("/studies", {"includefield": "Rows"}, "Rows"),
        ("/series", {"includefield": "ReferencedImageSequence"}, "ReferencedImageSequence"),
        ("/studies", {"StudyDate": "20180101", "includefield": "Wrong"}, "Wrong"),
    ],
)
def test_what_cannot_be_honoured_is_400_naming_it(
    http: httpx.Client, path: str, params: dict[str, str], named: str
) -> None:
    answer = http.get(path, params=params)
    assert answer.status_code == 400, answer.text
    assert named in answer.text


def test_a_study_level_uid_twice_is_refused(http: httpx.Client, pristine_sample: Sample) -> None:
    first = pristine_sample.study_uids[0]
    answer = http.get(f"/studies/{first}/series", params={"StudyInstanceUID": first})
    assert answer.status_code == 400 and "StudyInstanceUID" in answer.text
    assert http.get("/studies", params={"StudyDate": ["20180101", "20180102"]}).status_code == 400


def test_retrieve_url_keeps_the_port_when_host_leaves_it_out(
    web: WebServed, pristine_sample: Sample
) -> None:
    plan = pristine_sample.plans[0]
    answer = httpx.get(
        f"{web.url}/instances",
        params={"SOPInstanceUID": plan.sop_instance},
        headers={"Host": "127.0.0.1"},
    )
    assert answer.json()[0][RETRIEVE_URL]["Value"][0].startswith(f"{web.url}/studies/")


# -- WADO-RS ---------------------------------------------------------------------------------


def test_retrieve_an_instance_a_series_and_a_study(
    http: httpx.Client, pristine_sample: Sample
) -> None:
    ct = pristine_sample.ct
    study = ct[0].study
    one = http.get(f"/studies/{study}/series/{ct[0].series}/instances/{ct[3].sop_instance}")
    assert one.status_code == 200
    assert one.headers["content-type"].startswith('multipart/related; type="application/dicom"')
    [part] = parts(one)
    assert part.content_type == f"application/dicom; transfer-syntax={EXPLICIT_LE}"
    assert part.body == ct[3].path.read_bytes()  # stored Explicit VR LE: sent as stored
    series = datasets(http.get(f"/studies/{study}/series/{ct[0].series}"))
    assert [str(ds.SOPInstanceUID) for ds in series] == [o.sop_instance for o in ct]
    whole = datasets(http.get(f"/studies/{study}", headers={"Accept": "*/*"}))
    assert {str(ds.SOPInstanceUID) for ds in whole} == {
        o.sop_instance for o in pristine_sample.objects if o.study == study
    }


def _odd(http: httpx.Client, name: str) -> tuple[str, Dataset]:
    path = Path(str(get_testdata_file(name)))
    original = pydicom.dcmread(path)
    [row] = found(http, "/instances", SOPInstanceUID=str(original.SOPInstanceUID))
    return row[RETRIEVE_URL]["Value"][0], original


def test_implicit_vr_is_sent_as_explicit_vr_by_default_and_as_stored_on_request(
    http: httpx.Client,
) -> None:
    url, original = _odd(http, "MR_small_implicit.dcm")
    [converted] = datasets(http.get(url))
    assert converted.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert converted.PixelData == original.PixelData
    assert converted.PatientName == original.PatientName
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    [stored] = parts(http.get(url, headers={"Accept": accept}))
    assert stored.content_type.endswith(f"transfer-syntax={IMPLICIT_LE}")
    assert stored.body == Path(str(get_testdata_file("MR_small_implicit.dcm"))).read_bytes()


def test_a_compressed_object_is_406_unless_asked_as_stored(http: httpx.Client) -> None:
    url, original = _odd(http, "SC_rgb_jpeg_dcmtk.dcm")
    refused = http.get(url)
    assert refused.status_code == 406
    assert "transfer-syntax=*" in refused.text and str(original.SOPInstanceUID) in refused.text
    syntax = original.file_meta.TransferSyntaxUID
    accept = f'multipart/related; type="application/dicom"; transfer-syntax={syntax}'
    [part] = parts(http.get(url, headers={"Accept": accept}))
    assert part.body == Path(str(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))).read_bytes()


def test_an_accept_header_may_list_fallbacks(http: httpx.Client, pristine_sample: Sample) -> None:
    url, original = _odd(http, "SC_rgb_jpeg_dcmtk.dcm")
    dicom = 'multipart/related; type="application/dicom"'
    fallbacks = f"{dicom}; transfer-syntax={EXPLICIT_LE}, {dicom}; transfer-syntax=*; q=0.5"
    [part] = parts(http.get(url, headers={"Accept": fallbacks}))
    assert part.content_type.endswith(str(original.file_meta.TransferSyntaxUID))
    plan = pristine_sample.plans[0]
    implicit_first = f"{dicom}; transfer-syntax={IMPLICIT_LE}, {dicom}"  # not converted back
    one = http.get(
        f"/studies/{plan.study}/series/{plan.series}/instances/{plan.sop_instance}",
        headers={"Accept": implicit_first},
    )
    [part] = parts(one)
    assert part.content_type.endswith(EXPLICIT_LE)


@pytest.mark.parametrize(
    "accept",
    ["image/jpeg", 'multipart/related; type="image/jpeg"', "application/dicom+json", "*/*;q=0"],
)
def test_what_cannot_be_given_is_406(
    http: httpx.Client, pristine_sample: Sample, accept: str
) -> None:
    plan = pristine_sample.plans[0]
    answer = http.get(f"/studies/{plan.study}/series/{plan.series}", headers={"Accept": accept})
    assert answer.status_code == 406, answer.text
    assert "offered" in answer.text


def test_unknown_objects_are_404(http: httpx.Client, pristine_sample: Sample) -> None:
    plan = pristine_sample.plans[0]
    assert http.get("/studies/1.2.3.4").status_code == 404
    assert http.get(f"/studies/{plan.study}/series/1.2.3/metadata").status_code == 404
    missing = http.get(f"/studies/{plan.study}/series/{plan.series}/instances/1.2.3.4")
    assert missing.status_code == 404 and "1.2.3.4" in missing.text


def test_metadata_carries_every_sequence_and_no_pixel_data(
    http: httpx.Client, pristine_sample: Sample
) -> None:
    structure_set = pristine_sample.structure_sets[0]
    base = f"/studies/{structure_set.study}/series/{structure_set.series}"
    [meta] = found(http, f"{base}/instances/{structure_set.sop_instance}/metadata")
    rebuilt = Dataset.from_json(meta)
    held = pydicom.dcmread(structure_set.path)
    assert rebuilt.ROIContourSequence == held.ROIContourSequence  # contours and references
    ct = pristine_sample.ct
    series = found(http, f"/studies/{ct[0].study}/series/{ct[0].series}/metadata")
    assert [row[SOP]["Value"][0] for row in series] == [o.sop_instance for o in ct]
    assert all("7FE00010" not in row for row in series)
    again = found(http, f"/studies/{ct[0].study}/series/{ct[0].series}/metadata")
    assert again == series  # from the cache, the same


def test_metadata_is_read_again_when_the_file_changes(
    pristine_sample: Sample, tmp_path: Path
) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    ct = pristine_sample.ct[0]
    path = Path(shutil.copy(ct.path, folder / "ct.dcm"))
    with web_served([folder], f"sqlite:///{tmp_path / 'c.sqlite'}") as web:
        url = (
            f"{web.url}/studies/{ct.study}/series/{ct.series}/instances/{ct.sop_instance}/metadata"
        )
        assert httpx.get(url).json()[0]["00081030"]["Value"] != ["CHANGED"]
        ds = pydicom.dcmread(path)
        ds.StudyDescription = "CHANGED"
        ds.save_as(path)
        assert httpx.get(url).json()[0]["00081030"]["Value"] == ["CHANGED"]


def _big_series(folder: Path, count: int, megabytes: int) -> list[Path]:
    """``count`` CT files of one series, each with ``megabytes`` of pixel data."""
    paths = clone_ct(folder, count)
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.Rows, ds.Columns = 1024, megabytes * 512
        ds.PixelData = b"\1\2" * (1024 * megabytes * 512)
        ds.save_as(path)
    return paths


def test_a_file_gone_before_the_answer_is_404(tmp_path: Path) -> None:
    paths = _big_series(tmp_path / "ct", 2, 1)
    with web_served([tmp_path / "ct"], f"sqlite:///{tmp_path / 'c.sqlite'}") as web:
        ds = pydicom.dcmread(paths[1], stop_before_pixels=True)
        paths[1].unlink()
        series = f"{web.url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        for url in (series, f"{series}/metadata", f"{series}/instances/{ds.SOPInstanceUID}"):
            answer = httpx.get(url)
            assert answer.status_code == 404, url
            assert str(ds.SOPInstanceUID) in answer.text and "dicomref scan" in answer.text


def test_a_file_gone_while_it_is_sent_breaks_the_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The client sees a broken body (never one that looks whole); the server logs one
    line, no traceback, and goes on serving."""
    paths = _big_series(tmp_path / "ct", 2, 8)
    with web_served([tmp_path / "ct"], f"sqlite:///{tmp_path / 'c.sqlite'}") as web:
        ds = pydicom.dcmread(paths[0], stop_before_pixels=True)
        series = f"{web.url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        with pytest.raises(httpx.HTTPError), httpx.stream("GET", series, timeout=30) as answer:
            assert answer.status_code == 200
            chunks = answer.iter_raw()
            next(chunks)
            paths[1].unlink()
            for _ in chunks:
                pass
        assert httpx.get(f"{web.url}/studies", timeout=10).status_code == 200
    assert "answer cut short" in caplog.text
    assert "Traceback" not in caplog.text


def test_concurrent_clients_get_whole_answers(web: WebServed, pristine_sample: Sample) -> None:
    """8 clients at once, each searching, reading metadata and retrieving: every answer
    whole and right (the catalog read from Starlette's thread pool)."""
    ct = pristine_sample.ct
    series = f"{web.url}/studies/{ct[0].study}/series/{ct[0].series}"

    def client(index: int) -> int:
        done = 0
        with httpx.Client(timeout=60) as http:
            for round_ in range(6):
                target = ct[(index + round_) % len(ct)]
                rows = http.get(
                    f"{web.url}/instances", params={"SOPInstanceUID": target.sop_instance}
                )
                assert values(rows.json(), SOP) == [target.sop_instance]
                metadata = http.get(f"{series}/metadata").json()
                assert len(metadata) == len(ct)
                retrieved = parts(http.get(series))
                assert [p.body for p in retrieved] == [o.path.read_bytes() for o in ct]
                done += 1
        return done

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(client, range(8))) == 48
