"""locate, fetch and probe over DICOMweb, against Orthanc 1.10 with its DICOMweb plugin:
the seed's cases as on DIMSE (tests/test_fetch.py), through the library and the command line.

Patient A is loaded with structure set 0 trimmed so that its contours lie on the middle 4 of
its 8 CT slices (tests/subset_case.py); patient B without its structure set 0, which B's
plan 0 names.  Every fetch is checked by reading back the output folder: exactly the objects
asked for and what they reference.  Run inside scripts/in-netns.sh.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dicomref._dicomweb._node import Credentials, WebNode
from dicomref.catalog import Catalog
from dicomref.cli import app
from dicomref.cli._common import EXIT_REMOTE
from dicomref.errors import AssociationError
from dicomref.extraction import read_object
from dicomref.remote import fetch, locate, probe
from dicomref.sample import Sample, SampleObject, generate_sample
from dicomref.store import ManagedStore
from servers import OrthancServer, running
from subset_case import middle, trim_structure_set
from web_client_support import GuardedOrthanc


@dataclass(frozen=True)
class Patients:
    a: Sample
    b: Sample
    named: frozenset[str]
    """The CT slices patient A's structure set 0 still names."""

    @property
    def lacking(self) -> SampleObject:
        return self.b.structure_sets[0]


@pytest.fixture(scope="module")
def patients(tmp_path_factory: pytest.TempPathFactory) -> Patients:
    root = tmp_path_factory.mktemp("patients")
    a = generate_sample(root / "a", slices=8, seed=0)
    named = trim_structure_set(a.structure_sets[0].path, middle(a.ct, 4))
    return Patients(a=a, b=generate_sample(root / "b", slices=8, seed=1), named=named)


@pytest.fixture(scope="module")
def orthanc(orthanc_dicomweb: OrthancServer, patients: Patients) -> OrthancServer:
    orthanc_dicomweb.upload(patients.a.paths)
    orthanc_dicomweb.upload(o.path for o in patients.b.objects if o != patients.lacking)
    return orthanc_dicomweb


@pytest.fixture
def node(orthanc: OrthancServer) -> WebNode:
    return WebNode(orthanc.dicomweb_url)


def held_uids(folder: Path) -> set[str]:
    return {read_object(p).sop_instance for p in folder.rglob("*.dcm") if ".holding" not in str(p)}


def test_a_plan_file_brings_the_structure_set_its_named_slices_and_with_dependents_the_dose(
    node: WebNode, patients: Patients, tmp_path: Path
) -> None:
    a = patients.a
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        report = fetch(
            node,
            [a.plans[0].path],
            out=ManagedStore(tmp_path / "out", fsync=False),
            catalog=catalog,
            with_dependents=True,
        )
        exact = patients.named | {a.structure_sets[0].sop_instance, a.dose.sop_instance}
        assert held_uids(tmp_path / "out") == exact
        assert report.missing == () and report.refused == 0
        assert report.objects == len(exact) == len(patients.named) + 2
        assert report.requests.qido >= 1 and report.requests.wado >= 2
        assert report.requests.c_find == report.requests.c_get == 0
        assert report.node == node.url
        # indexed, and what the fetch learnt is kept under the base URL
        assert catalog.locate(a.dose.sop_instance)
        assert catalog.load_capabilities(node.url) is not None
        # a rerun sends nothing
        again = fetch(node, [a.plans[0].path], out=ManagedStore(tmp_path / "out"), catalog=catalog)
        assert (again.objects, again.requests.total) == (0, 0)


def test_a_plan_uid_brings_its_chain(node: WebNode, patients: Patients, tmp_path: Path) -> None:
    a = patients.a
    report = fetch(node, [a.plans[0].sop_instance], out=ManagedStore(tmp_path / "out"))
    expected = patients.named | {a.plans[0].sop_instance, a.structure_sets[0].sop_instance}
    assert held_uids(tmp_path / "out") == expected
    assert report.missing == ()


