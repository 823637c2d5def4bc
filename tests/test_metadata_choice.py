"""Metadata or the object, for reading a dependent candidate's references (pure)."""

from __future__ import annotations

from dicomref.remote.planner._capabilities import Capabilities
from dicomref.remote.planner._metadata import metadata_first


def test_doses_are_read_from_metadata_unless_the_server_inlines_pixel_data() -> None:
    assert metadata_first("RTDOSE", Capabilities.web()) is not None
    assert metadata_first("RTDOSE", Capabilities(bulk_data_uris=True)) is not None
    assert metadata_first("RTDOSE", Capabilities(bulk_data_uris=False)) is None


def test_header_only_objects_are_retrieved_unless_metadata_was_measured_faster_and_smaller() -> (
    None
):
    for modality in ("RTPLAN", "RTSTRUCT", "RTRECORD", "SR", None):
        assert metadata_first(modality, Capabilities.web()) is None
        assert metadata_first(modality, Capabilities(metadata_cost=3.4)) is None
        # faster on the probe's small object, but larger: a large object would lose
        assert metadata_first(modality, Capabilities(metadata_cost=0.5, metadata_size=3.4)) is None
        assert metadata_first(modality, Capabilities(metadata_cost=0.5)) is None
        smaller = Capabilities(metadata_cost=0.5, metadata_size=0.2)  # BulkDataURIs for values
        assert metadata_first(modality, smaller) is not None
