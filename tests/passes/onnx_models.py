"""Small multi-node ONNX models (NCHW CNNs, an MLP) for end-to-end pipeline tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Builder:
    """Appends nodes and float32 initializers; ``model()`` returns a checked ModelProto."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, arr: np.ndarray, name: str = "c") -> str:
        self.count += 1
        full = f"{name}_{self.count}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), full))
        return full

    def weight(self, *shape: int, scale: float = 0.3) -> str:
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32), "w")

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{op_type}_{self.count}", **attrs))
        return out

    def bn(self, x: str, c: int) -> str:
        r = self.rng
        stats = [
            (r.uniform(0.5, 1.5, c)).astype(np.float32),
            (r.standard_normal(c) * 0.1).astype(np.float32),
            (r.standard_normal(c) * 0.1).astype(np.float32),
            (r.uniform(0.5, 1.5, c)).astype(np.float32),
        ]
        return self.op("BatchNormalization", [x, *(self.const(s, "bn") for s in stats)], epsilon=1e-3)

    def model(self, inputs: list[tuple[str, list[int]]], outputs: list[tuple[str, list[int]]], opset: int = 17) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "test",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, s) for o, s in outputs],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def nchw_cnn() -> onnx.ModelProto:
    """Conv+BN+Relu, padded MaxPool, depthwise Conv+ReLU6, grouped Conv, residual Add+Relu, GAP, Flatten, Gemm."""
    b = Builder(1)
    x = "x"
    y = b.op("Conv", [x, b.weight(8, 3, 3, 3), b.weight(8)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = b.op("Relu", [b.bn(y, 8)])
    y = b.op("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    d = b.op("Conv", [y, b.weight(8, 1, 3, 3), b.weight(8)], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8)
    d = b.op("Clip", [d, b.const(np.float32(0.0), "lo"), b.const(np.float32(6.0), "hi")])
    g = b.op("Conv", [d, b.weight(8, 4, 1, 1)], kernel_shape=[1, 1], group=2)
    s = b.op("Relu", [b.op("Add", [g, y])])
    p = b.op("GlobalAveragePool", [s])
    f = b.op("Flatten", [p])
    out = b.op("Gemm", [f, b.weight(5, 8), b.weight(5)], transB=1)
    return b.model([(x, [1, 3, 12, 12])], [(out, [1, 5])])


def nchw_flatten_head() -> onnx.ModelProto:
    """Conv+Relu, AveragePool, then Flatten of a whole feature map into MatMul + Add (the classic CNN head)."""
    b = Builder(2)
    y = b.op("Relu", [b.op("Conv", ["x", b.weight(4, 2, 3, 3)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])])
    y = b.op("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])
    f = b.op("Flatten", [y])
    m = b.op("MatMul", [f, b.weight(4 * 3 * 3, 6)])
    out = b.op("Add", [m, b.weight(6)])
    return b.model([("x", [1, 2, 6, 6])], [(out, [1, 6])])
