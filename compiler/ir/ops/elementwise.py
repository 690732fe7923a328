"""Element-wise arithmetic and activations (ONNX semantics)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyc.ir.ops._base import BinaryOp, UnaryOp
from tinyc.ir.opdef import register


@register
class Add(BinaryOp):
    """Element-wise sum with broadcasting."""

    onnx_op = "Add"
    fn = staticmethod(np.add)


@register
class Sub(BinaryOp):
    """Element-wise difference with broadcasting."""

    onnx_op = "Sub"
    fn = staticmethod(np.subtract)


@register
class Mul(BinaryOp):
    """Element-wise product with broadcasting."""

    onnx_op = "Mul"
    fn = staticmethod(np.multiply)


@register
class Relu(UnaryOp):
    """max(x, 0)."""

    onnx_op = "Relu"
    category = "activation"
    fn = staticmethod(lambda x: np.maximum(x, 0))


@register
class LeakyRelu(UnaryOp):
    """x if x >= 0 else alpha * x."""

    onnx_op = "LeakyRelu"
    category = "activation"

    @dataclass(frozen=True)
    class Attrs:
        alpha: float = 0.01

    def evaluate(self, attrs, args, ctx):  # type: ignore[no-untyped-def]
        x = args[0]
        return [np.where(x >= 0, x, x * np.float32(attrs.alpha)).astype(x.dtype)]
