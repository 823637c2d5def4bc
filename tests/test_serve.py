"""``dicomref serve`` against clients in this process: dicomref's own DIMSE client and raw
pynetdicom associations.  The clients nobody here wrote (DCMTK, pynetdicom's apps, Orthanc)
and the side-by-side comparison with dcmqrscp are in test_serve_interop.py."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID

from backends import BACKENDS, BOTH_BACKENDS
from dicomref._dimse._node import Node
from dicomref.catalog import Catalog
from dicomref.errors import AssociationError, StatusError, UsageError
from dicomref.remote.transport._dimse_client import DimseClient
from dicomref.remote.transport._receiver import FolderWriter
from dicomref.sample import Sample, generate_sample
from dicomref.server import Destination, ServerConfig
from serve_support import (
    STUDY_FIND,
    STUDY_GET,
    STUDY_MOVE,
    TIMEOUTS,
    Served,
    catalog_of,
    node,
    query,
    raw_association,
    start,
)
from servers import LOOPBACK, PostgresServer, clone_ct, free_port, wait_until

SLICES = 12
OUR_AE = "DICOMREF"


# -- fixtures: one patient, served three ways --------------------------------------------------


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return generate_sample(tmp_path_factory.mktemp("serve") / "patient", slices=SLICES)


@pytest.fixture(scope="module", params=BACKENDS)
def url(
    request: pytest.FixtureRequest, patient: Sample, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The patient's catalog: every test served from it runs on SQLite and on PostgreSQL."""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return catalog_of([patient.root], server.new_database("serve"))
    folder = tmp_path_factory.mktemp("catalog")
    return catalog_of([patient.root], f"sqlite:///{folder / 'catalog.sqlite'}")


@pytest.fixture(scope="module")
def receiver_port() -> int:
    """Where dicomref's client receives C-MOVE objects (a destination of every server)."""
    return free_port()


