"""Per-op micro-models: small float graphs, quantized by tinyc, one per quantized op (and geometry).

Each builder returns a float graph of kernel-level / ONNX-level IR ops with
random weights; ``quantized`` runs tinyc's quantizer on it with fixed random
calibration samples and integer I/O, giving the int8 graph that the four
computations of the agreement tests run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyc.api import Model
from tinyc.ir.core import Graph, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import OPS
from tinyc.ir.types import TensorType
from tinyc.quant.api import quantize_model
from tinyc.quant.quantizer import QuantOptions


class Float:
    """Builds a float graph with seeded random weights."""

    def __init__(self, name: str, seed: int = 0) -> None:
        self.g = Graph(name)
        self.rng = np.random.default_rng(seed)

    def input(self, name: str, shape: tuple[int, ...]) -> Value:
        return self.g.add_input(name, TensorType(DType.F32, shape))

    def const(self, name: str, shape: tuple[int, ...], scale: float = 0.3) -> Value:
        return self.g.add_const(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, op: str, inputs: list[Value | None], **attrs: Any) -> Value:
        o = OPS[op]
        return self.g.add_node(o, inputs, o.Attrs(**attrs), name=op.lower()).output

    def done(self, *outs: Value) -> Graph:
        self.g.outputs = list(outs)
        return self.g


def _conv(name: str, shape: tuple[int, ...], cout: int, k: tuple[int, int], **attrs: Any) -> Graph:
    f = Float(name)
    x = f.input("x", shape)
    w = f.const("w", (cout, k[0], k[1], shape[3]))
    b = f.const("b", (cout,), 0.1)
    return f.done(f.op("Conv2D", [x, w, b], **attrs))


def _dw(name: str, shape: tuple[int, ...], mult: int, k: tuple[int, int], **attrs: Any) -> Graph:
    f = Float(name)
    x = f.input("x", shape)
    w = f.const("w", (1, k[0], k[1], shape[3] * mult))
    b = f.const("b", (shape[3] * mult,), 0.1)
    return f.done(f.op("DepthwiseConv2D", [x, w, b], depth_multiplier=mult, **attrs))


def _fc(name: str, shape: tuple[int, ...], cout: int, **attrs: Any) -> Graph:
    f = Float(name)
    x = f.input("x", shape)
    w = f.const("w", (cout, shape[-1]))
    b = f.const("b", (cout,), 0.1)
    return f.done(f.op("FullyConnected", [x, w, b], **attrs))


def _unary(name: str, op: str, in_shape: tuple[int, ...] = (1, 4, 4, 3), **attrs: Any) -> Graph:
    f = Float(name)
    return f.done(f.op(op, [f.input("x", in_shape)], **attrs))


def _binary(name: str, op: str, shape_b: tuple[int, ...] = (1, 4, 4, 3), **attrs: Any) -> Graph:
    f = Float(name)
    a, b = f.input("a", (1, 4, 4, 3)), f.input("b", shape_b)
    return f.done(f.op(op, [a, b], **attrs))


def _pool(name: str, op: str, **attrs: Any) -> Graph:
    return _unary(name, op, (1, 7, 7, 4), **attrs)


def _concat() -> Graph:
    f = Float("concat")
    a, b = f.input("a", (1, 3, 3, 2)), f.input("b", (1, 3, 3, 4))
    b2 = f.op("Relu", [b])  # a different range, so the inputs are requantized into the output's parameters
    return f.done(f.op("Concat", [a, b2], axis=3))


def _mean() -> Graph:
    return _unary("mean", "ReduceMean", (1, 5, 6, 4), axes=(1, 2), keepdims=True)


def _chain() -> Graph:
    """A little CNN: conv -> depthwise -> pool -> reshape -> FC -> softmax (the KWS pattern in miniature)."""
    f = Float("chain", seed=3)
    x = f.input("x", (1, 10, 8, 1))
    y = f.op("Conv2D", [x, f.const("w1", (6, 3, 3, 1)), f.const("b1", (6,), 0.1)], strides=(2, 2), pads=(1, 1, 1, 1), act_min=0.0)
    y = f.op("DepthwiseConv2D", [y, f.const("w2", (1, 3, 3, 6)), f.const("b2", (6,), 0.1)], pads=(1, 1, 1, 1), act_min=0.0, act_max=6.0)
    y = f.op("AvgPool2D", [y], kernel=(5, 4), strides=(5, 4))
    y = f.op("Reshape", [y], shape=(1, 6))
    y = f.op("FullyConnected", [y, f.const("w3", (5, 6)), f.const("b3", (5,), 0.1)])
    return f.done(f.op("Softmax", [y], axis=1))


# name -> float graph builder
MICRO: dict[str, Callable[[], Graph]] = {
    "conv_same_stride2_relu": lambda: _conv("conv_same_stride2_relu", (1, 9, 9, 3), 4, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1), act_min=0.0),
    "conv_valid_dilated_relu6": lambda: _conv("conv_valid_dilated_relu6", (1, 9, 8, 2), 5, (3, 2), dilations=(2, 2), act_min=0.0, act_max=6.0),
    "conv_odd_pads": lambda: _conv("conv_odd_pads", (1, 6, 6, 3), 4, (3, 3), pads=(2, 0, 1, 1)),
    "conv_1x1": lambda: _conv("conv_1x1", (1, 5, 5, 8), 6, (1, 1)),
    "depthwise_mult2": lambda: _dw("depthwise_mult2", (1, 6, 6, 3), 2, (3, 3), pads=(1, 1, 1, 1)),
    "depthwise_stride2_relu": lambda: _dw("depthwise_stride2_relu", (1, 8, 8, 4), 1, (3, 3), strides=(2, 2), pads=(0, 0, 1, 1), act_min=0.0),
    "fc_relu": lambda: _fc("fc_relu", (1, 20), 7, act_min=0.0),
    "fc_rank3": lambda: _fc("fc_rank3", (1, 3, 10), 4),
    "maxpool_same": lambda: _pool("maxpool_same", "MaxPool2D", kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),
    "avgpool_valid_relu": lambda: _pool("avgpool_valid_relu", "AvgPool2D", kernel=(2, 2), strides=(2, 2), act_min=0.0),
    "avgpool_same": lambda: _pool("avgpool_same", "AvgPool2D", kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1)),
    "add_relu": lambda: _binary("add_relu", "AddAct", act_min=0.0),
    "add_broadcast": lambda: _binary("add_broadcast", "Add", (1, 1, 1, 3)),
    "mul": lambda: _binary("mul", "MulAct"),
    "relu": lambda: _unary("relu", "Relu"),
    "relu6": lambda: _unary("relu6", "Clip", min=0.0, max=6.0),
    "clip_custom": lambda: _unary("clip_custom", "Clip", min=-0.5, max=1.5),
    "sigmoid": lambda: _unary("sigmoid", "Sigmoid"),
    "tanh": lambda: _unary("tanh", "Tanh"),
    "hardswish": lambda: _unary("hardswish", "HardSwish"),
    "softmax": lambda: _unary("softmax", "Softmax", (1, 10), axis=1),
    "mean": _mean,
    "concat": _concat,
    "reshape": lambda: _unary("reshape", "Reshape", (1, 4, 4, 3), shape=(1, 48)),
    "transpose": lambda: _unary("transpose", "Transpose", (1, 4, 5, 3), perm=(0, 3, 1, 2)),
    "pad": lambda: _unary("pad", "Pad", (1, 4, 4, 3), pads=(0, 1, 2, 0, 0, 2, 1, 0)),
    "slice": lambda: _unary("slice", "Slice", (1, 6, 5, 4), starts=(1, 0, 1), ends=(6, 4, 4), axes=(1, 2, 3), steps=(2, 1, 1)),
    "chain": _chain,
}


def calibration(graph: Graph, n: int = 16, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    def rows(shape: tuple[int, ...]) -> tuple[int, ...]:
        return (n, *shape[1:]) if shape and shape[0] == 1 else (n, *shape)

    return {v.name: (rng.standard_normal(rows(v.type.shape)) * 2.0).astype(np.float32) for v in graph.inputs}


def quantized(name: str) -> Graph:
    """The micro-model ``name`` quantized by tinyc to int8 with int8 inputs and outputs."""
    g = MICRO[name]()
    qm, _ = quantize_model(Model(g, f"{name}.onnx", name), calibration(g), options=QuantOptions(int_io=True))
    return qm.graph
