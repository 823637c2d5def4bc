"""Real DICOMweb clients against our server: dicomweb-client (the library, searching,
retrieving, reading metadata, storing), and Orthanc's DICOMweb plugin with our server as
one of its remote DICOMweb servers (its /dicom-web/servers/dicomref/... routes: QIDO,
retrieve into Orthanc, a raw GET, STOW from Orthanc).  The Orthanc tests run in the
private network namespace (scripts/in-netns.sh)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient

from dicomref.sample import Sample
from dicomweb_support import WebServed, web_served
from servers import OrthancServer, clone_ct, running, sop_instance_uid

SOP = "00080018"


@pytest.fixture(scope="module")
def web(pristine_sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServed]:
    folder = tmp_path_factory.mktemp("peers")
    url = f"sqlite:///{folder / 'catalog.sqlite'}"
    with web_served([pristine_sample.root], url, folder / "store", allow_stow=True) as served:
        yield served


# -- dicomweb-client -------------------------------------------------------------------------


def test_dicomweb_client_searches(web: WebServed, pristine_sample: Sample) -> None:
    client = DICOMwebClient(web.url)
    plan, dose = pristine_sample.plans[0], pristine_sample.dose
    [row] = client.search_for_instances(search_filters={"SOPInstanceUID": plan.sop_instance})
    assert row["0020000D"]["Value"] == [plan.study]
    listed = client.search_for_instances(
        search_filters={"SOPInstanceUID": [plan.sop_instance, dose.sop_instance]}
    )
    assert {r[SOP]["Value"][0] for r in listed} == {plan.sop_instance, dose.sop_instance}
    plans = client.search_for_instances(
        study_instance_uid=plan.study,
        search_filters={"Modality": "RTPLAN"},
        fields=["ReferencedStructureSetSequence"],
    )
    referenced = {r["300C0060"]["Value"][0]["00081155"]["Value"][0] for r in plans}
    assert referenced == {s.sop_instance for s in pristine_sample.structure_sets}
    studies = client.search_for_studies(search_filters={"PatientID": pristine_sample.patient_id})
    assert len(studies) == 2
    series = client.search_for_series(plan.study, search_filters={"Modality": "CT"})
    assert [s["0020000E"]["Value"][0] for s in series] == [pristine_sample.ct[0].series]
    ct = pristine_sample.ct
    page = client.search_for_instances(ct[0].study, ct[0].series, limit=3, offset=2)
    assert [r[SOP]["Value"][0] for r in page] == [o.sop_instance for o in ct[2:5]]


def test_dicomweb_client_retrieves_and_reads_metadata(
    web: WebServed, pristine_sample: Sample
) -> None:
    client = DICOMwebClient(web.url)
    plan = pristine_sample.plans[0]
    instance = client.retrieve_instance(plan.study, plan.series, plan.sop_instance)
    assert instance == pydicom.dcmread(plan.path)
    ct = pristine_sample.ct
    series = client.retrieve_series(ct[0].study, ct[0].series)
    assert sorted(str(ds.SOPInstanceUID) for ds in series) == sorted(o.sop_instance for o in ct)
    metadata = client.retrieve_instance_metadata(plan.study, plan.series, plan.sop_instance)
    rebuilt = pydicom.Dataset.from_json(metadata)
    assert (
        rebuilt.ReferencedStructureSetSequence
        == pydicom.dcmread(plan.path).ReferencedStructureSetSequence
    )
    series_metadata = client.retrieve_series_metadata(ct[0].study, ct[0].series)
    assert len(series_metadata) == len(ct)


def test_dicomweb_client_stores(web: WebServed, tmp_path: Path) -> None:
    client = DICOMwebClient(web.url)
    paths = clone_ct(tmp_path / "ct", 2)
    answer = client.store_instances([pydicom.dcmread(p) for p in paths])
    stored = {str(item.ReferencedSOPInstanceUID) for item in answer.ReferencedSOPSequence}
    assert stored == {sop_instance_uid(p) for p in paths}
    again = client.store_instances([pydicom.dcmread(paths[0])])  # identical: success again
    assert "FailedSOPSequence" not in again
    found = client.search_for_instances(search_filters={"SOPInstanceUID": ",".join(sorted(stored))})
    assert len(found) == 2


# -- Orthanc's DICOMweb plugin, with our server as its remote ---------------------------------


@pytest.fixture(scope="module")
def orthanc(web: WebServed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    server = OrthancServer(
        tmp_path_factory.mktemp("orthanc-peer"),
        dicomweb=True,
        dicomweb_servers={"dicomref": web.url},
    )
    with running(server) as started:
        yield started


def post(orthanc: OrthancServer, route: str, body: dict[str, Any]) -> Any:
    return orthanc.rest(
        f"/dicom-web/servers/dicomref/{route}", json.dumps(body).encode(), "application/json"
    )


def orthanc_value(row: dict[str, Any], tag: str) -> str:
    """A value of a row Orthanc's plugin relays (it turns single values into strings)."""
    value = row[tag]["Value"]
    return str(value[0] if isinstance(value, list) else value)


def test_orthanc_searches_our_server(orthanc: OrthancServer, pristine_sample: Sample) -> None:
    plan = pristine_sample.plans[0]
    rows = post(
        orthanc, "qido", {"Uri": "/instances", "Arguments": {"SOPInstanceUID": plan.sop_instance}}
    )
    assert [orthanc_value(row, SOP) for row in rows] == [plan.sop_instance]
    series = post(orthanc, "qido", {"Uri": f"/studies/{plan.study}/series"})
    assert plan.series in {orthanc_value(row, "0020000E") for row in series}


def test_orthanc_retrieves_from_our_server(orthanc: OrthancServer, pristine_sample: Sample) -> None:
    plan, ct = pristine_sample.plans[0], pristine_sample.ct
    post(
        orthanc,
        "retrieve",
        {
            "Resources": [
                {"Study": plan.study, "Series": plan.series, "Instance": plan.sop_instance},
                {"Study": ct[0].study, "Series": ct[0].series},
            ]
        },
    )
    held = {
        orthanc.rest(f"/instances/{i}/simplified-tags")["SOPInstanceUID"]
        for i in orthanc.rest("/instances")
    }
    assert {plan.sop_instance, *(o.sop_instance for o in ct)} <= held
    uri = f"/studies/{plan.study}/series/{plan.series}/instances/{plan.sop_instance}/metadata"
    metadata = post(orthanc, "get", {"Uri": uri})
    assert orthanc_value(metadata[0], SOP) == plan.sop_instance


def test_orthanc_sends_to_our_server(
    orthanc: OrthancServer, web: WebServed, tmp_path: Path
) -> None:
    paths = clone_ct(tmp_path / "ct", 2)
    ids = orthanc.upload(paths)
    post(orthanc, "stow", {"Resources": ids, "Synchronous": True})
    client = DICOMwebClient(web.url)
    for path in paths:
        [row] = client.search_for_instances(
            search_filters={"SOPInstanceUID": sop_instance_uid(path)}
        )
        assert row[SOP]["Value"] == [sop_instance_uid(path)]
