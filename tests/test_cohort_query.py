"""The query that selects a cohort's starts: its keys checked, and the hierarchical C-FINDs
the planner writes for it (pure: no network)."""

from __future__ import annotations

import pytest

from dicomref.errors import UsageError
from dicomref.remote import CohortQuery, Level, Root, Scope, ScopeKind
from dicomref.remote.planner._build import selection_finds

STUDY = "1.2.826.0.1.3680043.8.498.1"
SERIES = "1.2.826.0.1.3680043.8.498.2"


def test_pairs_parse_from_one_or_several_texts_in_order() -> None:
    query = CohortQuery.parse(["Modality=RTPLAN PatientID='DREF 1'", "StudyDate=20240101-"])
    assert query.keys == (
        ("Modality", "RTPLAN"),
        ("PatientID", "DREF 1"),
        ("StudyDate", "20240101-"),
    )
    assert query.at(Level.STUDY) == (("PatientID", "DREF 1"), ("StudyDate", "20240101-"))
    assert query.at(Level.SERIES) == (("Modality", "RTPLAN"),)
    assert query.at(Level.IMAGE) == ()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("PatientName=DOE", "not a key a query may select by"),
        ("Modality", "expected KEY=VALUE"),
        ("Modality=", "the value is empty"),
        ("Modality=RTPLAN Modality=CT", "given twice"),
        ("Modality=rtplan", "upper-case"),
        ("StudyDate=2024", "YYYYMMDD"),
        ("StudyDate=-", "YYYYMMDD"),
        ("StudyInstanceUID=1.02.3", "leading zero"),
        ("SOPClassUID=1.2\\x", "not a UID"),
        ("PatientID=a\\b", "only UID keys take a list"),
        ("AccessionNumber=12345678901234567", "longer than the 16 characters"),
        ("PatientID=\x01", "control character"),
        ("Modality='RTPLAN", "No closing quotation"),
    ],
)
def test_a_bad_pair_is_a_usage_error_saying_why(text: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        CohortQuery.parse([text])


def test_wildcards_ranges_and_uid_lists_pass() -> None:
    query = CohortQuery.parse(
        [f"Modality=RT* PatientID=DREF-? StudyDate=20240101-20241231 StudyInstanceUID={STUDY}\\1.2"]
    )
    assert dict(query.keys)["StudyInstanceUID"] == f"{STUDY}\\1.2"


def test_nothing_to_select_by_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="at least one"):
        CohortQuery.parse([" "])


def test_selection_goes_down_the_hierarchy_with_the_keys_of_each_level() -> None:
    plan_class = "1.2.840.10008.5.1.4.1.1.481.5"
    query = CohortQuery.parse([f"Modality=RTPLAN PatientID=DREF-1 SOPClassUID={plan_class}"])
    (study,) = selection_finds(query, Level.STUDY, [Scope(ScopeKind.PATIENT)], Root.STUDY)
    assert study.level is Level.STUDY
    assert study.identifier == (
        ("QueryRetrieveLevel", "STUDY"),
        ("PatientID", "DREF-1"),
        ("StudyInstanceUID", ""),
    )
    scopes = [Scope(ScopeKind.STUDY, study=STUDY, patient_id="DREF-1")]
    (series,) = selection_finds(query, Level.SERIES, scopes, Root.STUDY)
    assert series.identifier == (
        ("QueryRetrieveLevel", "SERIES"),
        ("StudyInstanceUID", STUDY),
        ("SeriesInstanceUID", ""),
        ("Modality", "RTPLAN"),
    )
    scopes = [Scope(ScopeKind.SERIES, study=STUDY, series=SERIES, patient_id="DREF-1")]
    (image,) = selection_finds(query, Level.IMAGE, scopes, Root.PATIENT)
    assert image.identifier == (
        ("QueryRetrieveLevel", "IMAGE"),
        ("PatientID", "DREF-1"),  # Patient Root: the patient's ID first, from the study row
        ("StudyInstanceUID", STUDY),
        ("SeriesInstanceUID", SERIES),
        ("SOPInstanceUID", ""),
        ("SOPClassUID", plan_class),
    )


def test_one_find_per_parent_and_the_other_study_keys_as_matching_keys() -> None:
    query = CohortQuery.parse(["StudyDate=20240101- AccessionNumber=A*"])
    (study,) = selection_finds(query, Level.STUDY, [Scope(ScopeKind.PATIENT)], Root.STUDY)
    assert study.identifier[1:] == (
        ("PatientID", ""),
        ("StudyInstanceUID", ""),
        ("StudyDate", "20240101-"),
        ("AccessionNumber", "A*"),
    )
    parents = [Scope(ScopeKind.STUDY, study=f"{STUDY}.{n}") for n in range(3)]
    finds = selection_finds(query, Level.SERIES, parents, Root.STUDY)
    assert [dict(f.keys)["StudyInstanceUID"] for f in finds] == [p.study for p in parents]
    assert all(dict(f.keys)["Modality"] == "" for f in finds)  # asked back, matches all
