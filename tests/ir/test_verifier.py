"""The verifier: valid graphs pass, each broken invariant raises a VerificationError naming it."""

from __future__ import annotations

import numpy as np
import pytest

from tinyc.errors import VerificationError
from tinyc.ir import OPS, DType, Graph, Node, QuantParams, TensorType, Value, verify
from tinyc.ir.opdef import OpDef
from tinyc.ir.parser import parse_graph

T = TensorType(DType.F32, (2, 3))


def chain() -> Graph:
    """x -> Relu -> Add(., w) -> LeakyRelu -> out."""
    g = Graph("chain")
    x = g.add_input("x", T)
    w = g.add_const("w", np.ones((2, 3), np.float32))
    r = g.add_node(OPS["Relu"], [x], name="relu").output
    a = g.add_node(OPS["Add"], [r, w], name="add").output
    lk = g.add_node(OPS["LeakyRelu"], [a], OPS["LeakyRelu"].Attrs(alpha=0.2), name="leaky").output
    g.outputs = [lk]
    return g


def broken(g: Graph, *fragments: str) -> None:
    with pytest.raises(VerificationError) as info:
        verify(g, where="pass 'test'")
    msg = str(info.value)
    for f in fragments:
        assert f in msg, msg
    assert "after pass 'test'" in msg and "graph 'chain'" in msg


# -- valid graphs --------------------------------------------------------------------


def test_valid_graphs_pass() -> None:
    verify(chain())
    verify(Graph("empty"))
    g = Graph("passthrough")
    g.outputs = [g.add_input("x", T), g.add_const("c", np.zeros(3, np.int8), QuantParams.per_tensor(0.5, 1))]
    verify(g)


def test_valid_parsed_graph_with_optional_inputs_and_several_outputs() -> None:
    g = parse_graph(
        """graph @g(%x: f32[2,6], %w: f32[4,6]) {
          %y = Gemm(%x, %w, _) {trans_b = true} : f32[2,4]
          %a, %b = Split(%y) {split = [1, 3], axis = 1} : f32[2,1], f32[2,3]
          %q = Identity(%a) : f32[2,1]{q: scale=0.5, zp=0}
          return %q, %b, %b
        }"""
    )
    verify(g)


def test_valid_after_mutations() -> None:
    g = chain()
    relu, add, _ = g.nodes
    add.set_input(0, g.inputs[0])  # bypass the Relu
    g.remove_node(relu)
    g.prune_constants()
    verify(g)


# -- each invariant -----------------------------------------------------------------


def test_duplicate_value_names() -> None:
    g = chain()
    g.node("add").output.name = "x"
    broken(g, "value name %x defined twice (node output)")


def test_duplicate_constant_name() -> None:
    g = chain()
    g.constants[0].name = "x"
    broken(g, "value name %x defined twice (constant)")


def test_use_before_definition() -> None:
    g = chain()
    g.set_order(list(reversed(g.nodes)))
    broken(g, "node 'leaky' (LeakyRelu at ?)", "input 0 %add is not defined before use")


def test_input_from_another_graph() -> None:
    g, other = chain(), chain()
    g.node("add").set_input(1, other.constants[0])
    broken(g, "input 1 %w is not defined before use")


def test_use_list_missing_a_use() -> None:
    g = chain()
    add = g.node("add")
    add._inputs[0] = g.inputs[0]  # bypasses set_input: %x's use list misses this use
    broken(g, "node 'add'", "use list of %x misses this node")


def test_stale_use_of_a_removed_node() -> None:
    g = chain()
    leaky = g.node("leaky")
    g._nodes.remove(leaky)  # dropped without detaching from its inputs
    leaky.graph = None
    g.outputs = [g.node("add").output]
    broken(g, "value %add lists a stale use ('leaky', input 0)")


def test_stale_use_with_a_wrong_index() -> None:
    g = chain()
    g.inputs[0]._uses.append((g.node("relu"), 3))
    broken(g, "value %x lists a stale use ('relu', input 3)")


