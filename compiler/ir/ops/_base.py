"""Shared shapes of op definitions: element-wise unary and binary ops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from tinyc.ir.core import Value
from tinyc.ir.opdef import EvalContext, OpDef, broadcast_shapes, need
from tinyc.ir.types import TensorType


class UnaryOp(OpDef):
    """An element-wise op of one input; output type = input type (unless overridden)."""

    input_names = ("X",)
    category = "elementwise"
    fn: ClassVar[Callable[..., np.ndarray]]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = inputs[0]
        need(x is not None, self.name, "missing input")
        assert x is not None
        return [TensorType(x.type.dtype, x.type.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        return [np.asarray(type(self).fn(x)).astype(x.dtype, copy=False)]


class BinaryOp(OpDef):
    """An element-wise op of two inputs with NumPy (multidirectional) broadcasting."""

    input_names = ("A", "B")
    category = "elementwise"
    fn: ClassVar[Callable[..., np.ndarray]]
    bool_result: ClassVar[bool] = False

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        a, b = inputs[0], inputs[1]
        need(a is not None and b is not None, self.name, "needs two inputs")
        assert a is not None and b is not None
        if not self.bool_result:
            need(a.type.dtype == b.type.dtype, self.name, f"input types differ: {a.type.dtype.short} vs {b.type.dtype.short}")
        shape = broadcast_shapes(self.name, a.type.shape, b.type.shape)
        from tinyc.ir.dtypes import DType

        return [TensorType(DType.BOOL if self.bool_result else a.type.dtype, shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        a, b = args[0], args[1]
        assert a is not None and b is not None
        out = np.asarray(type(self).fn(a, b))
        return [out.astype(ctx.out_types[0].dtype.numpy, copy=False)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        return 0