@pytest.fixture(scope="module")
def served(
    url: str, receiver_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    config = ServerConfig(
        port=0,
        store=tmp_path_factory.mktemp("store"),
        destinations=(Destination(OUR_AE, LOOPBACK, receiver_port),),
    )
    running = start(config, url)
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def strict(url: str, receiver_port: int) -> Iterator[Served]:
    config = ServerConfig(
        port=0, strict=True, destinations=(Destination(OUR_AE, LOOPBACK, receiver_port),)
    )
    running = start(config, url)
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def guarded(url: str, receiver_port: int) -> Iterator[Served]:
    config = ServerConfig(
        port=0,
        allowed_callers=frozenset({"FRIEND", "READER"}),
        retrievers=frozenset({"FRIEND"}),
        destinations=(Destination("FRIEND", LOOPBACK, receiver_port),),
    )
    running = start(config, url)
    yield running
    running.server.stop()


@pytest.fixture
def client(served: Served, receiver_port: int) -> Iterator[DimseClient]:
    with DimseClient(node(served.server, store_port=receiver_port)) as opened:
        yield opened


def uids(rows: list[Dataset], keyword: str = "SOPInstanceUID") -> set[str]:
    return {str(getattr(r, keyword)) for r in rows}


# -- C-ECHO and C-FIND -------------------------------------------------------------------------


def test_echo(client: DimseClient) -> None:
    client.echo()


def test_find_at_every_level_of_the_study_root(client: DimseClient, patient: Sample) -> None:
    first, second = patient.study_uids
    rows = client.find(
        "STUDY",
        query(
            StudyInstanceUID="",
            StudyDate="",
            ModalitiesInStudy="",
            NumberOfStudyRelatedSeries="",
            NumberOfStudyRelatedInstances="",
            PatientID="",
        ),
    )
    by_uid = {r.StudyInstanceUID: r for r in rows}
    assert set(by_uid) == {first, second}
    assert list(by_uid[first].ModalitiesInStudy) == [
        "CT",
        "KO",
        "RTDOSE",
        "RTPLAN",
        "RTSTRUCT",
        "SEG",
    ]
    assert by_uid[first].NumberOfStudyRelatedSeries == 7
    assert by_uid[first].NumberOfStudyRelatedInstances == SLICES + 7
    assert by_uid[first].PatientID == patient.patient_id
    assert by_uid[first].StudyDate == "20180101"

    rows = client.find(
        "SERIES",
        query(
            StudyInstanceUID=first,
            SeriesInstanceUID="",
            Modality="",
            SeriesNumber="",
            NumberOfSeriesRelatedInstances="",
        ),
    )
    assert len(rows) == 7  # one answer per series, never one per instance
    counts = {str(r.Modality): int(r.NumberOfSeriesRelatedInstances) for r in rows}
    assert counts["CT"] == SLICES and counts["RTSTRUCT"] == 2

    ct = patient.ct[0]
    rows = client.find(
        "IMAGE",
        query(
            StudyInstanceUID=first,
            SeriesInstanceUID=ct.series,
            SOPInstanceUID="",
            InstanceNumber="",
            SOPClassUID="",
        ),
    )
    assert uids(rows) == {o.sop_instance for o in patient.ct}
    assert [int(r.InstanceNumber) for r in rows] == list(range(1, SLICES + 1))


def test_find_in_the_patient_root(client: DimseClient, patient: Sample) -> None:
    rows = client.find(
        "PATIENT",
        query(
            PatientID="",
            PatientName="",
            NumberOfPatientRelatedStudies="",
            NumberOfPatientRelatedInstances="",
        ),
        root="patient",
    )
    assert [(r.PatientID, int(r.NumberOfPatientRelatedStudies)) for r in rows] == [
        (patient.patient_id, 2)
    ]
    assert int(rows[0].NumberOfPatientRelatedInstances) == len(patient.objects)
    rows = client.find(
        "STUDY", query(PatientID=patient.patient_id, StudyInstanceUID=""), root="patient"
    )
    assert uids(rows, "StudyInstanceUID") == set(patient.study_uids)


def test_image_query_by_sop_uid_alone_and_by_list(client: DimseClient, patient: Sample) -> None:
    """What strictly hierarchical servers refuse: no Study or Series key at all."""
    dose = patient.dose
    rows = client.find("IMAGE", query(SOPInstanceUID=dose.sop_instance))
    assert len(rows) == 1
    assert (rows[0].StudyInstanceUID, rows[0].SeriesInstanceUID) == (dose.study, dose.series)
    assert rows[0].RetrieveAETitle == "DICOMREF_QR"

    wanted = [o.sop_instance for o in (*patient.plans, *patient.structure_sets)]
    rows = client.find(
        "IMAGE", query(StudyInstanceUID="", SeriesInstanceUID="", SOPInstanceUID=wanted)
    )
    assert uids(rows) == set(wanted)
    assert {r.StudyInstanceUID for r in rows} == {patient.study_uids[0]}  # filled in

    rows = client.find("IMAGE", query(SOPInstanceUID=wanted), root="patient")
    assert uids(rows) == set(wanted)


def test_relational_queries(client: DimseClient, patient: Sample) -> None:
    """Keys of any level above the query level, without the unique keys between."""
    rows = client.find(
        "SERIES", query(PatientID=patient.patient_id, Modality="RTPLAN", SeriesInstanceUID="")
    )
    assert uids(rows, "SeriesInstanceUID") == {p.series for p in patient.plans}
    rows = client.find(
        "IMAGE", query(PatientID=patient.patient_id, Modality="RTSTRUCT", SOPInstanceUID="")
    )
    second = patient.by_role("second_study_structure_set")
    assert uids(rows) == {s.sop_instance for s in (*patient.structure_sets, *second)}


@pytest.mark.filterwarnings("ignore:Invalid value for VR")  # pydicom, about our own "2018"
def test_matching_rules(client: DimseClient, patient: Sample) -> None:
    first, second = patient.study_uids

    def studies(**keys: Any) -> set[str]:
        identifier = query(**{"StudyInstanceUID": "", **keys})
        return uids(client.find("STUDY", identifier), "StudyInstanceUID")

    assert studies(PatientName="dicomref^sample*") == {first, second}  # names ignore case
    assert studies(PatientName="NOBODY*") == set()
    assert studies(StudyDate="20180101-20180110") == {first}
    assert studies(StudyDate="20180115-") == {second}
    assert studies(StudyDate="-20180101") == {first}
    assert studies(StudyDate="20180122") == {second}
    assert studies(StudyDate="2018") == set()  # not a date: matches nothing, fails nothing
    assert studies(StudyDescription="FOLLOW?UP*") == {second}
    assert studies(StudyDescription="follow*") == set()  # text is case-sensitive
    assert studies(StudyInstanceUID=[first, "1.2.3.4"]) == {first}
    assert studies(ModalitiesInStudy="SEG") == {first}
    assert studies(ModalitiesInStudy=["MR", "RTSTRUCT"]) == {first, second}
    assert studies(ModalitiesInStudy="*") == {first, second}

    ct = patient.ct[0]
    rows = client.find(
        "IMAGE", query(SeriesInstanceUID=ct.series, InstanceNumber=["2", "5"], SOPInstanceUID="")
    )
    assert uids(rows) == {patient.ct[1].sop_instance, patient.ct[4].sop_instance}
    rows = client.find(
        "SERIES", query(StudyInstanceUID=first, SeriesDescription="PLAN *", SeriesInstanceUID="")
    )
    assert len(rows) == 2


def test_the_keys_pacs_users_query_by(client: DimseClient, patient: Sample) -> None:
    """AccessionNumber, StudyID, StudyTime, PatientBirthDate and PatientSex are matched and
    returned, as they were in the files."""
    first, second = patient.study_uids
    heads = {
        uid: pydicom.dcmread(next(o.path for o in patient.objects if o.study == uid))
        for uid in (first, second)
    }

    def studies(**keys: Any) -> list[Dataset]:
        identifier = query(**{"StudyInstanceUID": "", **keys})
        return list(client.find("STUDY", identifier))

    for uid, head in heads.items():
        [row] = studies(AccessionNumber=head.AccessionNumber, StudyTime="", StudyID="")
        assert row.StudyInstanceUID == uid
        assert (row.StudyTime, row.StudyID) == (head.StudyTime, head.StudyID)
        [row] = studies(StudyID=head.StudyID, PatientSex="", PatientBirthDate="")
        assert row.StudyInstanceUID == uid
        assert (row.PatientSex, row.PatientBirthDate) == (head.PatientSex, head.PatientBirthDate)
    head = heads[first]
    assert len(studies(PatientSex=head.PatientSex)) == 2
    assert studies(PatientSex="O") == []
    assert len(studies(PatientBirthDate=f"-{head.PatientBirthDate}")) == 2
    assert studies(AccessionNumber="NO-SUCH*") == []
    assert {r.StudyInstanceUID for r in studies(StudyTime=f"{head.StudyTime}-")} >= {first}
    rows = client.find(
        "PATIENT",
        query(PatientID=patient.patient_id, PatientSex="", PatientBirthDate=""),
        root="patient",
    )
    assert [(r.PatientSex, r.PatientBirthDate) for r in rows] == [
        (head.PatientSex, head.PatientBirthDate)
    ]


def test_unknown_and_private_keys_are_answered_empty(served: Served, patient: Sample) -> None:
    identifier = query(
        "IMAGE",
        SOPInstanceUID=patient.plans[0].sop_instance,
        ReferringPhysicianName="",
        PatientMotherBirthName="",
        BeamSequence=[],
    )
    identifier.add_new(0x00090010, "LO", "SOME CREATOR")
    identifier.add_new(0x00091001, "LO", "")
    with raw_association(served.port) as assoc:
        responses = list(assoc.send_c_find(identifier, STUDY_FIND))
    assert [int(s.Status) for s, _ in responses] == [0xFF00, 0x0000]
    answer = responses[0][1]
    assert answer is not None
    assert answer.SOPInstanceUID == patient.plans[0].sop_instance
    for keyword in ("ReferringPhysicianName", "PatientMotherBirthName"):
        assert keyword in answer and not answer[keyword].value
    assert answer.BeamSequence == []  # no references there
    assert 0x00091001 in answer


@pytest.mark.parametrize(
    ("identifier", "comment"),
    [
        (query(SOPInstanceUID="1.2.3"), "no QueryRetrieveLevel"),
        (query("FRAME", SOPInstanceUID="1.2.3"), "is unknown"),
        (query("PATIENT", PatientID=""), "the study root has no PATIENT level"),
    ],
)
def test_identifiers_without_a_usable_level_are_refused(
    served: Served, identifier: Dataset, comment: str
) -> None:
    with raw_association(served.port) as assoc:
        [(final, _)] = list(assoc.send_c_find(identifier, STUDY_FIND))
        assert (final.Status, comment in final.ErrorComment) == (0xA900, True)
        assert assoc.send_c_echo().Status == 0  # the association goes on


def test_the_reference_chain_can_be_read_with_c_find_alone(
    client: DimseClient, patient: Sample
) -> None:
    """Plan → its structure set → the CT slices its contours lie on, and dose → plan,
    without moving any object."""
    plan = patient.plans[0]
    [row] = client.find(
        "IMAGE", query(SOPInstanceUID=plan.sop_instance, ReferencedStructureSetSequence=[])
    )
    [item] = row.ReferencedStructureSetSequence
    assert item.ReferencedSOPClassUID == patient.structure_sets[0].sop_class
    assert item.ReferencedSOPInstanceUID == patient.structure_sets[0].sop_instance

    [ss] = client.find(
        "IMAGE",
        query(
            SOPInstanceUID=item.ReferencedSOPInstanceUID,
            SeriesInstanceUID="",
            ROIContourSequence=[],
            ReferencedFrameOfReferenceSequence=[],
        ),
    )
    assert ss.SeriesInstanceUID == patient.structure_sets[0].series
    slices = {
        image.ReferencedSOPInstanceUID
        for roi in ss.ROIContourSequence
        for contour in roi.ContourSequence
        for image in contour.ContourImageSequence
    }
    assert slices and slices <= {o.sop_instance for o in patient.ct}
    [frame] = ss.ReferencedFrameOfReferenceSequence
    [study] = frame.RTReferencedStudySequence
    assert study.ReferencedSOPInstanceUID == patient.study_uids[0]
    [series] = study.RTReferencedSeriesSequence
    assert series.SeriesInstanceUID == patient.ct[0].series
    located = client.find("IMAGE", query(SOPInstanceUID=sorted(slices), InstanceNumber=""))
    assert uids(located) == slices

    [dose] = client.find(
        "IMAGE", query(SOPInstanceUID=patient.dose.sop_instance, ReferencedRTPlanSequence=[])
    )
    assert dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == plan.sop_instance

    [kos] = client.find(
        "IMAGE",
        query(
            SOPInstanceUID=patient.kos.sop_instance, CurrentRequestedProcedureEvidenceSequence=[]
        ),
    )
    [evidence] = kos.CurrentRequestedProcedureEvidenceSequence
    assert evidence.StudyInstanceUID == patient.study_uids[0]
    assert all("SeriesInstanceUID" in s for s in evidence.ReferencedSeriesSequence)


def test_find_latency_at_image_level_by_sop_uid(served: Served, patient: Sample) -> None:
    """A lookup by SOP Instance UID alone on an open association stays interactive."""
    targets = [o.sop_instance for o in patient.objects]
    with raw_association(served.port) as assoc:
        times = []
        for uid in targets * 3:
            started = time.perf_counter()
            responses = list(assoc.send_c_find(query("IMAGE", SOPInstanceUID=uid), STUDY_FIND))
            times.append(time.perf_counter() - started)
            assert len(responses) == 2
    times.sort()
    assert times[len(times) // 2] < 0.1  # measured ~9 ms median here (TCP_NODELAY both ends)


# -- C-GET and C-MOVE --------------------------------------------------------------------------


def test_get_at_every_level(client: DimseClient, patient: Sample, tmp_path: Path) -> None:
    second = set(patient.study_uids[1:])
    second_objects = {o.sop_instance for o in patient.objects if o.study in second}
    writer = FolderWriter(tmp_path / "study")
    result = client.get(query(StudyInstanceUID=sorted(second)), "STUDY", writer)
    result.verify(second_objects)
    assert (result.status, result.completed, result.failed) == (0, len(second_objects), 0)

    plans = patient.plans
    writer = FolderWriter(tmp_path / "series")
    result = client.get(
        query(StudyInstanceUID=plans[0].study, SeriesInstanceUID=[p.series for p in plans]),
        "SERIES",
        writer,
    )
    result.verify({p.sop_instance for p in plans})

    writer = FolderWriter(tmp_path / "patient")
    result = client.get(query(PatientID=patient.patient_id), "PATIENT", writer, root="patient")
    result.verify({o.sop_instance for o in patient.objects})

    wanted = {o.sop_instance for o in patient.ct[:4]}
    writer = FolderWriter(tmp_path / "image")
    result = client.get(query(SOPInstanceUID=sorted(wanted)), "IMAGE", writer, expected=wanted)
    result.verify(wanted)
    for uid, path in writer.written.items():
        assert pydicom.dcmread(path).SOPInstanceUID == uid


def test_move_to_a_configured_destination(
    client: DimseClient, patient: Sample, tmp_path: Path
) -> None:
    wanted = {patient.dose.sop_instance, patient.seg.sop_instance}
    writer = FolderWriter(tmp_path)
    result = client.move(query(SOPInstanceUID=sorted(wanted)), "IMAGE", on_store=writer)
    result.verify(wanted)
    assert (result.status, result.completed, result.remaining) == (0, 2, 0)
    assert set(writer.written) == wanted


def test_move_to_an_unknown_destination(client: DimseClient, patient: Sample) -> None:
    with pytest.raises(StatusError) as caught:
        client.move(query(SOPInstanceUID=patient.dose.sop_instance), "IMAGE", "NOBODY")
    assert caught.value.status == 0xA801


def test_an_unbounded_retrieve_is_refused(served: Served) -> None:
    with raw_association(served.port) as assoc:
        [(final, _)] = list(assoc.send_c_get(query("STUDY", StudyInstanceUID=""), STUDY_GET))
    assert final.Status == 0xA900
    assert "name what to retrieve" in final.ErrorComment


def test_files_gone_from_disk_are_failed_suboperations(tmp_path: Path) -> None:
    sample = generate_sample(tmp_path / "patient", slices=4)
    url = catalog_of([sample.root], f"sqlite:///{tmp_path / 'c.sqlite'}")
    gone = sample.ct[1]
    gone.path.unlink()
    running = start(ServerConfig(port=0), url)
    try:
        series = query("SERIES", StudyInstanceUID=gone.study, SeriesInstanceUID=gone.series)
        with raw_association(running.port, storage=[CTImageStorage], get_roles=True) as assoc:
            responses = list(assoc.send_c_get(series, STUDY_GET))
            final, identifier = responses[-1]
            assert (final.Status, final.NumberOfCompletedSuboperations) == (0xB000, 3)
            assert final.NumberOfFailedSuboperations == 1
            assert identifier is not None
            assert identifier.FailedSOPInstanceUIDList == gone.sop_instance
            for ct in sample.ct:
                ct.path.unlink(missing_ok=True)
            final, identifier = list(assoc.send_c_get(series, STUDY_GET))[-1]
            assert (final.Status, final.NumberOfFailedSuboperations) == (0xA702, 4)
    finally:
        running.server.stop()


# -- C-STORE -----------------------------------------------------------------------------------


def _store(port: int, paths: list[Path], calling: str = "SENDER") -> list[int]:
    with raw_association(port, calling=calling, storage=[CTImageStorage]) as assoc:
        return [int(assoc.send_c_store(path).Status) for path in paths]


def test_store_indexes_at_once_and_handles_duplicates(
    served: Served, client: DimseClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = clone_ct(tmp_path / "in", 3, patient_id="STORED-1")
    assert _store(served.port, paths) == [0, 0, 0]
    sent = [str(pydicom.dcmread(p).SOPInstanceUID) for p in paths]
    rows = client.find("IMAGE", query(SOPInstanceUID=sent))
    assert uids(rows) == set(sent)
    with Catalog(served.catalog_url) as catalog:
        [held] = catalog.locate(sent[0])
    store = served.server.config.store
    assert store is not None and Path(held.path).is_relative_to(store)
    before = Path(held.path).read_bytes()

    assert _store(served.port, paths[:1]) == [0]  # the same object again: no second copy
    changed = pydicom.dcmread(paths[0])
    changed.PatientName = "OTHER^CONTENT"
    changed.save_as(tmp_path / "changed.dcm", enforce_file_format=True)
    assert _store(served.port, [tmp_path / "changed.dcm"]) == [0x0111]
    assert f"SOP Instance {sent[0]} is already held with other content" in caplog.text
    with Catalog(served.catalog_url) as catalog:
        assert [s.path for s in catalog.locate(sent[0])] == [held.path]
    assert Path(held.path).read_bytes() == before  # the first one is kept


def test_stored_rt_objects_are_indexed_with_what_people_name_them_by(
    served: Served, tmp_path: Path
) -> None:
    """C-STORE indexes through the scan's summary and writer: a received structure set,
    plan and dose carry their label, counts, dose type and units, and date at once."""
    other = generate_sample(tmp_path / "rt", seed=77, slices=2, rows=16, columns=16)
    sent = [other.structure_sets[0], other.plans[0], other.dose]
    classes = sorted({o.sop_class for o in sent})
    with raw_association(served.port, calling="SENDER", storage=classes) as assoc:
        assert [int(assoc.send_c_store(o.path).Status) for o in sent] == [0, 0, 0]
    with Catalog(served.catalog_url) as catalog:
        ss, plan, dose = (catalog.locate(o.sop_instance)[0] for o in sent)
    head = pydicom.dcmread(sent[0].path, stop_before_pixels=True)
    assert (ss.label, ss.roi_count, ss.content_date) == (
        head.StructureSetLabel,
        len(head.StructureSetROISequence),
        head.StructureSetDate,
    )
    head = pydicom.dcmread(sent[1].path, stop_before_pixels=True)
    assert (plan.label, plan.beam_count) == (head.RTPlanLabel, len(head.BeamSequence))
    assert (dose.dose_type, dose.dose_units, dose.dose_summation) == ("PHYSICAL", "GY", "PLAN")


def test_a_stored_file_is_the_data_set_as_received_behind_a_file_meta(
    served: Served, tmp_path: Path
) -> None:
    [path] = clone_ct(tmp_path / "in", 1, patient_id="STORED-META")
    assert _store(served.port, [path], calling="METASENDER") == [0]
    sent = pydicom.dcmread(path)
    with Catalog(served.catalog_url) as catalog:
        [held] = catalog.locate(str(sent.SOPInstanceUID))
    stored = pydicom.dcmread(held.path)
    meta = stored.file_meta
    assert meta.MediaStorageSOPInstanceUID == sent.SOPInstanceUID
    assert meta.MediaStorageSOPClassUID == CTImageStorage
    assert meta.TransferSyntaxUID in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)  # as sent
    assert meta.SourceApplicationEntityTitle == "METASENDER"
    assert meta.ImplementationClassUID == PYNETDICOM_IMPLEMENTATION_UID
    assert stored == sent  # element for element
    assert not list(Path(held.path).parent.glob(".*.part"))


def test_store_is_refused_without_a_store_folder(strict: Served, tmp_path: Path) -> None:
    assert _store(strict.port, clone_ct(tmp_path, 1)) == [0x0124]


def test_concurrent_associations(
    served: Served, receiver_port: int, patient: Sample, tmp_path: Path
) -> None:
    failures: list[BaseException] = []
    batches = [clone_ct(tmp_path / f"batch{i}", 5, patient_id=f"CONC-{i}") for i in range(4)]

    def store(paths: list[Path]) -> None:
        try:
            assert _store(served.port, paths) == [0] * len(paths)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    def find() -> None:
        try:
            with DimseClient(node(served.server)) as c:
                for _ in range(5):
                    assert (
                        len(c.find("IMAGE", query(SOPInstanceUID=patient.dose.sop_instance))) == 1
                    )
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=store, args=(b,)) for b in batches]
    threads += [threading.Thread(target=find) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    with Catalog(served.catalog_url) as catalog:
        for batch in batches:
            for path in batch:
                assert catalog.locate(str(pydicom.dcmread(path).SOPInstanceUID))


# -- negotiation, strict mode, access control ---------------------------------------------------


def test_relational_negotiation_is_granted_unless_strict(served: Served, strict: Served) -> None:
    with raw_association(served.port, relational=True) as assoc:
        granted = assoc.acceptor.sop_class_extended
        assert granted.get(STUDY_FIND) == b"\x01"
        assert granted.get(STUDY_MOVE) == b"\x01"
    with raw_association(strict.port, relational=True) as assoc:
        assert assoc.is_established
        assert not assoc.acceptor.sop_class_extended


@pytest.mark.parametrize(
    ("level", "keys", "served_leniently"),
    [
        ("IMAGE", {"SOPInstanceUID": "dose"}, True),
        (
            "IMAGE",
            {"StudyInstanceUID": "", "SeriesInstanceUID": "", "SOPInstanceUID": "dose"},
            True,
        ),
        ("SERIES", {"SeriesInstanceUID": ""}, True),
        ("SERIES", {"StudyInstanceUID": "study", "StudyDate": "", "SeriesInstanceUID": ""}, True),
        ("STUDY", {"StudyInstanceUID": "", "Modality": ""}, True),
    ],
)
def test_strict_mode_refuses_what_a_hierarchical_pacs_refuses(
    served: Served,
    strict: Served,
    patient: Sample,
    level: str,
    keys: dict[str, str],
    served_leniently: bool,
) -> None:
    values = {"dose": patient.dose.sop_instance, "study": patient.study_uids[0]}
    identifier = query(level, **{k: values.get(v, v) for k, v in keys.items()})
    with raw_association(strict.port) as assoc:
        [(final, _)] = list(assoc.send_c_find(identifier, STUDY_FIND))
    assert final.Status == 0xA900
    assert final.ErrorComment  # why, in words
    with raw_association(served.port) as assoc:
        responses = list(assoc.send_c_find(identifier, STUDY_FIND))
    assert responses[-1][0].Status == 0x0000
    assert (len(responses) > 1) == served_leniently


def test_strict_mode_serves_hierarchical_requests(
    strict: Served, patient: Sample, receiver_port: int, tmp_path: Path
) -> None:
    ct = patient.ct[0]
    with DimseClient(node(strict.server, store_port=receiver_port)) as c:
        rows = c.find(
            "IMAGE",
            query(
                StudyInstanceUID=ct.study,
                SeriesInstanceUID=ct.series,
                SOPInstanceUID=ct.sop_instance,
            ),
        )
        assert uids(rows) == {ct.sop_instance}
        identifier = query(
            StudyInstanceUID=ct.study, SeriesInstanceUID=ct.series, SOPInstanceUID=ct.sop_instance
        )
        c.move(identifier, "IMAGE", on_store=FolderWriter(tmp_path)).verify({ct.sop_instance})
        with pytest.raises(StatusError) as caught:
            c.get(query(SOPInstanceUID=ct.sop_instance), "IMAGE", FolderWriter(tmp_path))
        assert caught.value.status == 0xA900


def test_access_control(
    guarded: Served,
    patient: Sample,
    receiver_port: int,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dicomref.server")
    stranger = DimseClient(node(guarded.server, our_ae="STRANGER"))
    with stranger, pytest.raises(AssociationError, match="calling AE title not recognised"):
        stranger.echo()
    # the server logs the rejection from its own thread, maybe after the client has raised
    assert wait_until(lambda: "STRANGER" in caplog.text, timeout=5), caplog.text
    assert "calling AE title not recognised" in caplog.text

    dose = query(SOPInstanceUID=patient.dose.sop_instance)
    with DimseClient(node(guarded.server, our_ae="READER", store_port=receiver_port)) as reader:
        assert len(reader.find("IMAGE", dose)) == 1
        for retrieve in ("get", "move"):
            with pytest.raises(StatusError) as caught:
                if retrieve == "get":
                    reader.get(dose, "IMAGE", FolderWriter(tmp_path))
                else:
                    reader.move(dose, "IMAGE", "FRIEND")
            assert caught.value.status == 0x0124
    assert "READER may not retrieve" in caplog.text
    with DimseClient(node(guarded.server, our_ae="FRIEND", store_port=receiver_port)) as friend:
        friend.get(dose, "IMAGE", FolderWriter(tmp_path)).verify({patient.dose.sop_instance})
        friend.move(dose, "IMAGE", on_store=FolderWriter(tmp_path / "moved")).verify(
            {patient.dose.sop_instance}
        )
    assert patient.patient_id not in caplog.text  # no patient IDs in the log at INFO


def test_wrong_called_ae_title_is_rejected(served: Served) -> None:
    wrong = Node("SOMEONE", LOOPBACK, served.port, timeouts=TIMEOUTS)
    with DimseClient(wrong) as c, pytest.raises(AssociationError, match="called AE title"):
        c.echo()


def test_config_is_checked() -> None:
    with pytest.raises(UsageError, match="not a DICOM node"):
        Destination.parse("nowhere")
    first, second = Destination("A", LOOPBACK, 104), Destination("A", LOOPBACK, 105)
    with pytest.raises(UsageError, match="given twice"):
        ServerConfig(destinations=(first, second))
    with pytest.raises(UsageError, match="AE title"):
        ServerConfig(ae_title="WAY-TOO-LONG-AE-TITLE")
    assert ServerConfig(destinations=(first,)).destination(" A ") == first


# -- the command line: SIGTERM and SIGKILL ----------------------------------------------------


def _serve_cli(tmp_path: Path, url: str, *options: str) -> tuple[subprocess.Popen[str], int]:
    """``dicomref serve --port 0`` in a child process; returns it and its port."""
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dicomref")),
            "serve",
            "--port",
            "0",
            "--db",
            url,
            *options,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DICOMREF_DB": url},
    )
    assert process.stderr is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"listening on [^ ]+:(\d+) as", line)
        if found:
            return process, int(found[1])
    process.kill()
    pytest.fail("dicomref serve did not start:\n" + "".join(lines))


