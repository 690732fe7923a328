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


def _conv_out(n: int, k: int, s: int, pb: int, pe: int) -> int:
    return (n + pb + pe - k) // s + 1


def random_cnn(seed: int) -> onnx.ModelProto:
    """A random NCHW network of convs (plain, depthwise, grouped), BN, clamps, pools, pads, residual Adds and a head."""
    b = Builder(seed)
    r = b.rng
    c, h, w = int(r.integers(1, 4)), int(r.integers(6, 11)), int(r.integers(6, 11))
    in_shape = [1, c, h, w]
    cur = "x"
    same_shape: dict[tuple[int, int, int], list[str]] = {(c, h, w): [cur]}
    for _ in range(int(r.integers(3, 8))):
        kind = r.choice(["conv", "conv", "bn", "act", "pool", "pad_conv", "add", "mul", "concat", "softmax"])
        if kind in ("conv", "pad_conv"):
            k = int(r.choice([1, 3])) if min(h, w) >= 3 else 1
            s = int(r.choice([1, 2])) if min(h, w) >= 4 else 1
            p = int(r.integers(0, 2)) if k == 3 else 0
            if kind == "pad_conv":
                cur = b.op("Pad", [cur, b.const(np.array([0, 0, 1, 0, 0, 0, 0, 1], dtype=np.int64), "pads")])
                h, w = h + 1, w + 1
            group = int(r.choice([1, 1, c] + ([2] if c % 2 == 0 else [])))
            out = c * int(r.integers(1, 3)) if group == c else int(r.integers(1, 3)) * group
            ins = [cur, b.weight(out, c // group, k, k)] + ([b.weight(out)] if r.random() < 0.5 else [])
            cur = b.op("Conv", ins, kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p], group=group)
            c, h, w = out, _conv_out(h, k, s, p, p), _conv_out(w, k, s, p, p)
        elif kind == "bn":
            cur = b.bn(cur, c)
        elif kind == "act":
            which = r.choice(["Relu", "relu6", "clip"])
            if which == "Relu":
                cur = b.op("Relu", [cur])
            else:
                lo, hi = (0.0, 6.0) if which == "relu6" else (-0.5, 0.5)
                cur = b.op("Clip", [cur, b.const(np.float32(lo), "lo"), b.const(np.float32(hi), "hi")])
        elif kind == "pool" and min(h, w) >= 3:
            if r.random() < 0.5:
                ceil = int(r.integers(0, 2))
                cur = b.op("MaxPool", [cur], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=ceil)
                h, w = (-(-(h - 2) // 2) + 1, -(-(w - 2) // 2) + 1) if ceil else ((h - 2) // 2 + 1, (w - 2) // 2 + 1)
            else:
                cur = b.op("AveragePool", [cur], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=int(r.integers(0, 2)))
        elif kind == "add" and same_shape.get((c, h, w)):
            other = same_shape[(c, h, w)][int(r.integers(0, len(same_shape[(c, h, w)])))]
            cur = b.op("Add", [cur, other])
        elif kind == "concat":
            others = [(k, v) for k, vs in same_shape.items() for v in vs if k[1:] == (h, w)]
            (oc, _, _), other = others[int(r.integers(0, len(others)))]
            cur = b.op("Concat", [cur, other], axis=1)
            c += oc
        elif kind == "softmax":
            cur = b.op("Softmax", [cur], axis=1)
        elif kind == "mul":
            cur = b.op("Mul", [cur, b.const((r.standard_normal((c, 1, 1)) + 1).astype(np.float32), "k")])
        same_shape.setdefault((c, h, w), []).append(cur)
    head = r.choice(["map", "gap_gemm", "flatten_matmul"])
    if head == "map":
        return b.model([("x", in_shape)], [(cur, [1, c, h, w])])
    if head == "gap_gemm":
        f = b.op("Flatten", [b.op("GlobalAveragePool", [cur])])
        out = b.op("Gemm", [f, b.weight(4, c), b.weight(4)], transB=1)
    else:
        f = b.op("Flatten", [cur])
        out = b.op("Add", [b.op("MatMul", [f, b.weight(c * h * w, 4)]), b.weight(4)])
    return b.model([("x", in_shape)], [(out, [1, 4])])
