"""The IR -> ONNX writer: one-op models round-trip (ONNX -> tinyc -> ONNX) and still compute what onnxruntime computed.

Every written model passes ``onnx.checker`` with full shape inference and
runs in onnxruntime; outputs match the original model's within rtol 1e-5 /
atol 1e-5 (float), exactly for integers. Each case is written at every opset
from its own up to 21 that the writer handles (13, 17, 18, 21 sampled).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from trt_helpers import cnn_model, full_check, one_node_model, rnd, run_ort

from tinyc.errors import UnsupportedOpError
from tinyc.export import WriteOptions, graph_to_onnx, model_bytes
from tinyc.frontends.onnx import import_model
from tinyc.interpreter import run_graph
from tinyc.ir import Graph, Loc, TensorType, get_op
from tinyc.ir.dtypes import DType
from tinyc.passes import run_passes
from tinyc.passes.pipelines import default_pipeline, mcu_pipeline

I64 = np.int64
X = rnd((2, 3, 4, 5), seed=1)


def i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=I64)


# id -> (op, feeds, consts, input order or None, attrs, opset of the source model, n_outputs)
CASES: dict[str, tuple] = {
    "unary_relu": ("Relu", {"x": X}, {}, None, {}, 13, 1),
    "sigmoid": ("Sigmoid", {"x": X}, {}, None, {}, 13, 1),
    "hardswish": ("HardSwish", {"x": X}, {}, None, {}, 14, 1),
    "mish": ("Mish", {"x": X}, {}, None, {}, 18, 1),
    "gelu_tanh": ("Gelu", {"x": X}, {}, None, {"approximate": "tanh"}, 20, 1),
    "leaky": ("LeakyRelu", {"x": X}, {}, None, {"alpha": 0.2}, 13, 1),
    "elu": ("Elu", {"x": X}, {}, None, {"alpha": 0.7}, 13, 1),
    "hardsigmoid": ("HardSigmoid", {"x": X}, {}, None, {"alpha": 0.3, "beta": 0.4}, 13, 1),
    "add_bcast": ("Add", {"a": X}, {"b": rnd((4, 1), seed=2)}, None, {}, 13, 1),
    "mod_fmod": ("Mod", {"a": X}, {"b": rnd((5,), seed=3, lo=0.5, hi=2)}, None, {"fmod": 1}, 13, 1),
    "clip_both": ("Clip", {"x": X}, {"lo": np.float32(-1), "hi": np.float32(0.5)}, ["x", "lo", "hi"], {}, 13, 1),
    "clip_max_only": ("Clip", {"x": X}, {"hi": np.float32(0.5)}, ["x", "", "hi"], {}, 13, 1),
    "cast": ("Cast", {"x": X}, {}, None, {"to": onnx.TensorProto.INT32}, 13, 1),
    "softmax": ("Softmax", {"x": X}, {}, None, {"axis": 1}, 13, 1),
    "softmax_coerce": ("Softmax", {"x": X}, {}, None, {"axis": 1}, 11, 1),
    "logsoftmax": ("LogSoftmax", {"x": X}, {}, None, {"axis": -1}, 13, 1),
    "conv": ("Conv", {"x": X[:, :, :, :4]}, {"w": rnd((6, 3, 3, 2), seed=4), "b": rnd((6,), seed=5)}, None, {"pads": [1, 0, 1, 1], "strides": [1, 2]}, 13, 1),
    "conv_same": ("Conv", {"x": X}, {"w": rnd((3, 1, 3, 3), seed=4)}, None, {"auto_pad": "SAME_UPPER", "group": 3}, 13, 1),
    "convtranspose": ("ConvTranspose", {"x": X}, {"w": rnd((3, 2, 3, 3), seed=6)}, None, {"strides": [2, 2], "output_padding": [1, 0], "pads": [1, 1, 1, 1]}, 13, 1),
    "gemm": ("Gemm", {"a": rnd((3, 4), seed=7)}, {"b": rnd((5, 4), seed=8), "c": rnd((5,), seed=9)}, None, {"transB": 1, "alpha": 0.5, "beta": 2.0}, 13, 1),
    "matmul": ("MatMul", {"a": X}, {"b": rnd((5, 6), seed=8)}, None, {}, 13, 1),
    "einsum": ("Einsum", {"a": rnd((2, 3, 4)), "b": rnd((2, 4, 5), seed=2)}, {}, None, {"equation": "bij,bjk->bik"}, 13, 1),
    "batchnorm": ("BatchNormalization", {"x": X}, {"s": rnd((3,), 1), "b": rnd((3,), 2), "m": rnd((3,), 3), "v": rnd((3,), 4, 0.5, 2)}, None, {"epsilon": 1e-3}, 13, 1),
    "layernorm": ("LayerNormalization", {"x": X}, {"s": rnd((4, 5), 1), "b": rnd((4, 5), 2)}, None, {"axis": 2}, 17, 1),
    "maxpool": ("MaxPool", {"x": X}, {}, None, {"kernel_shape": [2, 3], "strides": [1, 2], "pads": [0, 1, 1, 1], "ceil_mode": 1}, 13, 1),
    "maxpool_dilated": ("MaxPool", {"x": X}, {}, None, {"kernel_shape": [2, 2], "dilations": [2, 1]}, 13, 1),
    "avgpool": ("AveragePool", {"x": X}, {}, None, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, 13, 1),
    "gap": ("GlobalAveragePool", {"x": X}, {}, None, {}, 13, 1),
    "reshape": ("Reshape", {"x": X}, {"s": i64(0, -1, 5)}, None, {}, 13, 1),
    "flatten": ("Flatten", {"x": X}, {}, None, {"axis": 2}, 13, 1),
    "transpose": ("Transpose", {"x": X}, {}, None, {"perm": [0, 2, 3, 1]}, 13, 1),
    "squeeze": ("Squeeze", {"x": rnd((2, 1, 4, 1))}, {"a": i64(1, -1)}, None, {}, 13, 1),
    "unsqueeze": ("Unsqueeze", {"x": rnd((2, 4))}, {"a": i64(0, 3)}, None, {}, 13, 1),
    "expand": ("Expand", {"x": rnd((3, 1))}, {"s": i64(2, 3, 4)}, None, {}, 13, 1),
    "tile": ("Tile", {"x": rnd((2, 3))}, {"r": i64(2, 1)}, None, {}, 13, 1),
    "concat": ("Concat", {"a": X, "b": rnd((2, 1, 4, 5), 3)}, {}, None, {"axis": 1}, 13, 1),
    "split": ("Split", {"x": X}, {"s": i64(1, 2)}, None, {"axis": 1}, 13, 2),
    "split18": ("Split", {"x": X}, {}, None, {"axis": 3, "num_outputs": 2}, 18, 2),
    "slice": ("Slice", {"x": X}, {"s": i64(1, -1), "e": i64(4, -5), "a": i64(3, 2), "st": i64(2, -1)}, None, {}, 13, 1),
    "pad": ("Pad", {"x": X}, {"p": i64(0, 0, 1, 2, 0, 0, 2, 0), "v": np.float32(1.5)}, None, {}, 13, 1),
    "pad_reflect": ("Pad", {"x": X}, {"p": i64(0, 0, 1, 2, 0, 0, 2, 1)}, None, {"mode": "reflect"}, 13, 1),
    "gather": ("Gather", {"x": X}, {"i": i64(3, 0, -1)}, None, {"axis": 2}, 13, 1),
    "gather_elements": ("GatherElements", {"x": rnd((3, 4))}, {"i": rnd((3, 2), 1, 0, 4, I64)}, None, {"axis": 1}, 13, 1),
    "trilu": ("Trilu", {"x": rnd((4, 5))}, {"k": np.array(1, I64)}, None, {"upper": 0}, 14, 1),
    "reducesum": ("ReduceSum", {"x": X}, {"a": i64(1, 3)}, None, {"keepdims": 0}, 13, 1),
    "reducemean": ("ReduceMean", {"x": X}, {}, None, {"axes": [2, 3], "keepdims": 1}, 13, 1),
    "reducemean18": ("ReduceMean", {"x": X}, {"a": i64(-1)}, None, {"keepdims": 0}, 18, 1),
    "reducemax_all": ("ReduceMax", {"x": X}, {}, None, {"keepdims": 0}, 13, 1),
    "argmax": ("ArgMax", {"x": X}, {}, None, {"axis": 1, "keepdims": 0, "select_last_index": 1}, 13, 1),
    "cumsum": ("CumSum", {"x": X}, {"a": np.array(2, I64)}, None, {"exclusive": 1, "reverse": 1}, 13, 1),
    "topk": ("TopK", {"x": X}, {"k": i64(2)}, None, {"axis": -1, "largest": 0}, 13, 2),
    "resize_scales": ("Resize", {"x": X}, {"s": np.array([1, 1, 2, 1.5], np.float32)}, ["x", "", "s"], {"mode": "linear"}, 13, 1),
    "resize_sizes": ("Resize", {"x": X}, {"z": i64(2, 3, 7, 3)}, ["x", "", "", "z"], {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, 13, 1),
    "where": ("Where", {"c": rnd((4, 5)) > 0, "a": X}, {"b": rnd((5,), 2)}, None, {}, 13, 1),
    "qdq_per_axis": ("DequantizeLinear", {"q": rnd((4, 3), 1, -100, 100, np.int8)}, {"s": np.array([0.1, 0.2, 0.05], np.float32), "z": np.zeros(3, np.int8)}, None, {"axis": 1}, 13, 1),
    "quantize_u8": ("QuantizeLinear", {"x": X}, {"s": np.float32(0.05), "z": np.uint8(128)}, None, {}, 13, 1),
}

WRITE_OPSETS = (13, 17, 18, 21)


def _compare(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(case: str) -> None:
    op, feeds, consts, order, attrs, opset, n_out = CASES[case]
    src = one_node_model(op, feeds, consts, order, attrs, opset=opset, n_outputs=n_out)
    want = run_ort(src, feeds)
    graph = import_model(src)
    assert graph.nodes, "the op folded away at import"
    for write_opset in [o for o in WRITE_OPSETS if o >= max(opset, 13)] or [21]:
        model = full_check(graph_to_onnx(graph, WriteOptions(opset=write_opset)))
        _compare(run_ort(model, feeds), want)
        assert model.opset_import[0].version == write_opset


def test_needs_newer_opset_says_so() -> None:
    src = one_node_model("HardSwish", {"x": X}, opset=14)
    graph = import_model(src)
    with pytest.raises(UnsupportedOpError, match="opset 14"):
        graph_to_onnx(graph, WriteOptions(opset=13))
    with pytest.raises(UnsupportedOpError, match="opsets 13-21"):
        graph_to_onnx(graph, WriteOptions(opset=12))


def test_reduce_axes_follow_the_opset() -> None:
    graph = import_model(one_node_model("ReduceMean", {"x": X}, {}, None, {"axes": [1], "keepdims": 0}, opset=13))
    old = graph_to_onnx(graph, WriteOptions(opset=17))
    new = graph_to_onnx(graph, WriteOptions(opset=18))
    assert [a.name for a in old.graph.node[0].attribute] == ["axes", "keepdims"] and len(old.graph.node[0].input) == 1
    assert len(new.graph.node[0].input) == 2 and new.graph.node[0].input[1] in {i.name for i in new.graph.initializer}


def test_pipelines_output_is_writable_and_equal() -> None:
    """The default pipeline (and the MCU pipeline's float FullyConnected) write back as ONNX ops."""
    src = cnn_model()
    x = rnd((1, 3, 12, 12), seed=3)
    want = run_ort(src, {"x": x})
    for pipeline in (default_pipeline(),):
        graph, _ = run_passes(import_model(src), pipeline)
        _compare(run_ort(full_check(graph_to_onnx(graph)), {"x": x}), want)
    mlp = one_node_model("Gemm", {"a": rnd((1, 4))}, {"b": rnd((4, 3), 2), "c": rnd((3,), 3)}, None, {})
    graph, _ = run_passes(import_model(mlp), mcu_pipeline())
    assert "FullyConnected" in [n.op.name for n in graph.nodes]
    a = rnd((1, 4), 5)
    np.testing.assert_allclose(run_ort(full_check(graph_to_onnx(graph)), {"a": a})[0], run_ort(mlp, {"a": a})[0], rtol=1e-5, atol=1e-5)


def test_nhwc_kernel_ops_are_refused() -> None:
    graph, _ = run_passes(import_model(cnn_model()), mcu_pipeline())
    with pytest.raises(UnsupportedOpError, match="NHWC kernel op"):
        graph_to_onnx(graph)


def test_fully_connected_with_clamp_on_rank3() -> None:
    g = Graph("fc3")
    x = g.add_input("x", TensorType(DType.F32, (2, 3, 4)))
    w = g.add_const("w", rnd((5, 4), 1))
    b = g.add_const("b", rnd((5,), 2))
    fc = get_op("FullyConnected")
    n = g.add_node(fc, [x, w, b], fc.Attrs(act_min=0.0, act_max=1.0), name="fc", loc=Loc.of("fc"))
    g.outputs.append(n.output)
    xv = rnd((2, 3, 4), 3)
    want = run_graph(g, {"x": xv})["fc"]
    got = run_ort(full_check(graph_to_onnx(g)), {"x": xv})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_bytes_are_deterministic_and_names_come_from_locations() -> None:
    src = cnn_model()
    a = model_bytes(graph_to_onnx(import_model(src)))
    b = model_bytes(graph_to_onnx(import_model(src)))
    assert a == b
    names = [n.name for n in onnx.load_from_string(a).graph.node]
    assert names[:3] == ["conv1", "bn1", "relu1"] and len(set(names)) == len(names)


def test_narrow_int64() -> None:
    """Index-like int64 constants become int32 where ONNX takes int32; shape operands stay int64."""
    src = one_node_model("Slice", {"x": X}, {"s": i64(1), "e": i64(3), "a": i64(1)}, None, {})
    graph = import_model(src)
    model = full_check(graph_to_onnx(graph, WriteOptions(narrow_int64=True)))
    assert {t.data_type for t in model.graph.initializer} == {onnx.TensorProto.INT32}
    _compare(run_ort(model, {"x": X}), run_ort(src, {"x": X}))
    gsrc = one_node_model("Gather", {"x": X}, {"i": i64(2, 0)}, None, {"axis": 1})
    model = full_check(graph_to_onnx(import_model(gsrc), WriteOptions(narrow_int64=True)))
    assert [t.data_type for t in model.graph.initializer] == [onnx.TensorProto.INT32]
    rsrc = one_node_model("Reshape", {"x": X}, {"s": i64(2, -1)}, None, {})
    model = full_check(graph_to_onnx(import_model(rsrc), WriteOptions(narrow_int64=True)))
    assert [t.data_type for t in model.graph.initializer] == [onnx.TensorProto.INT64]


def test_dynamic_batch_reshape_copies_the_batch() -> None:
    src = cnn_model()
    graph, _ = run_passes(import_model(src), default_pipeline())
    model = full_check(graph_to_onnx(graph, WriteOptions(dynamic_batch="batch")))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    x4 = rnd((4, 3, 12, 12), seed=9)
    want = np.concatenate([run_ort(src, {"x": x4[i : i + 1]})[0] for i in range(4)])
    np.testing.assert_allclose(run_ort(model, {"x": x4})[0], want, rtol=1e-5, atol=1e-5)
