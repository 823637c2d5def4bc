"""The reference graph, forward and reverse, over a generated patient."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backends import BOTH_BACKENDS
from dicomref.catalog import Catalog
from dicomref.errors import NotInCatalogError
from dicomref.graph import Direction, build_graph, to_dot
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
