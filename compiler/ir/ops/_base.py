"""Shared shapes of op definitions: element-wise unary, binary and variadic ops, and helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import EvalContext, OpDef, broadcast_shapes, need
from tinyc.ir.types import QuantParams, TensorType


def reject_quantized(op: str, ctx: EvalContext) -> None:
    """Raise UnsupportedOpError when an input is a quantized integer tensor.

    Integer (quantized) semantics of arithmetic ops come later in each op's
    definition; until then the reference interpreter refuses rather than
    computing on raw integers as if they were real values.
    """
    for i, t in enumerate(ctx.in_types):
        if t is not None and t.quant is not None and t.dtype.is_int:
            raise UnsupportedOpError(
                f"{op}: quantized {t.dtype.short} input {i} is not supported by the reference interpreter yet",
                where=f"node {ctx.node_name!r}" if ctx.node_name else None,
                hint="run the float graph, or dequantize before this op",
            )


def has_quantized_input(ctx: EvalContext) -> bool:
    """Whether any input is a quantized integer tensor, so the op's integer semantics apply."""
    return any(t is not None and t.quant is not None and t.dtype.is_int for t in ctx.in_types)


def present(inputs: Sequence[Value | None], op: str) -> list[Value]:
    """All inputs, which must all be present."""
    need(all(v is not None for v in inputs), op, "an input is missing")
    return [v for v in inputs if v is not None]


def moved_quant(q: QuantParams | None, axis_map: Callable[[int], int | None] | None = None) -> QuantParams | None:
    """Quantization of a data-movement op's output: per-tensor carries over unchanged.

    Per-axis parameters follow ``axis_map(old_axis) -> new_axis`` when given
    and the axis survives; otherwise the output's quantization is left open
    (None) for the quantizer to decide.
    """
    if q is None or q.axis is None:
        return q
    if axis_map is None:
        return None
    new_axis = axis_map(q.axis)
    return None if new_axis is None else QuantParams(q.scale, q.zero_point, new_axis)


class UnaryOp(OpDef):
    """An element-wise op of one input; output type = input type (unless overridden)."""

    input_names = ("X",)
    category = "elementwise"
    fn: ClassVar[Callable[..., np.ndarray]]
    # Ops defined on real numbers only compute in float32 at least (float16 in, float16 out).
    float_only: ClassVar[bool] = False
    # A float-only op that also has integer (quantized) semantics (``evaluate_quantized``).
    quantized_ok: ClassVar[bool] = False

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = inputs[0]
        need(x is not None, self.name, "missing input")
        assert x is not None
        if self.float_only:
            quantized = self.quantized_ok and x.type.quant is not None and x.type.dtype.is_int
            need(x.type.dtype.is_float or quantized, self.name, f"needs a float input, got {x.type.dtype.short}")
        return [TensorType(x.type.dtype, x.type.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        if has_quantized_input(ctx):
            return self.evaluate_quantized(attrs, args, ctx)
        x = args[0]
        assert x is not None
        xin = x.astype(np.float32) if x.dtype == np.float16 else x
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = np.asarray(self.compute(attrs, xin))
        return [out.astype(x.dtype, copy=False)]

    def compute(self, attrs: Any, x: np.ndarray) -> np.ndarray:
        """The element-wise function; the default applies the class's ``fn``."""
        return type(self).fn(x)

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        """Integer semantics (TFLite arithmetic); ops that have them override this."""
        reject_quantized(self.name, ctx)
        raise AssertionError("unreachable")


class BinaryOp(OpDef):
    """An element-wise op of two inputs of one dtype with NumPy (multidirectional) broadcasting."""

    input_names = ("A", "B")
    category = "elementwise"
    fn: ClassVar[Callable[..., np.ndarray]]
    bool_result: ClassVar[bool] = False

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        a, b = inputs[0], inputs[1]
        need(a is not None and b is not None, self.name, "needs two inputs")
        assert a is not None and b is not None
        need(a.type.dtype == b.type.dtype, self.name, f"input types differ: {a.type.dtype.short} vs {b.type.dtype.short}")
        shape = broadcast_shapes(self.name, a.type.shape, b.type.shape)
        return [TensorType(DType.BOOL if self.bool_result else a.type.dtype, shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        if has_quantized_input(ctx):
            return self.evaluate_quantized(attrs, args, ctx)
        a, b = args[0], args[1]
        assert a is not None and b is not None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = np.asarray(self.compute(attrs, a, b))
        return [out.astype(ctx.out_types[0].dtype.numpy, copy=False)]

    def compute(self, attrs: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The element-wise function; the default applies the class's ``fn``."""
        return type(self).fn(a, b)

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        """Integer semantics (TFLite arithmetic); ops that have them override this."""
        reject_quantized(self.name, ctx)
        raise AssertionError("unreachable")

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        return 0


class VariadicOp(OpDef):
    """An element-wise op of one or more inputs of one dtype, broadcast together (Max, Min, Sum, Mean)."""

    input_names = ("data_0*",)
    category = "elementwise"
    fn: ClassVar[Callable[..., np.ndarray]]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        vals = present(inputs, self.name)
        need(len(vals) >= 1, self.name, "needs at least one input")
        dt = vals[0].type.dtype
        for v in vals[1:]:
            need(v.type.dtype == dt, self.name, f"input types differ: {dt.short} vs {v.type.dtype.short}")
        return [TensorType(dt, broadcast_shapes(self.name, *(v.type.shape for v in vals)))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        reject_quantized(self.name, ctx)
        arrays = [a for a in args if a is not None]
        out = np.asarray(self.compute(attrs, arrays))
        return [np.broadcast_to(out, ctx.out_types[0].shape).astype(ctx.out_types[0].dtype.numpy)]

    def compute(self, attrs: Any, arrays: list[np.ndarray]) -> np.ndarray:
        out = arrays[0]
        for a in arrays[1:]:
            out = type(self).fn(out, a)
        return out


# ONNX TensorProto element-type codes of the dtypes tinyc knows (Cast's ``to``, QuantizeLinear's ``output_dtype``).
ONNX_DTYPE_CODES: dict[int, DType] = {
    1: DType.F32,
    2: DType.U8,
    3: DType.I8,
    5: DType.I16,
    6: DType.I32,
    7: DType.I64,
    9: DType.BOOL,
    10: DType.F16,
    11: DType.F64,
}


def dtype_of_onnx_code(code: int, op: str) -> DType:
    """The DType of an ONNX element-type code, or UnsupportedOpError."""
    try:
        return ONNX_DTYPE_CODES[int(code)]
    except KeyError:
        raise UnsupportedOpError(
            f"{op}: element type code {code} is not supported",
            hint="tinyc handles float32/16/64, int8/16/32/64, uint8 and bool tensors",
        ) from None
