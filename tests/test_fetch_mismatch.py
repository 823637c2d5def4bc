"""Objects that are not what their C-STORE announced (issue 9.6), sent for real over an
association by a scripted PACS: the announced SOP Instance UID and the content are
cross-checked both ways, on a C-GET and into our C-MOVE receiver; a mismatching object is
refused (0xC000 / 0xA900 with an Error Comment) and not kept, the wanted object is missing
with that reason, and a fallback C-MOVE the server refuses (0xA801) ends nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

from dicomref._dimse._node import DEFAULT_OUR_AE, Node, Timeouts
from dicomref.extraction import read_object
from dicomref.remote import fetch
from dicomref.remote.transport._receiver import StoreSink
from dicomref.sample import Sample, generate_sample
from dicomref.store import ManagedStore
from qr_peer import ScriptedPacs
from servers import LOOPBACK, free_port

TIMEOUTS = Timeouts(connect=5.0, acse=10.0, dimse=20.0, network=30.0)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return generate_sample(tmp_path_factory.mktemp("patient") / "p", slices=6)


def kept(folder: Path) -> set[str]:
    return {read_object(p).sop_instance for p in folder.rglob("*.dcm") if p.is_file()}


def test_a_c_get_that_sends_another_object_under_the_wanted_uid_is_refused_and_reported(
    sample: Sample, tmp_path: Path
) -> None:
    """The issue's case, as a process: ``--retrieve get``, the wanted structure set's UID
    announced over the other structure set's content; the fallback C-MOVE is refused with
    0xA801.  Exit 1 with the wanted object missing and why, not exit 5."""
    wanted = sample.structure_sets[0].sop_instance
    other = sample.structure_sets[1].sop_instance
    paths = [o.path for o in sample.objects]
    with ScriptedPacs(paths, substitute={wanted: other}) as pacs:
        done = subprocess.run(
            [
                sys.executable, "-m", "dicomref", "fetch", f"{pacs.ae}@{LOOPBACK}:{pacs.port}",
                str(sample.plans[0].path), "--out", str(tmp_path / "out"), "--retrieve", "get",
                "--db", f"sqlite:///{tmp_path / 'c.sqlite'}", "--json",
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    (missing,) = report["missing"]
    assert missing["uid"] == wanted
    assert missing["reason"].startswith(f"the server sent object {other} announced as {wanted}")
    assert "0xA801" in missing["reason"]  # the refused fallback is said too, after the cause
    assert ("C-MOVE", "IMAGE") in pacs.requests  # the fallback was tried, refused, and
    assert pacs.requests[-1] == ("C-GET", "SERIES")  # the fetch went on
    refusals = [(s, c) for s, c in pacs.store_statuses if s != 0]
    assert refusals and all(s == 0xC000 and "SOP Instance UID" in c for s, c in refusals)
    assert kept(tmp_path / "out") == set()  # neither the wanted UID nor the other object


def test_a_wanted_object_announced_as_another_uid_is_refused_too(
    sample: Sample, tmp_path: Path
) -> None:
    """The opposite: the content is the wanted object, the announcement another UID."""
    wanted = sample.structure_sets[0].sop_instance
    with ScriptedPacs(
        [o.path for o in sample.objects], announce_as={wanted: "1.2.826.0.1.3680043.9.9.9"}
    ) as pacs:
        node = Node(pacs.ae, LOOPBACK, pacs.port, timeouts=TIMEOUTS)
        report = fetch(
            node, [sample.plans[0].path], out=ManagedStore(tmp_path / "out"), retrieve="get"
        )
    (missing,) = report.missing
    assert missing.uid == wanted
    expected = f"the server sent object {wanted} announced as 1.2.826.0.1.3680043.9.9.9"
    assert missing.reason.startswith(expected)
    assert any(expected in step for step in report.steps)
    assert report.objects == 0
    assert kept(tmp_path / "out") == set()
    assert any(s == 0xC000 for s, _ in pacs.store_statuses)


def test_a_c_move_into_our_receiver_is_cross_checked_the_same_way(
    sample: Sample, tmp_path: Path
) -> None:
    wanted = sample.structure_sets[0].sop_instance
    other = sample.structure_sets[1].sop_instance
    store_port = free_port()
    destinations = {DEFAULT_OUR_AE: (LOOPBACK, store_port)}
    paths = [o.path for o in sample.objects]
    with ScriptedPacs(paths, substitute={wanted: other}, destinations=destinations) as pacs:
        node = Node(pacs.ae, LOOPBACK, pacs.port, store_port=store_port, timeouts=TIMEOUTS)
        report = fetch(
            node, [sample.plans[0].path], out=ManagedStore(tmp_path / "out"), retrieve="move"
        )
    (missing,) = report.missing
    assert missing.uid == wanted
    assert missing.reason.startswith(f"the server sent object {other} announced as {wanted}")
    assert ("C-MOVE", "IMAGE") in pacs.requests
    assert kept(tmp_path / "out") == set()


def test_the_sop_class_is_cross_checked_as_well(sample: Sample) -> None:
    """An object announced under its own instance UID but another SOP class: 0xA900."""
    taken: list[str] = []
    sink = StoreSink(lambda ds: taken.append(str(ds.SOPInstanceUID)))
    dataset = dcmread(sample.ct[0].path)
    uid = str(dataset.SOPInstanceUID)
    status = sink.offer(dataset, uid, request_class="1.2.840.10008.5.1.4.1.1.481.3")
    assert not isinstance(status, int)
    assert status.Status == 0xA900 and status.OffendingElement == 0x00080016
    assert "SOP Class UID" in status.ErrorComment
    assert taken == []
    (mismatch,) = sink.mismatched
    assert "RT Structure Set Storage" in mismatch.describe()
    assert "CT Image Storage" in mismatch.describe()
    assert sink.offer(dataset, uid + " ", request_class=str(dataset.SOPClassUID)) == 0
    assert taken == [uid]  # padding in the request is not a mismatch