def test_what_the_server_lacks_is_missing_with_a_reason(
    node: WebNode, patients: Patients, tmp_path: Path
) -> None:
    unknown = "2.25.123456789"
    report = fetch(node, [patients.b.plans[0].path, unknown], out=ManagedStore(tmp_path / "out"))
    missing = {m.uid: m.reason for m in report.missing}
    assert set(missing) == {patients.lacking.sop_instance, unknown}
    assert all(reason for reason in missing.values())
    assert patients.lacking.sop_instance not in held_uids(tmp_path / "out")


def test_locate_says_where_each_object_is(node: WebNode, patients: Patients) -> None:
    a = patients.a
    report = locate(node, [a.dose.sop_instance, "2.25.987654321"])
    found, lost = report.objects
    assert found.key is not None and (found.key.study, found.key.series) == (
        a.dose.study,
        a.dose.series,
    )
    assert lost.key is None and lost.reason
    assert report.requests.qido >= 1 and report.requests.wado == 0


def test_probe_then_fetch_with_what_it_measured(
    node: WebNode, patients: Patients, tmp_path: Path
) -> None:
    report = probe(node)
    caps = report.capabilities
    assert caps.image_query_without_parents and caps.uid_list_find and caps.c_get
    assert caps.uid_list_repeated is False  # Orthanc: a repeated key is its first value
    assert caps.url_budget is not None and 12_000 < caps.url_budget < 20_000
    assert caps.any_transfer_syntax and caps.retrieve_urls_correct
    assert caps.sequence_includefield is False  # ignored by the plugin before 1.17
    assert caps.metadata_complete is True
    assert caps.bulk_data_uris is True  # pixel data as BulkDataURI: doses read by metadata
    assert caps.concurrency in (1, 4, 8)
    # a single GET at that concurrency, against each object of the series in one GET
    assert caps.request_seconds is not None and 0 < caps.request_seconds < 1
    assert caps.object_seconds is not None and 0 < caps.object_seconds < 1
    assert caps.bytes_per_second is not None and caps.bytes_per_second > 1e5
    throughput = next(r for r in report.results if r.name == "throughput")
    assert "the series in one GET: first object in" in throughput.detail
    a = patients.a
    done = fetch(node, [a.plans[0].path], out=ManagedStore(tmp_path / "out"), capabilities=caps)
    assert held_uids(tmp_path / "out") == patients.named | {a.structure_sets[0].sop_instance}
    assert done.missing == ()


# -- the command line ------------------------------------------------------------------------------


def test_the_commands_take_a_url(
    orthanc: OrthancServer, patients: Patients, tmp_path: Path
) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    url = orthanc.dicomweb_url
    probed = runner.invoke(app, ["probe", url, "--db", db, "--json"])
    assert probed.exit_code == 0, probed.output
    measured = json.loads(probed.stdout)["capabilities"]
    assert measured["url_budget"] > 8192 and measured["study_image_query"] is True
    a = patients.a
    fetched = runner.invoke(
        app,
        [
            *("fetch", url, str(a.plans[0].path), "--with-dependents"),
            *("--out", str(tmp_path / "out"), "--db", db, "--json"),
        ],
    )
    assert fetched.exit_code == 0, fetched.output
    answer = json.loads(fetched.stdout)
    assert answer["node"] == url and answer["missing"] == []
    assert set(answer["requests"]) >= {"QIDO-RS", "WADO-RS"}
    exact = patients.named | {a.structure_sets[0].sop_instance, a.dose.sop_instance}
    assert held_uids(tmp_path / "out") == exact
    located = runner.invoke(app, ["locate", url, a.dose.sop_instance, "--db", db, "--json"])
    assert located.exit_code == 0, located.output
    assert json.loads(located.stdout)["objects"][0]["series"] == a.dose.series
    refused = runner.invoke(
        app,
        ["fetch", url, a.dose.sop_instance, "--store-port", "11113", "--out", str(tmp_path)],
    )
    assert refused.exit_code == 2 and "applies to DIMSE nodes only" in refused.output


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, patients: Patients
) -> Iterator[GuardedOrthanc]:
    with running(GuardedOrthanc(tmp_path_factory.mktemp("guarded"))) as server:
        server.upload([patients.a.dose.path])
        yield server


