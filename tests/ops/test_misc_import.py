"""Import-time behaviour of the element-wise, shape, reduction and Q/DQ ops, checked against onnxruntime.

Q/DQ on constants stay ops; a Q -> DQ chain carries its quantization in the
IR type; the KWS model's DequantizeLinear weights import; Shape subgraphs on
graph inputs fold away; a constant-required input that is not constant fails
with an error naming the node; attributes round-trip through the IR text form.
Tolerances: the helper's rtol 1e-5 / atol 1e-4 unless a case says otherwise.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_helpers import Feed, check_against_ort, make_model, run_ort

from tinyc.errors import TinycError, UnsupportedOpError
from tinyc.frontends.onnx import import_model
from tinyc.interpreter import run_graph
from tinyc.ir import DType, Graph, QuantParams, TensorType, get_op, verify
from tinyc.ir.parser import parse_graph
from tinyc.ir.printer import print_graph


def rnd(shape: tuple[int, ...], seed: int = 0, dtype: type = np.float32, lo: float = -3.0, hi: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(lo), int(hi), shape).astype(dtype)
    return rng.uniform(lo, hi, shape).astype(dtype)


def ints(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def test_dequantize_constant_weights_stay_ops() -> None:
    """Q/DQ on constants are not folded: the quantizer must see them."""
    w = rnd((4, 3), 61, np.int8, -128, 127)
    model = make_model("DequantizeLinear", [("w", w), ("s", rnd((4,), 62, lo=0.01, hi=0.1)), ("z", np.zeros(4, np.int8))], {"axis": 0}, opset=13)
    g = check_against_ort(model, {}, expect_op="DequantizeLinear")
    assert g.nodes[0].inputs[0].is_const


def test_quantize_dequantize_chain() -> None:
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq"),
    ]
    inits = [numpy_helper.from_array(np.array(0.07, np.float32), "s"), numpy_helper.from_array(np.array(-3, np.int8), "z")]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    g = check_against_ort(model, {"x": rnd((2, 8), 63)})
    assert g.nodes[0].outputs[0].type.quant == QuantParams.per_tensor(0.07, -3)


def test_kws_float_model_matches_onnxruntime(kws_float) -> None:  # type: ignore[no-untyped-def]
    """The KWS DS-CNN feeds its weights through DequantizeLinear; it must import and match onnxruntime."""
    model = onnx.load(str(kws_float))
    g = import_model(model, input_shapes={"input_1": (1, 49, 10, 1)})
    verify(g)
    assert sum(n.op.name == "DequantizeLinear" for n in g.nodes) == 5
    x = rnd((1, 49, 10, 1), 64, lo=-40, hi=40)
    ours = run_graph(g, {"input_1": x})
    theirs = run_ort(model, {"input_1": x})
    np.testing.assert_allclose(next(iter(ours.values())), theirs[0], rtol=1e-4, atol=1e-5)


# -- import-time behaviour and errors ------------------------------------------------------


def test_shape_subgraph_folds_at_import() -> None:
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape on a graph input leaves only the Reshape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"], name="shape"),
        helper.make_node("Gather", ["shp", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"], name="unsq"),
        helper.make_node("Concat", ["n1", "minus1"], ["newshape"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "newshape"], ["y"], name="reshape"),
    ]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(ints(0), "ax0"), numpy_helper.from_array(ints(-1), "minus1")]
    graph = helper.make_graph(nodes, "fold", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 12])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    g = check_against_ort(model, {"x": rnd((2, 3, 4), 65)})
    assert [n.op.name for n in g.nodes] == ["Reshape"]
    assert g.nodes[0].attrs.shape == (2, 12)


@pytest.mark.parametrize(
    "op, inputs, what",
    [
        ("Reshape", [("x", Feed(rnd((2, 6), 66))), ("s", Feed(ints(3, 4)))], "shape"),
        ("Clip", [("x", Feed(rnd((2, 6), 66))), ("lo", Feed(np.array(0.0, np.float32)))], "min"),
        ("Slice", [("x", Feed(rnd((2, 6), 66))), ("s", ints(0)), ("e", Feed(ints(1)))], "ends"),
        ("Tile", [("x", Feed(rnd((2, 6), 66))), ("r", Feed(ints(1, 2)))], "repeats"),
        ("ReduceSum", [("x", Feed(rnd((2, 6), 66))), ("a", Feed(ints(1)))], "axes"),
    ],
)
def test_non_constant_required_input_names_the_node(op: str, inputs: list, what: str) -> None:
    graph_inputs, inits = [], []
    for name, v in inputs:
        if isinstance(v, Feed):
            graph_inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.array.dtype), v.array.shape))
        else:
            inits.append(numpy_helper.from_array(v, name))
    node = helper.make_node(op, [n for n, _ in inputs], ["y"], name=f"{op}_0")
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "g", graph_inputs, [out], initializer=inits), opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    with pytest.raises(TinycError) as info:
        import_model(model, source="m.onnx")
    msg = str(info.value)
    assert f"{op}_0" in msg and repr(what) in msg and "constant" in msg


def test_quantized_input_is_refused_until_integer_semantics() -> None:
    g = Graph("q")
    x = g.add_input("x", TensorType(DType.I8, (4,), QuantParams.per_tensor(0.1, 0)))
    n = g.add_node(get_op("Abs"), [x], name="abs")
    g.outputs.append(n.output)
    with pytest.raises(UnsupportedOpError, match="quantized"):
        run_graph(g, {"x": np.array([1, -2, 3, -4], np.int8)})


def test_data_movement_carries_quantization() -> None:
    g = Graph("q")
    q = QuantParams.per_axis([0.1, 0.2, 0.3], [0, 0, 0], axis=1)
    x = g.add_input("x", TensorType(DType.I8, (2, 3, 4), q))
    t = g.add_node(get_op("Transpose"), [x], get_op("Transpose").Attrs(perm=(2, 0, 1)), name="t")
    assert t.output.type.quant.axis == 2
    r = g.add_node(get_op("Reshape"), [x], get_op("Reshape").Attrs(shape=(6, 4)), name="r")
    assert r.output.type.quant is None  # per-axis through a reshape: left to the quantizer
    y = g.add_input("y", TensorType(DType.I8, (2, 3), QuantParams.per_tensor(0.5, 3)))
    s = g.add_node(get_op("Unsqueeze"), [y], get_op("Unsqueeze").Attrs(axes=(0,)), name="u")
    assert s.output.type.quant == QuantParams.per_tensor(0.5, 3)


@pytest.mark.parametrize(
    "op, inputs, attrs, opset",
    [
        ("Pad", [("x", Feed(rnd((2, 3), 67))), ("p", ints(0, 1, 0, 2))], {"mode": "reflect"}, 13),
        ("Clip", [("x", Feed(rnd((2, 3), 67))), ("", None), ("m", np.array(0.5, np.float32))], {}, 13),
        ("Gelu", [("x", Feed(rnd((2, 3), 67)))], {"approximate": "tanh"}, 20),
        ("QuantizeLinear", [("x", Feed(rnd((2, 3), 67))), ("s", np.array([0.1, 0.2, 0.3], np.float32)), ("z", np.array([1, 2, 3], np.int8))], {}, 13),
        ("Cast", [("x", Feed(rnd((2, 3), 67)))], {"to": 7}, 13),
        ("ReduceMean", [("x", Feed(rnd((2, 3), 67)))], {"axes": [1], "keepdims": 0}, 13),
        ("Slice", [("x", Feed(rnd((2, 3), 67))), ("s", ints(-1)), ("e", ints(-100)), ("a", ints(1)), ("t", ints(-1))], {}, 13),
        ("Split", [("x", Feed(rnd((2, 3), 67)))], {"axis": 1, "num_outputs": 2}, 18),
    ],
)
def test_text_round_trip(op: str, inputs: list, attrs: dict, opset: int) -> None:
    n_out = 2 if op == "Split" else 1
    g = import_model(make_model(op, inputs, attrs, opset, n_out, feeds={n: v.array for n, v in inputs if isinstance(v, Feed)}))
    text = print_graph(g)
    g2 = parse_graph(text)
    verify(g2)
    assert print_graph(g2) == text
