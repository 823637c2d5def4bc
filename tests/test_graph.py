"""The reference graph, forward and reverse, over a generated patient."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backends import BOTH_BACKENDS
from dicomref.catalog import Catalog
from dicomref.errors import NotInCatalogError
from dicomref.graph import Direction, build_graph, to_dot
from dicomref.graph_view import (
    GROUP,
    MISSING_GROUP,
    MISSING_SHOWN,
    NON_INSTANCE,
    OBJECT,
    SERIES,
    view_graph,
    view_to_dot,
)
from dicomref.model import Kind
from dicomref.sample import Sample

pytestmark = BOTH_BACKENDS


def test_forward_one_hop_from_a_plan(sample: Sample, scanned: Callable[[], Catalog]) -> None:
    plan, ss = sample.plans[0], sample.structure_sets[0]
    with scanned() as catalog:
        g = build_graph(catalog, plan.sop_instance, depth=1, direction=Direction.FORWARD)
    assert {(e.source, e.target, e.kind) for e in g.edges} == {
        (plan.sop_instance, ss.sop_instance, Kind.STRUCTURE_SET)
    }
    assert {n.uid for n in g.nodes} == {plan.sop_instance, ss.sop_instance}


def test_two_hops_reach_the_slices_and_reverse_reaches_the_dose(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    plan, ss = sample.plans[0], sample.structure_sets[0]
    with scanned() as catalog:
        forward = build_graph(catalog, plan.sop_instance, depth=2, direction=Direction.FORWARD)
        reverse = build_graph(catalog, ss.sop_instance, depth=1, direction=Direction.REVERSE)
    contour_targets = {e.target for e in forward.edges if e.kind is Kind.CONTOUR_IMAGE}
    assert contour_targets <= {ct.sop_instance for ct in sample.ct}
    assert contour_targets
    assert all(n.present for n in forward.nodes if n.instance)
    assert {n.uid for n in forward.nodes if not n.instance} == {sample.study_uids[0]}
    referrers = {e.source for e in reverse.edges}
    assert referrers == {plan.sop_instance, sample.dose.sop_instance}
    assert sample.plans[1].sop_instance not in {n.uid for n in reverse.nodes}


def test_missing_targets_are_nodes_marked_absent(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    sample.structure_sets[0].path.unlink()
    with scanned() as catalog:
        g = build_graph(catalog, sample.plans[0].sop_instance, depth=3)
    absent = [n for n in g.nodes if not n.present]
    assert [n.uid for n in absent] == [sample.structure_sets[0].sop_instance]
    dot = to_dot(g)
    assert dot.startswith("digraph dicomref {")
    assert "style=dashed" in dot
    assert f'"{sample.plans[0].sop_instance}" -> "{sample.structure_sets[0].sop_instance}"' in dot


def test_unknown_uid(scanned: Callable[[], Catalog]) -> None:
    with scanned() as catalog, pytest.raises(NotInCatalogError):
        build_graph(catalog, "1.2.3.4.5.6.7.8.9")


# -- the readable view (graph_view): what the web page and graph --format dot draw --------


def test_the_view_folds_slices_into_their_series(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    plan, ss = sample.plans[0], sample.structure_sets[0]
    with scanned() as catalog:
        g = build_graph(catalog, plan.sop_instance, depth=2, direction=Direction.FORWARD)
        view = view_graph(catalog, g)
        with_study = view_graph(catalog, g, non_instance=True)
    n = len(sample.ct)
    by_id = {node.id: node for node in view.nodes}
    assert set(by_id) == {
        f"object:{plan.sop_instance}",
        f"object:{ss.sop_instance}",
        f"series:{sample.ct[0].series}",
    }  # the study the structure set names is left out
    series = by_id[f"series:{sample.ct[0].series}"]
    assert series.label == f"CT #1 'PLANNING CT'\n{n} of {n} slices referenced"
    assert series.members == n and series.kind == SERIES
    assert by_id[f"object:{plan.sop_instance}"].root
    # named as people name them: label and ROI count, label and beams, the object's date;
    # two structure sets share the series: the instance number tells them apart too
    assert by_id[f"object:{ss.sop_instance}"].label == (
        "Structure set 'SET0' (3 ROIs)\nRTSTRUCT #2 'STRUCTURE SETS'\ninstance 1, 2018-01-01"
    )
    assert by_id[f"object:{plan.sop_instance}"].label == (
        "Plan 'MAIN' (3 beams)\nRTPLAN #3 'PLAN MAIN'\n2018-01-01"
    )
    with scanned() as catalog:
        g = build_graph(catalog, sample.dose.sop_instance, depth=1)
        dose = {n.id: n for n in view_graph(catalog, g).nodes}[f"object:{sample.dose.sop_instance}"]
    assert dose.label == "Dose PHYSICAL GY (PLAN)\nRTDOSE #5 'DOSE PLAN MAIN'\n2018-01-01"
    (edge,) = [e for e in view.edges if e.target == series.id]
    assert edge.kinds == (Kind.CONTOUR_IMAGE,) and edge.counts == (n,)
    assert any(node.kind == NON_INSTANCE for node in with_study.nodes)


def test_the_view_expands_a_series_on_request(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    ss = sample.structure_sets[0]
    series = sample.ct[0].series
    with scanned() as catalog:
        g = build_graph(catalog, ss.sop_instance, depth=1, direction=Direction.FORWARD)
        view = view_graph(catalog, g, expand=[series])
    members = [node for node in view.nodes if node.parent == f"group:{series}"]
    assert {node.uid for node in members} == {ct.sop_instance for ct in sample.ct}
    assert {node.kind for node in view.nodes} == {OBJECT, GROUP}
    dot = view_to_dot(view)
    assert "subgraph cluster_" in dot and "CT #1 'PLANNING CT'" in dot


def test_many_missing_slices_fold_into_one_node_naming_their_series(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    gone = MISSING_SHOWN + 1
    for ct in sample.ct[:gone]:
        ct.path.unlink()
    with scanned() as catalog:
        g = build_graph(
            catalog, sample.structure_sets[0].sop_instance, depth=1, direction=Direction.FORWARD
        )
        view = view_graph(catalog, g)
    (folded,) = [node for node in view.nodes if node.kind == MISSING_GROUP]
    assert folded.label == f"{gone} slices missing\nexpected in CT #1 'PLANNING CT'"
    assert folded.members == gone
    assert all(ct.sop_instance in folded.title for ct in sample.ct[:gone])
    held = len(sample.ct) - gone
    series = next(node for node in view.nodes if node.kind == SERIES)
    assert series.label.endswith(f"{held} of {held} slices referenced, {gone} missing")


def test_dot_is_the_readable_view_unless_per_instance(
    sample: Sample, scanned: Callable[[], Catalog], catalog_url: str
) -> None:
    from typer.testing import CliRunner

    from dicomref.cli import app

    scanned().close()
    plan = sample.plans[0].sop_instance
    argv = ["graph", plan, "--db", catalog_url, "--format", "dot", "--depth", "2"]
    readable = CliRunner().invoke(app, argv)
    assert readable.exit_code == 0, readable.output
    assert "CT #1 'PLANNING CT'" in readable.output
    assert "contour image \N{MULTIPLICATION SIGN}" in readable.output
    assert not any(ct.sop_instance in readable.output for ct in sample.ct)
    per_instance = CliRunner().invoke(app, [*argv, "--per-instance"])
    assert per_instance.exit_code == 0
    assert all(ct.sop_instance in per_instance.output for ct in sample.ct)


def test_the_view_of_a_study_uid_is_the_study_and_what_names_it(
    sample: Sample, scanned: Callable[[], Catalog]
) -> None:
    study = sample.study_uids[0]
    with scanned() as catalog:
        view = view_graph(catalog, build_graph(catalog, study, depth=1))
    root = next(node for node in view.nodes if node.root)
    assert (root.kind, root.label, root.study) == (
        NON_INSTANCE,
        "Study 'PLANNING CT' 2018-01-01",
        study,
    )
    assert {node.uid for node in view.nodes if node.kind == OBJECT} == {
        ss.sop_instance for ss in sample.structure_sets
    }
