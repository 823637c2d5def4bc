"""The DICOMweb transport against Orthanc 1.10 with its DICOMweb plugin (Debian's
orthanc-dicomweb 1.7): QIDO searches as C-FIND rows, WADO-RS retrieves checked part by part,
credentials, and a server whose RetrieveURLs are wrong.  Run inside scripts/in-netns.sh.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dicomref._dicomweb._node import Credentials, WebNode
from dicomref.errors import AssociationError
from dicomref.remote.planner._enums import Level, Method, Root
from dicomref.remote.planner._steps import Retrieve
from dicomref.remote.planner._trial import TRIAL_PARTS, Trial
from dicomref.remote.transport._dicomweb import DicomwebTransport
from dicomref.remote.transport._open import open_transport
from dicomref.sample import Sample, generate_sample
from servers import LOOPBACK, OrthancServer, running
from web_client_support import GuardedOrthanc, Kept


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return generate_sample(tmp_path_factory.mktemp("sample"), slices=8, seed=0)


@pytest.fixture(scope="module")
def orthanc(orthanc_dicomweb: OrthancServer, sample: Sample) -> OrthancServer:
    orthanc_dicomweb.upload(sample.paths)
    return orthanc_dicomweb


@pytest.fixture
def transport(orthanc: OrthancServer) -> Iterator[DicomwebTransport]:
    with DicomwebTransport(WebNode(orthanc.dicomweb_url)) as web:
        yield web


def image(uids: list[str], study: str | None = None, series: str | None = None) -> Retrieve:
    return Retrieve(Method.GET, Level.IMAGE, study, series, tuple(uids), len(uids), "test")


def test_open_transport_picks_dicomweb_for_a_web_node(orthanc: OrthancServer) -> None:
    web = open_transport(WebNode(orthanc.dicomweb_url))
    assert isinstance(web, DicomwebTransport)
    assert web.name == orthanc.dicomweb_url
    web.close()


def test_an_instance_is_found_by_its_sop_uid_alone(
    transport: DicomwebTransport, sample: Sample
) -> None:
    wanted = sample.structure_sets[0]
    keys = (
        ("StudyInstanceUID", ""),
        ("SeriesInstanceUID", ""),
        ("SOPInstanceUID", wanted.sop_instance),
    )
    rows = transport.find(Level.IMAGE, keys, Root.STUDY)
    assert [(r.StudyInstanceUID, r.SeriesInstanceUID, r.SOPInstanceUID) for r in rows] == [
        (wanted.study, wanted.series, wanted.sop_instance)
    ]
    assert transport.find(Level.IMAGE, (("SOPInstanceUID", "1.2.3.4.5"),), Root.STUDY) == []
    assert transport.connections_opened >= 1


def test_a_uid_list_longer_than_the_budget_is_cut_into_several_searches(
    orthanc: OrthancServer, sample: Sample
) -> None:
    uids = [o.sop_instance for o in sample.objects]
    with DicomwebTransport(WebNode(orthanc.dicomweb_url, url_budget=700)) as web:
        rows = web.find(Level.IMAGE, (("SOPInstanceUID", "\\".join(uids)),), Root.STUDY)
        assert sorted(str(r.SOPInstanceUID) for r in rows) == sorted(uids)
        assert web.requests["QIDO-RS"] >= 2  # 20 UIDs of ~64 characters in 700 bytes


def test_series_of_a_study_filtered_by_modality(
    transport: DicomwebTransport, sample: Sample
) -> None:
    study = sample.structure_sets[0].study
    keys = (
        ("StudyInstanceUID", study),
        ("Modality", "RTSTRUCT"),
        ("SeriesInstanceUID", ""),
        ("NumberOfSeriesRelatedInstances", ""),
    )
    rows = transport.find(Level.SERIES, keys, Root.STUDY)
    expected = {o.series for o in sample.structure_sets if o.study == study}
    assert {str(r.SeriesInstanceUID) for r in rows} == expected
    assert all(r.Modality == "RTSTRUCT" and int(r.NumberOfSeriesRelatedInstances) for r in rows)


def test_rows_that_do_not_match_a_filter_the_server_ignored_are_dropped(
    transport: DicomwebTransport, sample: Sample
) -> None:
    # Orthanc ignores a filter on SOPClassUID in /series; every row it answers must match
    ct = sample.ct[0]
    keys = (("SeriesInstanceUID", ct.series), ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.481.3"))
    assert transport.find(Level.SERIES, keys, Root.STUDY) == []
    keys = (("SOPInstanceUID", ct.sop_instance), ("Modality", "MR"))
    assert transport.find(Level.IMAGE, keys, Root.STUDY) == []


def test_exactly_the_wanted_slices_arrive_as_stored(
    transport: DicomwebTransport, sample: Sample
) -> None:
    slices = list(sample.ct[2:5])
    kept = Kept()
    step = image([s.sop_instance for s in slices], slices[0].study, slices[0].series)
    answer = transport.retrieve(step, kept, set(step.sop_uids))
    assert answer.reason is None and answer.completed == 3 and answer.refused == 0
    assert set(kept.files) == set(step.sop_uids)
    for s in slices:  # the Part-10 file as stored, byte for byte
        assert kept.files[s.sop_instance] == s.path.read_bytes()
    assert transport.requests["WADO-RS"] == 3
    assert transport.any_syntax is True


def test_instance_level_is_one_get_per_instance_however_much_of_the_series_is_wanted(
    transport: DicomwebTransport, sample: Sample
) -> None:
    ct = sample.ct  # the planner, not the transport, weighs the series in one GET
    transport.find(Level.SERIES, (("SeriesInstanceUID", ct[0].series),), Root.STUDY)
    wanted = [s.sop_instance for s in ct[1:]]
    kept = Kept()
    answer = transport.retrieve(image(wanted, ct[0].study, ct[0].series), kept, set(wanted))
    assert set(kept.files) == set(wanted)
    assert answer.refused == 0 and answer.completed == len(wanted)
    assert transport.requests["WADO-RS"] == len(wanted)


def _on_trial(sample: Sample, trial: Trial) -> Retrieve:
    ct = sample.ct
    wanted = tuple(s.sop_instance for s in ct[: trial.wanted])
    return Retrieve(
        Method.GET, Level.SERIES, ct[0].study, ct[0].series, wanted, len(ct), "test", trial=trial
    )


def test_a_series_on_trial_is_dropped_when_single_gets_would_be_faster(
    transport: DicomwebTransport, sample: Sample
) -> None:
    # no fixed cost seen for a single GET, and a series said to hold 1,000 objects: the
    # 7 wanted as single GETs beat the rest of it, whatever the order the parts come in
    size = len(sample.ct)
    step = _on_trial(sample, Trial(wanted=size - 1, size=1000, singles=()))
    kept = Kept()
    answer = transport.retrieve(step, kept, None)
    assert answer.given_up is not None and answer.given_up.startswith(
        f"given up after {TRIAL_PARTS} of 1000 objects"
    )
    assert len(kept.files) == TRIAL_PARTS  # what arrived before the verdict is handed on
    assert transport.requests["WADO-RS"] == 1
    # the connection dropped mid-answer is not reused: the next request still works
    again = Kept()
    transport.retrieve(image([sample.ct[-1].sop_instance], *_where(sample)), again, None)
    assert set(again.files) == {sample.ct[-1].sop_instance}


def test_a_series_on_trial_goes_on_while_single_gets_would_be_dearer(
    transport: DicomwebTransport, sample: Sample
) -> None:
    # a single GET seen to cost 10 s, most of it fixed: the series in one GET wins
    size = len(sample.ct)
    step = _on_trial(sample, Trial(wanted=size - 1, size=size, singles=((10.0, 1000),)))
    kept = Kept()
    answer = transport.retrieve(step, kept, None)
    assert set(step.sop_uids) <= set(kept.files)
    assert answer.given_up is None or answer.given_up.startswith("every wanted object arrived")


def test_a_series_on_trial_is_not_read_past_its_last_wanted_object(
    transport: DicomwebTransport, sample: Sample
) -> None:
    size = len(sample.ct)
    step = _on_trial(sample, Trial(wanted=1, size=size, singles=((10.0, 1000),)))
    kept = Kept()
    answer = transport.retrieve(step, kept, None)
    assert set(step.sop_uids) <= set(kept.files)
    if len(kept.files) < size:  # unless the server sent the wanted one last
        assert answer.given_up is not None
        assert answer.given_up.startswith("every wanted object arrived after")


def _where(sample: Sample) -> tuple[str, str]:
    return sample.ct[0].study, sample.ct[0].series


def test_part_times_reads_the_first_objects_of_a_series_get(
    transport: DicomwebTransport, sample: Sample
) -> None:
    ct = sample.ct
    times = transport.part_times(ct[0].study, ct[0].series, 3)
    assert len(times) == 3 and [t for t, _ in times] == sorted(t for t, _ in times)
    sizes = {s.path.stat().st_size for s in ct}
    assert all(size in sizes for _, size in times)  # whole Part-10 objects
    assert transport.requests["WADO-RS"] == 1
    assert len(transport.part_times(ct[0].study, ct[0].series, 100)) == len(ct)


def test_instances_without_study_and_series_are_placed_by_qido_first(
    transport: DicomwebTransport, sample: Sample
) -> None:
    wanted = [sample.dose.sop_instance, sample.plans[0].sop_instance]
    kept = Kept()
    answer = transport.retrieve(image(wanted), kept, set(wanted))
    assert set(kept.files) == set(wanted) and answer.reason is None
    assert transport.requests == {"QIDO-RS": 1, "WADO-RS": 2}


def test_unknown_instances_are_missing_with_a_reason(
    transport: DicomwebTransport, sample: Sample
) -> None:
    ct = sample.ct[0]
    unknown = "1.2.826.0.1.3680043.8.498.1"
    kept = Kept()
    step = image([ct.sop_instance, unknown], ct.study, ct.series)
    answer = transport.retrieve(step, kept, set(step.sop_uids))
    assert set(kept.files) == {ct.sop_instance}
    assert answer.reason is not None and unknown in answer.reason and "HTTP 404" in answer.reason
    nowhere = transport.retrieve(image([unknown]), kept, {unknown})
    assert nowhere.completed is None or nowhere.completed == 0
    assert nowhere.reason is not None and "no instance of that SOP Instance UID" in nowhere.reason


def test_a_whole_series(transport: DicomwebTransport, sample: Sample) -> None:
    ct = sample.ct
    step = Retrieve(Method.GET, Level.SERIES, None, ct[0].series, (), None, "series")
    kept = Kept()
    answer = transport.retrieve(step, kept, None)
    assert set(kept.files) == {s.sop_instance for s in ct} and answer.reason is None


def test_a_part_larger_than_the_bound_is_a_clear_error(
    orthanc: OrthancServer, sample: Sample
) -> None:
    ct = sample.ct[0]
    web = DicomwebTransport(WebNode(orthanc.dicomweb_url), max_part=1000)
    with web, pytest.raises(AssociationError, match="a part is larger than 1000 bytes"):
        web.retrieve(image([ct.sop_instance], ct.study, ct.series), Kept(), None)


# -- servers of their own: credentials, wrong RetrieveURLs ------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, sample: Sample) -> Iterator[OrthancServer]:
    with running(GuardedOrthanc(tmp_path_factory.mktemp("guarded"))) as server:
        server.upload([sample.ct[0].path])
        yield server


@pytest.mark.parametrize(
    "credentials",
    [
        Credentials("basic", "wrong-password", "alice", "nodes.toml"),
        Credentials("bearer", "not-a-token", None, "environment variable PACS_TOKEN"),
        None,
    ],
    ids=["wrong password", "bearer token", "none"],
)
def test_refused_credentials_are_an_association_error_without_the_secret(
    guarded: OrthancServer, sample: Sample, credentials: Credentials | None
) -> None:
    node = WebNode(guarded.dicomweb_url, credentials=credentials)
    with DicomwebTransport(node) as web, pytest.raises(AssociationError) as raised:
        web.find(Level.IMAGE, (("SOPInstanceUID", sample.ct[0].sop_instance),), Root.STUDY)
    message = str(raised.value)
    assert "HTTP 401" in message and "refused us" in message
    assert "wrong-password" not in message and "not-a-token" not in message
    assert ("nodes.toml" in message) or ("PACS_TOKEN" in message) or ("no credentials" in message)


def test_the_right_password_works(guarded: OrthancServer, sample: Sample) -> None:
    node = WebNode(
        guarded.dicomweb_url, credentials=Credentials("basic", "right-password", "alice")
    )
    ct = sample.ct[0]
    with DicomwebTransport(node) as web:
        kept = Kept()
        web.retrieve(image([ct.sop_instance]), kept, {ct.sop_instance})
        assert set(kept.files) == {ct.sop_instance}


def test_wrong_retrieve_urls_do_not_matter(
    tmp_path_factory: pytest.TempPathFactory, sample: Sample
) -> None:
    # the plugin builds RetrieveURL from the Host it is told (here without the port, as
    # from a Host header without one): the URLs point nowhere; retrieves never use them
    server = OrthancServer(tmp_path_factory.mktemp("wrong-urls"), dicomweb=True)
    config = server.configuration()["DicomWeb"] | {"Host": LOOPBACK}
    server.extra_config["DicomWeb"] = config
    with running(server):
        server.upload([o.path for o in sample.ct[:2]])
        with DicomwebTransport(WebNode(server.dicomweb_url)) as web:
            ct = sample.ct[0]
            rows = web.find_rows(Level.IMAGE, (("SOPInstanceUID", ct.sop_instance),))
            said = rows[0]["00081190"]["Value"][0]
            assert said.startswith(f"http://{LOOPBACK}/") and not said.startswith(
                server.dicomweb_url
            )
            kept = Kept()
            answer = web.retrieve(image([ct.sop_instance]), kept, {ct.sop_instance})
            assert answer.reason is None and set(kept.files) == {ct.sop_instance}
