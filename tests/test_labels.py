"""Objects named as people name them (dicomref.labels), from what the catalog keeps."""

from __future__ import annotations

from typing import Any

from dicomref import labels
from dicomref.model import ObjectSummary


def _named(modality: str, **fields: Any) -> ObjectSummary:
    return ObjectSummary("f.dcm", 0, 0, "1.2", "1.3", "1.4", "1.5", modality=modality, **fields)


def test_objects_are_named_as_people_name_them() -> None:
    name = labels.object_name
    assert name(_named("RTSTRUCT", label="PTV+OARs", roi_count=12)) == (
        "Structure set 'PTV+OARs' (12 ROIs)"
    )
    assert name(_named("RTSTRUCT", roi_count=1)) == "Structure set (1 ROI)"
    assert name(_named("RTPLAN", label="VMAT 2arc", beam_count=2)) == "Plan 'VMAT 2arc' (2 beams)"
    assert name(_named("RTPLAN", label="HDR", applicator_count=3)) == "Plan 'HDR' (3 applicators)"
    assert name(_named("RTPLAN", beam_count=0)) == "Plan (0 beams)"
    assert name(_named("RTDOSE", dose_type="PHYSICAL", dose_units="GY", dose_summation="PLAN")) == (
        "Dose PHYSICAL GY (PLAN)"
    )
    assert name(_named("RTDOSE", dose_units="RELATIVE")) == "Dose RELATIVE"
    # indexed before catalog version 7 (or a file that does not say): the role alone
    for modality, role in (("RTSTRUCT", "Structure set"), ("RTPLAN", "Plan"), ("RTDOSE", "Dose")):
        assert name(_named(modality)) == role
    assert labels.object_date("20240102", "20231231") == "2024-01-02"
    assert labels.object_date(None, "20231231") == "2023-12-31"
    assert (labels.time("121314.5"), labels.time("0930"), labels.time(None)) == (
        "12:13:14",
        "09:30",
        "",
    )
