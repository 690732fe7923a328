"""The SSA core: mutation keeps use lists right; names stay unique; locations fuse."""

from __future__ import annotations

import numpy as np
import pytest

from tinyc.ir import OPS, UNKNOWN_LOC, DType, Graph, Loc, TensorType, verify

T = TensorType(DType.F32, (4,))


def diamond() -> Graph:
    """x -> a = Relu(x); b = Neg(x); c = Add(a, b); out c."""
    g = Graph("diamond")
    x = g.add_input("x", T)
    a = g.add_node(OPS["Relu"], [x], name="a").output
    b = g.add_node(OPS["Neg"], [x], name="b").output
    c = g.add_node(OPS["Add"], [a, b], name="c").output
    g.outputs = [c]
    return g


def uses(g: Graph, name: str) -> list[tuple[str, int]]:
    return [(n.name, i) for n, i in g.value(name).uses]


def test_uses_are_recorded_at_creation() -> None:
    g = diamond()
    assert uses(g, "x") == [("a", 0), ("b", 0)]
    assert uses(g, "a") == [("c", 0)]
    assert g.value("c").uses == []
    sq = g.add_node(OPS["Mul"], [g.value("a"), g.value("a")], name="sq")
    assert uses(g, "a") == [("c", 0), ("sq", 0), ("sq", 1)]
    assert g.value("a").users == [g.node("c"), sq]  # each user once
    verify(g)


def test_set_input() -> None:
    g = diamond()
    c = g.node("c")
    c.set_input(1, g.value("x"))
    assert uses(g, "b") == []
    assert uses(g, "x") == [("a", 0), ("b", 0), ("c", 1)]
    assert c.inputs == (g.value("a"), g.value("x"))
    verify(g)


def test_set_input_to_none_and_back() -> None:
    g = Graph()
    x = g.add_input("x", TensorType(DType.F32, (2, 3)))
    w = g.add_input("w", TensorType(DType.F32, (4, 3)))
    b = g.add_const("b", np.zeros(4, np.float32))
    gemm = g.add_node(OPS["Gemm"], [x, w, b], OPS["Gemm"].Attrs(trans_b=True))
    g.outputs = [gemm.output]
    gemm.set_input(2, None)
    assert b.uses == [] and gemm.opt_input(2) is None
    verify(g)
    gemm.set_input(2, b)
    assert b.uses == [(gemm, 2)]
    verify(g)


def test_set_inputs_and_drop_inputs() -> None:
    g = diamond()
    c = g.node("c")
    c.set_inputs([g.value("b"), g.value("a")])
    assert uses(g, "a") == [("c", 1)] and uses(g, "b") == [("c", 0)]
    verify(g)
    c.drop_inputs()
    assert uses(g, "a") == [] and uses(g, "b") == [] and c.inputs == ()


def test_replace_all_uses_with() -> None:
    g = diamond()
    g.value("x").replace_all_uses_with(g.add_const("k", np.ones(4, np.float32)))
    assert uses(g, "x") == []
    assert uses(g, "k") == [("a", 0), ("b", 0)]
    verify(g)


def test_replace_all_uses_with_repeated_use() -> None:
    g = Graph()
    x = g.add_input("x", T)
    y = g.add_input("y", T)
    m = g.add_node(OPS["Mul"], [x, x])
    g.outputs = [m.output]
    x.replace_all_uses_with(y)
    assert x.uses == [] and y.uses == [(m, 0), (m, 1)]
    verify(g)


def test_replace_value_reroutes_graph_outputs() -> None:
    g = diamond()
    c = g.value("c")
    g.outputs.append(c)
    g.replace_value(c, g.value("a"))
    assert [v.name for v in g.outputs] == ["a", "a"]
    g.remove_node(g.node("c"))
    g.remove_node(g.node("b"))
    assert uses(g, "x") == [("a", 0)]
    verify(g)


def test_replace_all_uses_with_leaves_graph_outputs() -> None:
    g = diamond()
    g.value("c").replace_all_uses_with(g.value("a"))
    assert g.outputs == [g.value("c")]


def test_remove_node_refuses_used_outputs() -> None:
    g = diamond()
    with pytest.raises(ValueError, match="output %a still has uses"):
        g.remove_node(g.node("a"))
    with pytest.raises(ValueError, match="output %c is a graph output"):
        g.remove_node(g.node("c"))
    assert len(g) == 3
    verify(g)


def test_remove_node_detaches_and_frees_the_name() -> None:
    g = diamond()
    c = g.node("c")
    g.outputs = [g.value("a")]
    g.remove_node(c)
    assert c.graph is None and c.inputs == ()
    assert uses(g, "a") == [] and uses(g, "b") == []
    verify(g)
    again = g.add_node(OPS["Relu"], [g.value("b")], name="c")
    assert again.output.name == "c"
    verify(g)


def test_prune_constants() -> None:
    g = diamond()
    used = g.add_const("used", np.ones(4, np.float32))
    unused = g.add_const("unused", np.ones(4, np.float32))
    as_output = g.add_const("out", np.ones(4, np.float32))
    g.node("c").set_input(1, used)
    g.outputs.append(as_output)
    assert g.prune_constants() is True
    assert [c.name for c in g.constants] == ["used", "out"]
    assert g.prune_constants() is False
    assert g.add_const("unused", np.zeros(1, np.float32)).name == "unused"  # the name is free again
    assert unused not in g.constants
    g.prune_constants()
    verify(g)


def test_unique_names() -> None:
    g = Graph()
    assert g.add_const("w", np.zeros(1, np.float32)).name == "w"
    assert g.add_const("w", np.zeros(1, np.float32)).name != "w"
    x = g.add_input("x", T)
    n1 = g.add_node(OPS["Relu"], [x])
    n2 = g.add_node(OPS["Relu"], [n1.output])
    assert n1.output.name != n2.output.name
    with pytest.raises(ValueError, match="already used"):
        g.add_input("x", T)
    assert len({v.name for v in g.values()}) == len(list(g.values()))
    g.outputs = [n2.output]
    verify(g)


def test_add_node_before_and_set_order() -> None:
    g = diamond()
    c = g.node("c")
    early = g.add_node(OPS["Relu"], [g.value("x")], name="early", before=g.node("a"))
    assert g.nodes[0] is early
    with pytest.raises(ValueError, match="permutation"):
        g.set_order([c])
    g.set_order([g.node("b"), g.node("a"), early, c])
    assert [n.name for n in g.nodes] == ["b", "a", "early", "c"]
    verify(g)


def test_add_node_infers_types_and_keeps_given_ones() -> None:
    g = Graph()
    x = g.add_input("x", TensorType(DType.F32, (2, 1)))
    y = g.add_input("y", TensorType(DType.F32, (3,)))
    n = g.add_node(OPS["Add"], [x, y], loc=Loc.of("Add_7"))
    assert n.output.type == TensorType(DType.F32, (2, 3))
    assert n.loc == Loc(("Add_7",)) and n.graph is g and n.output.producer is n


def test_node_input_accessors() -> None:
    g = diamond()
    c = g.node("c")
    assert c.input(1) is g.value("b") and c.opt_input(5) is None
    c.set_input(1, None)
    with pytest.raises(IndexError):
        c.input(1)


def test_locations_fuse_without_repeats() -> None:
    a, b = Loc.of("Conv_3"), Loc.of("Relu_4", "Conv_3")
    assert a.fuse(b) == Loc(("Conv_3", "Relu_4"))
    assert str(a.fuse(b)) == "Conv_3 + Relu_4"
    assert Loc.of("", "x") == Loc(("x",))
    assert str(UNKNOWN_LOC) == "?"
