"""Reductions over axes and arg-max/min (ONNX semantics).

The reduced axes (an attribute in older opsets, an input later: opset 13
for ReduceSum, 18 for the others) are stored resolved: an explicit sorted
tuple of non-negative axes, empty for the no-op that ``noop_with_empty_axes``
asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tinyc.ir.core import Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import EvalContext, OpDef, attrs_from_dict, need, norm_axis, register
from tinyc.ir.ops._base import present, reject_quantized
from tinyc.ir.ops.quantized import any_quantized, eval_mean
from tinyc.ir.ops.shape import Ints, axes_arg, const_ints, norm_axes, reject_unknown
from tinyc.ir.types import TensorType


class ReduceOp(OpDef):
    """Shared definition of the Reduce* family."""

    input_names = ("data",)
    output_names = ("reduced",)
    category = "reduce"
    # Opset from which axes is an input (and noop_with_empty_axes exists).
    axes_input_since: ClassVar[int] = 18
    # Reduction over a float64 (or integer) array along a tuple of axes, keepdims=True.
    fn: ClassVar[Callable[..., Any]]

    @dataclass(frozen=True)
    class Attrs:
        # None reduces every axis; () reduces none (noop_with_empty_axes).
        axes: Ints | None = None
        keepdims: bool = True

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        since = self.axes_input_since
        reject_unknown(self, onnx_attrs, ["keepdims", "axes"] if opset < since else ["keepdims", "noop_with_empty_axes"])
        x = present(inputs[:1], self.name)[0]
        axes = axes_arg(self.name, onnx_attrs, inputs, 1, opset, since)
        noop = bool(onnx_attrs.get("noop_with_empty_axes", 0))
        if not axes:
            axes = () if noop else tuple(range(x.type.rank))
        attrs = self.Attrs(axes=norm_axes(self.name, axes, x.type.rank), keepdims=bool(onnx_attrs.get("keepdims", 1)))
        return attrs, inputs[:1]

    def _axes(self, attrs: Any, rank: int) -> Ints:
        return tuple(range(rank)) if attrs.axes is None else norm_axes(self.name, attrs.axes, rank)

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        axes = self._axes(attrs, x.type.rank)
        if attrs.keepdims:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.type.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.type.shape) if i not in axes)
        return [TensorType(x.type.dtype, shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        if any_quantized(ctx):
            return self.evaluate_quantized(attrs, args, ctx)
        x = args[0]
        assert x is not None
        axes = self._axes(attrs, x.ndim)
        if not axes:
            return [x.copy()]
        wide = x.astype(np.float64) if x.dtype.kind == "f" else x
        out = np.asarray(type(self).fn(wide, axes))
        return [out.reshape(ctx.out_types[0].shape).astype(x.dtype)]

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        """Integer semantics (TFLite arithmetic); reductions that have them override this."""
        reject_quantized(self.name, ctx)
        raise AssertionError("unreachable")

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        t = in_types[0]
        return 0 if t is None else t.numel


def _fn(f: Callable[..., np.ndarray]) -> Callable[[np.ndarray, Ints], np.ndarray]:
    return staticmethod(lambda x, axes: f(x, axis=axes, keepdims=True))  # type: ignore[return-value]


@register
class ReduceSum(ReduceOp):
    """Sum over axes."""

    onnx_op = "ReduceSum"
    axes_input_since = 13
    fn = _fn(np.sum)


@register
class ReduceMean(ReduceOp):
    """Mean over axes."""

    onnx_op = "ReduceMean"
    fn = _fn(np.mean)

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        return [eval_mean(x, ctx, self.name, self._axes(attrs, x.ndim), attrs.keepdims)]


@register
class ReduceMax(ReduceOp):
    """Maximum over axes."""

    onnx_op = "ReduceMax"
    fn = _fn(np.max)


@register
class ReduceMin(ReduceOp):
    """Minimum over axes."""

    onnx_op = "ReduceMin"
    fn = _fn(np.min)


@register
class ReduceProd(ReduceOp):
    """Product over axes."""

    onnx_op = "ReduceProd"
    fn = _fn(np.prod)


@register
class ReduceSumSquare(ReduceOp):
    """Sum of squares over axes."""

    onnx_op = "ReduceSumSquare"
    fn = staticmethod(lambda x, axes: np.sum(x * x, axis=axes, keepdims=True))


@register
class ReduceL1(ReduceOp):
    """Sum of absolute values over axes."""

    onnx_op = "ReduceL1"
    fn = staticmethod(lambda x, axes: np.sum(np.abs(x), axis=axes, keepdims=True))


@register
class ReduceL2(ReduceOp):
    """Euclidean norm over axes."""

    onnx_op = "ReduceL2"
    fn = staticmethod(lambda x, axes: np.sqrt(np.sum(x * x, axis=axes, keepdims=True)))


@register
class ReduceLogSumExp(ReduceOp):
    """log(sum(exp(x))) over axes, computed stably."""

    onnx_op = "ReduceLogSumExp"

    @staticmethod
    def fn(x: np.ndarray, axes: Ints) -> np.ndarray:
        m = np.max(x, axis=axes, keepdims=True)
        return m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))


class ArgOp(OpDef):
    """Shared definition of ArgMax and ArgMin."""

    input_names = ("data",)
    output_names = ("reduced",)
    category = "reduce"
    pick: ClassVar[Callable[..., Any]]

    @dataclass(frozen=True)
    class Attrs:
        axis: int = 0
        keepdims: bool = True
        select_last_index: bool = False

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        attrs = attrs_from_dict(self, onnx_attrs)
        rank = present(inputs[:1], self.name)[0].type.rank
        return self.Attrs(norm_axis(self.name, attrs.axis, rank), attrs.keepdims, attrs.select_last_index), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        axis = norm_axis(self.name, attrs.axis, x.type.rank)
        need(x.type.shape[axis] > 0, self.name, f"axis {axis} is empty")
        shape = x.type.shape[:axis] + ((1,) if attrs.keepdims else ()) + x.type.shape[axis + 1 :]
        return [TensorType(DType.I64, shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        axis = norm_axis(self.name, attrs.axis, x.ndim)
        if attrs.select_last_index:
            idx = x.shape[axis] - 1 - type(self).pick(np.flip(x, axis=axis), axis=axis)
        else:
            idx = type(self).pick(x, axis=axis)
        return [np.asarray(idx, dtype=np.int64).reshape(ctx.out_types[0].shape)]


@register
class ArgMax(ArgOp):
    """Index of the largest element along an axis (the first one, or the last with select_last_index)."""

    onnx_op = "ArgMax"
    pick = staticmethod(np.argmax)


@register
class ArgMin(ArgOp):
    """Index of the smallest element along an axis (the first one, or the last with select_last_index)."""

    onnx_op = "ArgMin"
    pick = staticmethod(np.argmin)


@register
class CumSum(OpDef):
    """Running sum along an axis (optionally exclusive and/or from the end); the axis is an attribute."""

    onnx_op = "CumSum"
    category = "reduce"
    input_names = ("x",)
    output_names = ("y",)

    @dataclass(frozen=True)
    class Attrs:
        axis: int = 0
        exclusive: bool = False
        reverse: bool = False

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["exclusive", "reverse"])
        x = present(inputs[:1], self.name)[0]
        need(len(inputs) > 1, self.name, "needs an axis input")
        axis = norm_axis(self.name, const_ints(inputs[1], self.name, "axis")[0], x.type.rank)
        return self.Attrs(axis, bool(onnx_attrs.get("exclusive", 0)), bool(onnx_attrs.get("reverse", 0))), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        norm_axis(self.name, attrs.axis, x.type.rank)
        return [TensorType(x.type.dtype, x.type.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        reject_quantized(self.name, ctx)
        x = args[0]
        assert x is not None
        axis = norm_axis(self.name, attrs.axis, x.ndim)
        wide = x.astype(np.float64) if x.dtype.kind == "f" else x
        if attrs.reverse:
            wide = np.flip(wide, axis)
        out = np.cumsum(wide, axis=axis)
        if attrs.exclusive:
            out = out - wide
        if attrs.reverse:
            out = np.flip(out, axis)
        return [out.astype(x.dtype)]


@register
class TopK(OpDef):
    """The k largest (or smallest) entries along an axis and their indices, sorted; ties keep the lower index first."""

    onnx_op = "TopK"
    category = "reduce"
    input_names = ("X",)
    output_names = ("Values", "Indices")

    @dataclass(frozen=True)
    class Attrs:
        k: int = 1
        axis: int = -1
        largest: bool = True
        sorted: bool = True

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["axis", "largest", "sorted"])
        x = present(inputs[:1], self.name)[0]
        need(len(inputs) > 1, self.name, "needs a K input")
        k = const_ints(inputs[1], self.name, "K")[0]
        axis = norm_axis(self.name, int(onnx_attrs.get("axis", -1)), x.type.rank)
        # Unsorted results come out sorted: ONNX leaves their order free.
        return self.Attrs(k, axis, bool(onnx_attrs.get("largest", 1)), True), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        axis = norm_axis(self.name, attrs.axis, x.type.rank)
        need(0 <= attrs.k <= x.type.shape[axis], self.name, f"k={attrs.k} for axis {axis} of size {x.type.shape[axis]}")
        shape = x.type.shape[:axis] + (attrs.k,) + x.type.shape[axis + 1 :]
        return [TensorType(x.type.dtype, shape, x.type.quant), TensorType(DType.I64, shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        axis = norm_axis(self.name, attrs.axis, x.ndim)
        key = -x.astype(np.float64) if attrs.largest else x.astype(np.float64)
        order = np.argsort(key, axis=axis, kind="stable")
        idx = np.take(order, np.arange(attrs.k), axis=axis)
        return [np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)]