DIMSE_WORDS = ("C-FIND", "C-GET", "C-MOVE", "association", "sub-operation", "IMAGE C-FIND")


def test_the_output_speaks_dicomweb_not_dimse(
    orthanc: OrthancServer, patients: Patients, tmp_path: Path
) -> None:
    """Step lines, why lines, missing reasons and the report of a DICOMweb fetch and
    locate name QIDO-RS, WADO-RS and connections, never DIMSE's commands."""
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    url = orthanc.dicomweb_url
    b = patients.b
    common = ("--out", str(tmp_path / "out"), "--db", db)
    lacking = runner.invoke(app, ["fetch", url, str(b.plans[0].path), "-v", *common])
    assert lacking.exit_code == 1, lacking.output  # B's structure set 0 is not there
    assert "QIDO-RS" in lacking.stdout and "Missing 1:" in lacking.stdout
    a = str(patients.a.plans[0].path)
    shown = runner.invoke(app, ["fetch", url, a, "-v", "--with-dependents", *common])
    assert shown.exit_code == 0, shown.output
    why = ("WADO-RS of 4 instances from series", "whole: 4 singles ~")  # as costs decide
    assert any(line in shown.stdout for line in why)  # a why line
    assert "connection" in shown.stdout
    again = ("--out", str(tmp_path / "again"), "--db", f"{db}2")
    asked = runner.invoke(app, ["fetch", url, a, "--json", *again])
    answer = json.loads(asked.stdout)
    assert "connections" in answer and set(answer["requests"]) <= {"QIDO-RS", "WADO-RS"}
    located = runner.invoke(app, ["locate", url, "1.2.3.4.5.6.7.8.9", "-v", "--db", db])
    assert located.exit_code == 1 and "not located" in located.stdout
    for output in (lacking.stdout, shown.stdout, asked.stdout, located.stdout):
        assert not [w for w in DIMSE_WORDS if w in output], output


def test_a_wrong_token_is_a_clear_error_with_the_refused_association_exit_code(
    guarded: GuardedOrthanc, patients: Patients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(
        f'[nodes.archive]\nurl = "{guarded.dicomweb_url}"\ntoken_env = "ARCHIVE_TOKEN"\n'
    )
    monkeypatch.setenv("ARCHIVE_TOKEN", "wrong-token-value")
    result = CliRunner().invoke(
        app,
        [
            *("fetch", "archive", patients.a.dose.sop_instance, "--config", str(nodes)),
            *("--out", str(tmp_path / "out"), "--db", f"sqlite:///{tmp_path / 'c.sqlite'}"),
        ],
    )
    assert result.exit_code == EXIT_REMOTE, result.output
    assert "HTTP 401" in result.output and "ARCHIVE_TOKEN" in result.output
    assert "wrong-token-value" not in result.output
    # the right password, from nodes.toml's environment variable, works
    user, password = GuardedOrthanc.USER
    good = WebNode(guarded.dicomweb_url, credentials=Credentials("basic", password, user))
    report = fetch(good, [patients.a.dose.sop_instance], out=ManagedStore(tmp_path / "ok"))
    assert held_uids(tmp_path / "ok") == {patients.a.dose.sop_instance}
    # (the plan and structure set the dose names are not on this server)
    assert patients.a.dose.sop_instance not in {m.uid for m in report.missing}
    with pytest.raises(AssociationError, match="HTTP 401"):
        locate(WebNode(guarded.dicomweb_url), [patients.a.dose.sop_instance])


def test_hinted_slices_are_retrieved_without_locating_them_first(
    node: WebNode, patients: Patients, tmp_path: Path
) -> None:
    # the structure set names its slices' series: one GET each, no QIDO search for them
    report = fetch(node, [patients.a.structure_sets[0].path], out=ManagedStore(tmp_path / "o"))
    assert held_uids(tmp_path / "o") == patients.named
    assert report.requests.qido == 0
    assert not any("locate" in step for step in report.steps)
