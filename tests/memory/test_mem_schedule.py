"""Scheduling: the exact search is optimal (checked against every topological order), beams scale, never worse than the given order."""

from __future__ import annotations

import itertools
import time

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from memgraphs import branches_late_join, chain, inception, multi_output, random_dag, residual

from tinyc.ir import Graph
from tinyc.memory import order_peak, schedule, schedule_graph
from tinyc.memory.liveness import buffers_from_model, build_model, lower_bound
from tinyc.memory.schedule import _search


def all_orders(g: Graph, limit: int = 40000):  # type: ignore[no-untyped-def]
    dag = nx.DiGraph()
    nodes = list(g.nodes)
    dag.add_nodes_from(range(len(nodes)))
    index = {n: i for i, n in enumerate(nodes)}
    for n in nodes:
        for v in n.inputs:
            if v is not None and v.producer is not None:
                dag.add_edge(index[v.producer], index[n])
    for k, order in enumerate(nx.all_topological_sorts(dag)):
        if k >= limit:
            raise AssertionError(f"more than {limit} topological orders: too many to enumerate")
        yield [nodes[i] for i in order]


def brute_force_peak(g: Graph, **kw) -> int:  # type: ignore[no-untyped-def]
    model = build_model(g, **kw)
    return min(lower_bound([b for b in buffers_from_model(model, order) if not b.external])[0] for order in all_orders(g))


def inception3() -> Graph:
    return inception(branches=3)


@pytest.mark.parametrize("build", [branches_late_join, inception3, residual, multi_output, chain], ids=lambda f: f.__name__)
def test_exact_schedule_matches_brute_force(build) -> None:  # type: ignore[no-untyped-def]
    g = build()
    res = schedule_graph(g)
    assert res.exact
    assert res.peak == brute_force_peak(g)
    assert res.peak <= res.original_peak
    assert order_peak(g, res.order) == res.peak


def test_reordering_a_late_join_halves_the_interleaving() -> None:
    g = branches_late_join(width=256)
    res = schedule_graph(g)
    # the given order keeps both 4x-wide values alive at once; the best runs one branch down first
    assert res.original_peak == 4096 * 2 + 1024
    assert res.peak == 4096 + 1024 + 1024
    names = [n.name for n in res.order]
    assert names.index("a1") < names.index("b0") or names.index("b1") < names.index("a0")


def test_original_order_kept_when_nothing_is_better() -> None:
    g = chain()
    res = schedule_graph(g)
    assert res.method == "original" and res.order == list(g.nodes)
    assert schedule(g) == list(g.nodes)


@pytest.mark.parametrize("io", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_exact_on_small_random_dags(seed: int, io: bool) -> None:
    g = random_dag(7, seed)
    res = schedule_graph(g, io_in_arena=io)
    assert res.exact
    assert res.peak == brute_force_peak(g, io_in_arena=io)


@given(seed=st.integers(0, 10_000), n=st.integers(2, 30))
def test_property_search_estimate_agrees_with_live_ranges_and_never_worse(seed: int, n: int) -> None:
    g = random_dag(n, seed)
    model = build_model(g)
    for width in (None, 3):
        order_idx, est, _exact = _search(model, max_states=2000, beam_width=width)
        if order_idx is None:
            continue
        order = [model.nodes[i] for i in order_idx]
        assert order_peak(g, order) == est
    res = schedule_graph(g)
    assert res.peak <= res.original_peak
    assert order_peak(g, res.order) == res.peak


def test_inplace_and_scratch_count_in_the_search() -> None:
    g = residual(blocks=2)
    scratch = {n: 5000 for n in g.nodes if n.op.name == "Relu"}
    res = schedule_graph(g, scratch=scratch)
    assert res.peak == brute_force_peak(g, scratch=scratch)
    assert res.peak >= 5000


def test_large_graph_uses_a_beam_and_stays_fast() -> None:
    g = random_dag(500, 3)
    t0 = time.perf_counter()
    res = schedule_graph(g)
    elapsed = time.perf_counter() - t0
    assert not res.exact and res.method in ("beam", "original")
    assert res.peak <= res.original_peak
    assert elapsed < 1.5
    assert len(res.order) == len(g.nodes) and set(map(id, res.order)) == set(map(id, g.nodes))


def test_exact_gives_up_on_wide_graphs() -> None:
    g = inception(branches=12)
    model = build_model(g)
    order, _, _ = _search(model, max_states=50, beam_width=None)
    assert order is None
    res = schedule_graph(g, max_states=50)
    assert not res.exact or res.method == "original"
    assert res.peak <= res.original_peak


def test_empty_and_single_node_graphs() -> None:
    g = Graph()
    x = g.add_input("x", chain().inputs[0].type)
    g.outputs = [x]
    assert schedule(g) == []
    one = chain(1)
    assert schedule(one) == list(one.nodes)
    assert len(list(itertools.islice(all_orders(branches_late_join()), 5))) == 5
