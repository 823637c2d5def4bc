"""fetch against servers that misbehave: a PACS that refuses the IMAGE level (series
fallback), and a server killed in the middle of a transfer (the fetch resumes).
Run inside scripts/in-netns.sh (dcmqrscp listens on every interface)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomref._dimse._node import DEFAULT_OUR_AE, Node, Timeouts
from dicomref.catalog import Catalog
from dicomref.errors import AssociationError
from dicomref.extraction import read_object
from dicomref.remote import Capabilities, FetchProgress, fetch
from dicomref.sample import Sample, generate_sample
from dicomref.store import ManagedStore
from qr_peer import ScriptedPacs
from servers import LOOPBACK, DcmqrscpServer, Peer, free_port, running

TIMEOUTS = Timeouts(connect=5.0, acse=10.0, dimse=20.0, network=30.0)


def held_uids(folder: Path) -> list[str]:
    return sorted(read_object(p).sop_instance for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return generate_sample(tmp_path_factory.mktemp("patient") / "p", slices=8)


def test_a_pacs_that_refuses_the_image_level_gives_whole_series_and_we_keep_what_was_asked(
    sample: Sample, tmp_path: Path
) -> None:
    with ScriptedPacs([o.path for o in sample.objects], refuse_image=True) as pacs:
        node = Node(pacs.ae, LOOPBACK, pacs.port, timeouts=TIMEOUTS)
        report = fetch(
            node,
            [sample.plans[0].path],
            out=ManagedStore(tmp_path / "out", fsync=False),
            retrieve="get",
        )
    wanted = [sample.structure_sets[0], *sample.ct]
    assert held_uids(tmp_path / "out") == sorted(o.sop_instance for o in wanted)
    assert report.missing == ()
    assert report.capabilities.image_level is False  # learnt from the first refusal
    # structure set 1 came with its series: moved, not kept, counted
    assert (report.objects, report.discarded) == (9, 1)
    assert report.discarded_bytes > 0
    assert ("C-GET", "SERIES") in pacs.requests
    # one bet: the structure set in a list straight from the study's only RTSTRUCT series,
    # refused; after the IMAGE-level search is refused too, nothing more at IMAGE level
    assert pacs.requests.count(("C-GET", "IMAGE")) == 1
    assert pacs.requests.count(("C-FIND", "IMAGE")) == 1
    assert not list((tmp_path / "out").glob(".holding-*"))


def test_success_with_nothing_sent_is_caught_and_the_hierarchy_used_instead(
    sample: Sample, tmp_path: Path
) -> None:
    """A stale probe result says IMAGE queries and C-GETs work without Study/Series keys;
    the server answers the query without placing the object, and the C-GET with "success,
    0 sub-operations".  The fetch learns, searches hierarchically, and gets everything."""
    stale = Capabilities(
        study_root=True,
        image_level=True,
        image_query_without_parents=True,
        image_query_with_empty_parents=False,
        uid_list_find=False,
        uid_list_get=False,
        c_move=False,
        c_get=True,
        get_without_parents=True,
        measured_at="2024-01-01T00:00:00+00:00",
    )
    with ScriptedPacs([o.path for o in sample.objects], zero_without_parents=True) as pacs:
        node = Node(pacs.ae, LOOPBACK, pacs.port, timeouts=TIMEOUTS)
        report = fetch(
            node,
            [sample.plans[0].path],
            out=ManagedStore(tmp_path / "out", fsync=False),
            capabilities=stale,
        )
    wanted = [sample.structure_sets[0], *sample.ct]
    assert held_uids(tmp_path / "out") == sorted(o.sop_instance for o in wanted)
    assert report.missing == ()
    assert report.capabilities.get_without_parents is False
    assert any("C-GET IMAGE" in s and "-> 0 arrived" in s for s in report.steps)


def test_a_server_killed_mid_transfer_leaves_complete_files_and_the_fetch_resumes(
    tmp_path: Path,
) -> None:
    patient = generate_sample(tmp_path / "patient", slices=30)
    store_port = free_port()
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    out = ManagedStore(tmp_path / "out", fsync=False)
    paths = [o.path for o in patient.objects]
    first = DcmqrscpServer(tmp_path / "first", peers=[Peer(DEFAULT_OUR_AE, LOOPBACK, store_port)])
    with running(first):
        first.load(paths)

        def kill_after_ten(progress: FetchProgress) -> None:
            if progress.objects == 10 and first.running:
                first.kill()

        node = Node(first.ae, LOOPBACK, first.port, store_port=store_port, timeouts=TIMEOUTS)
        with pytest.raises(AssociationError):
            fetch(node, [patient.plans[0].path], out=out, catalog=catalog, progress=kill_after_ten)
    kept = held_uids(tmp_path / "out")
    assert 10 <= len(kept) < 31
    for uid in kept:  # every file complete, and indexed
        (summary,) = catalog.locate(uid)
        assert Path(summary.path).stat().st_size == summary.size

    second = DcmqrscpServer(tmp_path / "second", peers=[Peer(DEFAULT_OUR_AE, LOOPBACK, store_port)])
    with running(second):
        second.load(paths)
        node = Node(second.ae, LOOPBACK, second.port, store_port=store_port, timeouts=TIMEOUTS)
        report = fetch(node, [patient.plans[0].path], out=out, catalog=catalog)
    catalog.close()
    expected = sorted(o.sop_instance for o in [patient.structure_sets[0], *patient.ct])
    assert held_uids(tmp_path / "out") == expected
    assert report.objects == 31 - len(kept)
    assert report.held == len(kept)
    assert report.missing == ()
