"""The TensorRT rules checker: a valid model passes, and a model breaking each rule is caught by that rule, naming the node."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tinyc.backends.tensorrt import profile_of
from tinyc.backends.tensorrt.checker import Violation, check_model, enforce
from tinyc.errors import UnsupportedOpError
from tinyc.targets import load_target

ORIN = profile_of(load_target("jetson-orin"))
XAVIER = profile_of(load_target("jetson-xavier"))
NANO = profile_of(load_target("jetson-nano"))
F = TensorProto.FLOAT


def model(
    nodes: Sequence[onnx.NodeProto],
    inits: dict[str, np.ndarray],
    *,
    inputs: Sequence[tuple[str, int, list]] = (("x", F, [1, 3, 8, 8]),),
    outputs: Sequence[tuple[str, int, list | None]] = (("y", F, None),),
    opset: int = 17,
) -> onnx.ModelProto:
    g = helper.make_graph(
        list(nodes),
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def qdq_conv(*, zp: int = 0, qtype: type = np.int8, act_scale: np.ndarray | None = None, w_axis: int = 0, opset: int = 17) -> onnx.ModelProto:
    """A valid TensorRT int8 Conv: x -> Q/DQ -> Conv(DQ(int8 weights, per channel)) -> y (variants break a rule)."""
    s = np.float32(0.05) if act_scale is None else act_scale
    inits = {
        "s": s, "z": np.asarray(zp, qtype) if act_scale is None else np.zeros(s.shape, qtype),
        "w": np.ones((4, 3, 3, 3), np.int8), "ws": np.full(4 if w_axis == 0 else 3, 0.01, np.float32),
        "wz": np.zeros(4 if w_axis == 0 else 3, np.int8),
    }  # fmt: skip
    q_attrs = {} if act_scale is None else {"axis": 1}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q", **q_attrs),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq", **q_attrs),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], name="wdq", axis=w_axis),
        helper.make_node("Conv", ["xd", "wd"], ["y"], name="conv", pads=[1, 1, 1, 1]),
    ]
    return model(nodes, inits, opset=opset)


def rules(found: list[Violation]) -> set[str]:
    return {v.rule for v in found}


def test_valid_int8_model_passes_on_every_target() -> None:
    m = qdq_conv(opset=13)
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", F, [1, 4, 8, 8]))
    onnx.checker.check_model(m, full_check=True)
    for p in (ORIN, XAVIER, NANO):
        assert check_model(m, p) == []
    enforce(m, ORIN)


def test_opset_out_of_range() -> None:
    found = check_model(qdq_conv(opset=17), NANO)  # TensorRT 8.2: up to 13
    assert rules(found) == {"opset"} and "outside TensorRT 8.2's range 7-13" in found[0].message
    assert check_model(qdq_conv(opset=21), ORIN)[0].rule == "opset"


def test_int64_data_initializer_on_trt8() -> None:
    m = model([helper.make_node("Gather", ["x", "i"], ["y"], name="gather", axis=1)], {"i": np.array([0, 2], np.int64)})
    assert rules(check_model(m, XAVIER)) == {"int64"}
    assert "Gather 'gather'" in check_model(m, XAVIER)[0].message
    assert check_model(m, ORIN) == []  # TensorRT 10 has INT64
    m32 = model([helper.make_node("Gather", ["x", "i"], ["y"], name="gather", axis=1)], {"i": np.array([0, 2], np.int32)})
    assert check_model(m32, XAVIER) == []


def test_int64_shape_operands_allowed_on_trt8_if_they_fit_int32() -> None:
    ok = model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")], {"s": np.array([1, -1], np.int64)})
    assert check_model(ok, XAVIER) == []
    big = model([helper.make_node("Tile", ["x", "r"], ["y"], name="t")], {"r": np.array([1, 1, 1, 2**33], np.int64)})
    assert "INT32 range" in check_model(big, XAVIER)[0].message


def test_int64_graph_io_on_trt8() -> None:
    m = model([helper.make_node("ArgMax", ["x"], ["y"], name="am", axis=1)], {}, outputs=[("y", TensorProto.INT64, None)])
    assert rules(check_model(m, XAVIER)) == {"int64"} and check_model(m, ORIN) == []


def test_asymmetric_zero_point() -> None:
    found = check_model(qdq_conv(zp=5), ORIN)
    assert rules(found) == {"qdq"} and {v.where for v in found} == {"node 'q' (QuantizeLinear)", "node 'dq' (DequantizeLinear)"}
    assert "not 0" in found[0].message


def test_uint8_quantization() -> None:
    found = check_model(qdq_conv(zp=0, qtype=np.uint8), ORIN)
    assert "qdq" in rules(found) and any("INT8 only" in v.message for v in found)
    assert "dtype" in rules(found)  # a UINT8 tensor inside the network


def test_per_channel_activation() -> None:
    found = check_model(qdq_conv(act_scale=np.full(3, 0.05, np.float32)), ORIN)
    assert any("per tensor" in v.message for v in found)


def test_per_channel_weights_on_the_wrong_axis() -> None:
    found = check_model(qdq_conv(w_axis=1), ORIN)
    assert any(v.where == "node 'wdq' (DequantizeLinear)" and "axis 1" in v.message for v in found)


def test_bad_scale() -> None:
    m = qdq_conv()
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.float32(-0.05), "s"))
    assert any("positive" in v.message for v in check_model(m, ORIN))


def test_integer_quantized_ops() -> None:
    inits = {"xs": np.float32(0.1), "xz": np.int8(0), "w": np.ones((2, 3, 1, 1), np.int8), "ws": np.float32(0.1), "wz": np.int8(0), "ys": np.float32(0.1), "yz": np.int8(0)}
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"], name="qconv")
    m = model([node], inits, inputs=[("x", TensorProto.INT8, [1, 3, 4, 4])], outputs=[("y", TensorProto.INT8, None)])
    found = check_model(m, ORIN)
    assert [v.rule for v in found] == ["unsupported-op"] and "QuantizeLinear/DequantizeLinear" in found[0].message
    m2 = model([helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"], name="dql")], {}, outputs=[("y", TensorProto.UINT8, None), ("s", F, None), ("z", TensorProto.UINT8, None)])
    assert "unsupported-op" in rules(check_model(m2, ORIN))


def test_dynamic_shape() -> None:
    m = model([helper.make_node("Relu", ["x"], ["y"], name="relu")], {}, inputs=[("x", F, ["n", 3, "h", 8])])
    found = check_model(m, ORIN)
    assert rules(found) == {"static-shape"} and len(found) == 2
    assert [v.message.split(" is ")[0] for v in check_model(m, ORIN, dynamic_batch=True)] == ["dimension 2"]


@pytest.mark.parametrize(
    "profile,op,attrs,opset",
    [(NANO, "Mod", {"fmod": 1}, 13), (XAVIER, "LayerNormalization", {}, 17), (ORIN, "Gelu", {}, 20), (ORIN, "Unique", {}, 17), (XAVIER, "IsInf", {}, 17)],
)
def test_unsupported_op(profile: object, op: str, attrs: dict, opset: int) -> None:
    ins = ["x", "x"] if op == "Mod" else ["x", "s"] if op == "LayerNormalization" else ["x"]
    inits = {"s": np.ones(8, np.float32)} if op == "LayerNormalization" else {}
    m = model([helper.make_node(op, ins, ["y"], name="n0", **attrs)], inits, opset=opset)
    found = check_model(m, profile)  # type: ignore[arg-type]
    assert [v.rule for v in found] == ["unsupported-op"] and found[0].where == f"node 'n0' ({op})"


def test_custom_domain() -> None:
    m = model([helper.make_node("MyOp", ["x"], ["y"], name="mine", domain="com.example")], {})
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    assert rules(check_model(m, ORIN)) == {"opset", "unsupported-op"}


def test_non_initializer_operands() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"], name="shape"),
        helper.make_node("Reshape", ["x", "shp"], ["r"], name="reshape"),
        helper.make_node("Squeeze", ["r", "axes"], ["y"], name="squeeze"),
    ]
    m = model(nodes, {}, inputs=[("x", F, [1, 3, 8, 8]), ("axes", TensorProto.INT64, [1])])
    found = check_model(m, ORIN)
    assert {(v.rule, v.where) for v in found} >= {
        ("folded", "node 'shape' (Shape)"),
        ("constant-input", "node 'reshape' (Reshape)"),
        ("constant-input", "node 'squeeze' (Squeeze)"),
    }


def test_conv_weights_must_be_constant() -> None:
    m = model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], {}, inputs=[("x", F, [1, 3, 8, 8]), ("w", F, [2, 3, 1, 1])])
    assert [(v.rule, v.where) for v in check_model(m, ORIN)] == [("constant-input", "node 'conv' (Conv)")]


def test_unfolded_constant() -> None:
    nodes = [helper.make_node("Add", ["a", "b"], ["c"], name="const_add"), helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    found = check_model(model(nodes, {"a": np.float32(1), "b": np.float32(2)}), ORIN)
    assert [(v.rule, v.where) for v in found] == [("folded", "node 'const_add' (Add)")]


def test_pooling_resize_topk_cast_restrictions() -> None:
    pool = model([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], dilations=[2, 2])], {})
    assert "dilations" in check_model(pool, ORIN)[0].message
    pool1d = model([helper.make_node("AveragePool", ["x"], ["y"], name="p", kernel_shape=[2])], {}, inputs=[("x", F, [1, 3, 8])])
    assert "1-D pooling" in check_model(pool1d, ORIN)[0].message
    resize = model([helper.make_node("Resize", ["x", "", "sc"], ["y"], name="rs", mode="cubic")], {"sc": np.array([1, 1, 2, 2], np.float32)})
    assert "'nearest' or 'linear'" in check_model(resize, ORIN)[0].message
    topk = model([helper.make_node("TopK", ["x", "k"], ["y", "i"], name="tk", sorted=0)], {"k": np.array([4000], np.int64)}, inputs=[("x", F, [1, 5000])], outputs=[("y", F, None), ("i", TensorProto.INT64, None)])
    msgs = [v.message for v in check_model(topk, ORIN)]
    assert any("K < 3840" in m for m in msgs) and any("sorted=1" in m for m in msgs)
    cast = model([helper.make_node("Cast", ["x"], ["y"], name="c", to=TensorProto.INT64)], {})
    assert any("Cast to INT64" in v.message for v in check_model(cast, XAVIER))
    assert not any(v.rule == "restriction" for v in check_model(cast, ORIN))


def test_enforce_lists_every_problem() -> None:
    m = qdq_conv(zp=5, opset=17)
    with pytest.raises(UnsupportedOpError) as err:
        enforce(m, NANO)
    text = str(err.value)
    assert "3 problem(s)" in text and "[opset]" in text and "[qdq] node 'q' (QuantizeLinear)" in text
