"""Helpers for the ONNX writer and TensorRT backend tests: tiny ONNX models, onnxruntime runs, checks.

The test folder has no ``__init__.py``; ``conftest.py`` puts it on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper


def rnd(shape: Sequence[int], seed: int = 0, lo: float = -3.0, hi: float = 3.0, dtype: Any = np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(lo), int(hi), tuple(shape)).astype(dtype)
    return rng.uniform(lo, hi, tuple(shape)).astype(dtype)


def one_node_model(
    op_type: str,
    feeds: Mapping[str, np.ndarray],
    consts: Mapping[str, np.ndarray] | None = None,
    order: Sequence[str] | None = None,
    attrs: Mapping[str, Any] | None = None,
    opset: int = 17,
    n_outputs: int = 1,
) -> onnx.ModelProto:
    """A checked one-node model: ``feeds`` are graph inputs, ``consts`` initializers, ``order`` the node's inputs ('' = omitted)."""
    consts = dict(consts or {})
    names = list(order) if order is not None else [*feeds, *consts]
    inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)) for k, v in feeds.items()]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, name=f"{op_type}_0", **dict(attrs or {}))
    graph = helper.make_graph([node], f"one_{op_type}", inputs, [helper.make_value_info(o, onnx.TypeProto()) for o in outs], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    known = {vi.name: vi for vi in inferred.graph.output}
    del model.graph.output[:]
    model.graph.output.extend(known[o] for o in outs)
    onnx.checker.check_model(model, full_check=True)
    return model


def run_ort(model: onnx.ModelProto | bytes, feeds: Mapping[str, np.ndarray], *, optimize: bool = False) -> list[np.ndarray]:
    """Run on onnxruntime's CPU provider, one thread (graph optimisations off unless ``optimize``)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    data = model if isinstance(model, bytes) else model.SerializeToString()
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    return list(sess.run(None, dict(feeds)))


def full_check(model: onnx.ModelProto | bytes) -> onnx.ModelProto:
    """The ONNX checker with full shape/type inference; returns the parsed model."""
    m = onnx.load_from_string(model) if isinstance(model, bytes) else model
    onnx.checker.check_model(m, full_check=True)
    return m


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of ``got`` against ``ref`` in dB."""
    ref64, got64 = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    noise = float(np.sum((ref64 - got64) ** 2))
    signal = float(np.sum(ref64**2))
    return float("inf") if noise == 0 else 10.0 * np.log10(max(signal, 1e-30) / noise)


def mlp_model(in_features: int = 8, hidden: int = 16, out: int = 4, *, seed: int = 0, opset: int = 17) -> onnx.ModelProto:
    """Gemm -> Relu -> MatMul + Add -> Sigmoid: a small MLP with both linear forms."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.5, (hidden, in_features)).astype(np.float32)
    b1 = rng.normal(0, 0.1, hidden).astype(np.float32)
    w2 = rng.normal(0, 0.5, (hidden, out)).astype(np.float32)
    b2 = rng.normal(0, 0.1, out).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu1"),
        helper.make_node("MatMul", ["r", "w2"], ["m"], name="fc2"),
        helper.make_node("Add", ["m", "b2"], ["a"], name="bias2"),
        helper.make_node("Sigmoid", ["a"], ["y"], name="sigmoid"),
    ]
    g = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, in_features])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, out])],
        initializer=[numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def cnn_model(*, seed: int = 0, batch: int | str = 1, opset: int = 17) -> onnx.ModelProto:
    """A residual CNN: Conv+BN+Relu, depthwise Conv, a skip Add, MaxPool, GlobalAveragePool, Flatten, Gemm, Softmax."""
    rng = np.random.default_rng(seed)

    def w(*shape: int, s: float = 0.4) -> np.ndarray:
        return rng.normal(0, s, shape).astype(np.float32)

    inits = {
        "c1_w": w(8, 3, 3, 3), "c1_b": w(8, s=0.1),
        "bn_s": (1 + w(8, s=0.1)), "bn_b": w(8, s=0.1), "bn_m": w(8, s=0.1), "bn_v": (0.5 + np.abs(w(8))),
        "dw_w": w(8, 1, 3, 3), "dw_b": w(8, s=0.1),
        "pw_w": w(8, 8, 1, 1), "pw_b": w(8, s=0.1),
        "fc_w": w(5, 8), "fc_b": w(5, s=0.1),
    }  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "c1_w", "c1_b"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], name="bn1"),
        helper.make_node("Relu", ["bn"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "dw_w", "dw_b"], ["dw"], name="dwconv", pads=[1, 1, 1, 1], group=8),
        helper.make_node("Relu", ["dw"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "pw_w", "pw_b"], ["pw"], name="pwconv"),
        helper.make_node("Add", ["pw", "r1"], ["res"], name="residual"),
        helper.make_node("Relu", ["res"], ["r3"], name="relu3"),
        helper.make_node("MaxPool", ["r3"], ["mp"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["mp"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1),
    ]
    g = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, 3, 12, 12])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [batch, 5])],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m
