"""fetch and locate with structure sets as Varian ARIA and Brainlab write them, against real
servers (Orthanc, which returns the reference sequences as C-FIND return keys, and
dcmqrscp, which does not).  Run inside scripts/in-netns.sh.

Their RTReferencedStudySequence item claims RT Structure Set Storage and holds the Study
Instance UID: before references were read by position, ``fetch`` of a plan asked every
server for a structure set of that UID and exited 1 with "RT Structure Set <study> missing".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from typer.testing import CliRunner

from dicomref._dimse._node import DEFAULT_OUR_AE
from dicomref.cli import app
from dicomref.extraction import read_object
from dicomref.sample import Sample, generate_sample
from servers import LOOPBACK, DcmqrscpServer, DicomServer, OrthancServer, Peer, free_port, running

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """A generated patient whose structure sets all carry the Varian/Brainlab study item."""
    sample = generate_sample(tmp_path_factory.mktemp("varian") / "patient", slices=5, seed=3)
    for structure_set in sample.structure_sets:
        ds = pydicom.dcmread(structure_set.path)
        for frame in ds.ReferencedFrameOfReferenceSequence:
            for study in frame.RTReferencedStudySequence:
                study.ReferencedSOPClassUID = RT_STRUCTURE_SET_STORAGE
        ds.save_as(structure_set.path)
    return sample


@pytest.fixture(scope="module")
def store_port() -> int:
    return free_port()


@pytest.fixture(scope="module", params=["orthanc", "dcmqrscp"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    patient: Sample,
    store_port: int,
) -> Iterator[DicomServer]:
    peers = [Peer(DEFAULT_OUR_AE, LOOPBACK, store_port)]
    folder = tmp_path_factory.mktemp(request.param)
    found: DicomServer = (
        OrthancServer(folder, peers=peers, check_called_aet=True)
        if request.param == "orthanc"
        else DcmqrscpServer(folder, peers=peers)
    )
    with running(found):
        found.load([o.path for o in patient.objects])
        yield found


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_fetching_a_plan_brings_its_varian_structure_set_and_slices(
    server: DicomServer, store_port: int, patient: Sample, tmp_path: Path
) -> None:
    plan = patient.plans[0]
    structure_set = patient.structure_sets[0]
    node = f"{server.peer.ae}@{server.peer.host}:{server.peer.port}"
    out = tmp_path / "out"
    code, stdout, stderr = cli(
        "fetch",
        node,
        str(plan.path),
        "--store-port",
        str(store_port),
        "--db",
        f"sqlite:///{tmp_path / 'catalog.sqlite'}",
        "--out",
        str(out),
        "--json",
    )
    assert code == 0, stdout + stderr
    report = json.loads(stdout)
    assert report["missing"] == []
    held = sorted(read_object(p).sop_instance for p in out.rglob("*") if p.is_file())
    slices = {r.target for r in read_object(structure_set.path).references if r.instance}
    assert slices and slices <= {o.sop_instance for o in patient.ct}
    assert held == sorted({structure_set.sop_instance} | slices)  # the plan was the start
    assert report["objects"] == len(held)