def test_wrong_output_type() -> None:
    g = chain()
    g.node("add").output.type = TensorType(DType.F32, (3, 2))
    broken(g, "node 'add' (Add at ?)", "output %add has type f32[3,2], inference gives f32[2,3]")


def test_wrong_output_dtype() -> None:
    g = chain()
    g.node("relu").output.type = TensorType(DType.F16, (2, 3))
    broken(g, "output %relu has type f16[2,3], inference gives f32[2,3]")


def test_wrong_output_quantization() -> None:
    g = parse_graph("graph @chain(%x: i8[4]{q: scale=0.5, zp=3}) {\n  %y = Identity(%x)\n  return %y\n}")
    g.node("y").output.type = TensorType(DType.I8, (4,), QuantParams.per_tensor(0.25, 3))
    broken(g, "output %y quantization", "differs from inferred")


def test_failing_type_inference() -> None:
    g = chain()
    g.node("add").set_input(1, g.add_const("v", np.ones(5, np.float32)))
    broken(g, "node 'add'", "type inference failed", "do not broadcast")


def test_constant_data_mismatch() -> None:
    g = chain()
    g.constants[0].const = np.ones((3, 2), np.float32)
    broken(g, "constant %w data float32[3, 2] does not match its type f32[2,3]")
    g.constants[0].const = np.ones((2, 3), np.float64)
    broken(g, "constant %w data float64[2, 3] does not match its type f32[2,3]")


def test_constant_without_data() -> None:
    g = chain()
    g.constants[0].const = None
    broken(g, "constant %w has no data")


def test_graph_input_with_data() -> None:
    g = chain()
    g.inputs[0].const = np.zeros((2, 3), np.float32)
    broken(g, "graph input %x has a producer or constant data")


def test_too_many_inputs() -> None:
    g = chain()
    x = g.inputs[0]
    g.insert_node(Node(OPS["Relu"], [x, x], [Value("r2", T)], name="r2"))
    broken(g, "node 'r2' (Relu at ?): 2 inputs, expected 1..1")


def test_too_few_inputs() -> None:
    g = chain()
    g.insert_node(Node(OPS["Add"], [g.inputs[0]], [Value("a2", T)], name="a2"))
    broken(g, "node 'a2' (Add at ?): 1 inputs, expected 2..2")


def test_wrong_output_count() -> None:
    g = chain()
    g.insert_node(Node(OPS["Relu"], [g.inputs[0]], [Value("o1", T), Value("o2", T)], name="two"))
    broken(g, "node 'two'", "2 outputs, inference gives 1")


def test_undefined_graph_output() -> None:
    g = chain()
    g.outputs.append(Value("ghost", T))
    broken(g, "graph output %ghost is not defined")


def test_removed_node_output_as_graph_output() -> None:
    g = chain()
    leaky = g.node("leaky")
    leaky.drop_inputs()
    g._nodes.remove(leaky)
    broken(g, "graph output %leaky is not defined")


def test_attrs_of_the_wrong_class() -> None:
    g = chain()
    g.node("relu").attrs = OPS["LeakyRelu"].Attrs()
    broken(g, "node 'relu' (Relu at ?): attributes are Attrs, expected Relu.Attrs")


def test_unregistered_op() -> None:
    class Rogue(OpDef):
        name = "Relu"

    g = chain()
    g.node("relu").op = Rogue()
    broken(g, "node 'relu'", "op is not a registered op definition")


def test_node_of_another_graph() -> None:
    g = chain()
    g.node("relu").graph = None
    broken(g, "node 'relu'", "node does not belong to this graph")


def test_output_not_pointing_back() -> None:
    g = chain()
    g.node("add").output.index = 1
    broken(g, "node 'add'", "output %add does not point back to its producer")


def test_output_with_constant_data() -> None:
    g = chain()
    g.node("add").output.const = np.zeros((2, 3), np.float32)
    broken(g, "node 'add'", "output %add carries constant data")
