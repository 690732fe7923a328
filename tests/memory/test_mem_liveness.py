"""Live ranges: steps, graph inputs/outputs, aliases, in-place reuse, scratch, order checks."""

from __future__ import annotations

import pytest
from memgraphs import RELU, add, f32, mul, relu, reshape, take

from tinyc.ir import DType, Graph, TensorType
from tinyc.memory import ALIAS_OPS, INPLACE_RULES, BufferKind, live_ranges, lower_bound


def _by_first_value(bufs):  # type: ignore[no-untyped-def]
    return {b.values[0].name: b for b in bufs if b.values}


def test_chain_without_reuse() -> None:
    g = Graph()
    x = g.add_input("x", f32(1, 10))
    a = take(g, x, 5, "a")
    b = take(g, a, 3, "b")
    g.outputs = [b]
    bufs = _by_first_value(live_ranges(g, inplace=False))
    assert (bufs["x"].first, bufs["x"].last, bufs["x"].kind) == (0, 0, BufferKind.INPUT)
    assert (bufs["a"].first, bufs["a"].last, bufs["a"].kind) == (0, 1, BufferKind.ACTIVATION)
    assert (bufs["b"].first, bufs["b"].last, bufs["b"].kind) == (1, 1, BufferKind.OUTPUT)
    assert [bufs[n].size for n in "xab"] == [40, 20, 12]
    assert bufs["a"].node is not None and bufs["a"].node.name == "a"


def test_graph_output_lives_to_the_end_and_inputs_from_step_zero() -> None:
    g = Graph()
    x = g.add_input("x", f32(1, 4))
    y = g.add_input("y", f32(1, 4))
    a = relu(g, x, "a")
    b = take(g, a, 2, "b")
    c = add(g, y, y, "c")
    g.outputs = [a, c]
    bufs = _by_first_value(live_ranges(g, inplace=False))
    assert (bufs["y"].first, bufs["y"].last) == (0, 2)
    assert (bufs["a"].first, bufs["a"].last) == (0, 2)  # output: to the last step
    assert (bufs["b"].first, bufs["b"].last) == (1, 1)  # dead value: its own step only
    assert b not in g.outputs


def test_aliases_share_a_buffer_and_extend_it() -> None:
    g = Graph()
    x = g.add_input("x", f32(2, 8))
    a = take(g, reshape(g, x, (1, 16), "flat"), 16, "a")
    r = reshape(g, a, (4, 4), "r")
    y = relu(g, r, "y")
    g.outputs = [y]
    assert {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"} == ALIAS_OPS
    bufs = live_ranges(g, inplace=False)
    by = {v.name: b for b in bufs for v in b.values}
    assert by["x"] is by["flat"]
    assert by["a"] is by["r"]
    assert (by["a"].first, by["a"].last) == (1, 3)
    assert len(bufs) == 3
    unaliased = live_ranges(g, aliases=False, inplace=False)
    assert len(unaliased) == 5


def test_inplace_takes_over_a_dying_input_of_the_same_size() -> None:
    g = Graph()
    x = g.add_input("x", f32(1, 8))
    a = take(g, x, 8, "a")  # a real buffer the size of x
    b = relu(g, a, "b")  # a dies here: b takes its buffer
    c = mul(g, b, b, "c")  # b dies here: c takes it too
    d = add(g, c, c, "d")
    g.outputs = [d]
    bufs = live_ranges(g)
    by = {v.name: b for b in bufs for v in b.values}
    assert by["a"] is by["b"] is by["c"] is by["d"]
    assert (by["a"].first, by["a"].last) == (0, 3)
    assert by["a"].kind is BufferKind.OUTPUT
    assert len(live_ranges(g, inplace=False)) == 5


def test_no_inplace_when_the_input_lives_on_or_broadcasts() -> None:
    g = Graph()
    x = g.add_input("x", f32(1, 8))
    a = take(g, x, 8, "a")
    b = relu(g, a, "b")  # a is read again later: no in-place
    s = take(g, x, 1, "s")  # [1, 1]
    c = add(g, s, b, "c")  # s broadcasts: only b can be overwritten
    d = add(g, a, c, "d")
    g.outputs = [d]
    by = {v.name: b for b in live_ranges(g) for v in b.values}
    assert by["a"] is not by["b"]
    assert by["c"] is by["b"]
    assert by["s"] is not by["c"]
    assert by["d"] in (by["a"], by["c"])
    assert "Add" in INPLACE_RULES and "Softmax" not in INPLACE_RULES


def test_inplace_never_overwrites_a_graph_output_or_external_io() -> None:
    g = Graph()
    x = g.add_input("x", f32(1, 8))
    a = relu(g, x, "a")
    b = relu(g, a, "b")
    g.outputs = [a, b]
    by = {v.name: b for b in live_ranges(g) for v in b.values}
    assert by["x"] is by["a"]  # input in the arena and dying: reused
    assert by["a"] is not by["b"]  # a is an output: kept
    ext = {v.name: b for b in live_ranges(g, io_in_arena=False) for v in b.values}
    assert ext["x"].external and ext["a"].external and ext["b"].external
    assert ext["x"] is not ext["a"]


def test_external_io_does_not_merge_an_input_with_an_output() -> None:
    g = Graph()
    x = g.add_input("x", f32(2, 4))
    y = reshape(g, x, (8,), "y")
    g.outputs = [y]
    ext = live_ranges(g, io_in_arena=False)
    assert len(ext) == 2 and all(b.external for b in ext)
    inside = live_ranges(g)
    assert len(inside) == 1 and inside[0].kind is BufferKind.INPUT


def test_scratch_is_a_one_step_buffer() -> None:
    g = Graph()
    x = g.add_input("x", f32(1, 8))
    a = relu(g, x, "a")
    b = take(g, a, 4, "b")
    g.outputs = [b]
    node = g.node("b")
    bufs = live_ranges(g, scratch={node: 100})
    sc = [b for b in bufs if b.kind is BufferKind.SCRATCH]
    assert len(sc) == 1 and (sc[0].size, sc[0].first, sc[0].last, sc[0].node) == (100, 1, 1, node)
    assert sc[0].name == "scratch:b"
    assert lower_bound(bufs)[0] == 32 + 16 + 100


def test_order_must_be_topological() -> None:
    g = Graph()
    x = g.add_input("x", f32(1, 8))
    a = relu(g, x, "a")
    relu(g, a, "b")
    g.outputs = [g.node("b").output]
    with pytest.raises(ValueError, match="before its input"):
        live_ranges(g, [g.node("b"), g.node("a")])
    with pytest.raises(ValueError, match="permutation"):
        live_ranges(g, [g.node("a")])


def test_size_of_and_dtypes() -> None:
    g = Graph()
    x = g.add_input("x", TensorType(DType.I8, (1, 100)))
    y = g.add_node(RELU, [x], name="y").output
    g.outputs = [y]
    assert [b.size for b in live_ranges(g, inplace=False)] == [100, 100]
    assert [b.size for b in live_ranges(g, inplace=False, size_of=lambda v: 4 * v.type.numel)] == [400, 400]


def test_alias_of_a_constant_is_no_activation() -> None:
    import numpy as np

    g = Graph()
    x = g.add_input("x", f32(1, 4))
    w = g.add_const("w", np.ones((4,), np.float32))
    wr = reshape(g, w, (1, 4), "wr")
    y = add(g, x, wr, "y")
    g.outputs = [y]
    bufs = live_ranges(g)
    assert all(v.name != "wr" for b in bufs for v in b.values)
    assert len(bufs) == 1  # x, overwritten in place by y