def test_sigterm_stops_the_command_cleanly(url: str, tmp_path: Path) -> None:
    """An association still open when SIGTERM arrives gets --grace seconds, then is
    aborted; the command exits 0."""
    process, port = _serve_cli(tmp_path, url, "--store", str(tmp_path / "store"), "--grace", "1")
    assert process.stderr is not None
    try:
        with DimseClient(Node("DICOMREF_QR", LOOPBACK, port, timeouts=TIMEOUTS)) as c:
            c.echo()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
            with pytest.raises(AssociationError):
                c.find("IMAGE", query(SOPInstanceUID="1.2.3"))
    finally:
        if process.poll() is None:
            process.kill()
    rest = process.stderr.read()
    assert "SIGTERM received" in rest
    assert "aborting 1 association" in rest and "stopped" in rest


@BOTH_BACKENDS
def test_acknowledged_objects_survive_sigkill(tmp_path: Path, catalog_url: str) -> None:
    url = catalog_url
    paths = clone_ct(tmp_path / "in", 20)
    process, port = _serve_cli(tmp_path, url, "--store", str(tmp_path / "store"))
    try:
        statuses = _store(port, paths)
        process.kill()  # SIGKILL right after the last success was received
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert statuses == [0] * len(paths)
    with Catalog(url) as catalog:
        for path in paths:
            [held] = catalog.locate(str(pydicom.dcmread(path).SOPInstanceUID))
            assert Path(held.path).is_file()
