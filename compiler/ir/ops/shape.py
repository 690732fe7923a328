"""Shape and layout ops (ONNX semantics): reshapes, transposes, broadcasts, shape queries, generators.

Constant inputs that fix the output shape (Reshape's shape, Squeeze/Unsqueeze
axes, Expand's shape, Tile's repeats, ConstantOfShape's shape, Range's
bounds) become attributes at import, stored resolved (no 0/-1 placeholders,
no negative axes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import EvalContext, OpDef, attrs_from_dict, broadcast_shapes, const_of, need, norm_axis, register
from tinyc.ir.ops._base import moved_quant, present
from tinyc.ir.types import TensorType

Ints = tuple[int, ...]


def const_ints(v: Value | None, op: str, what: str) -> Ints:
    """A constant integer input (shape, axes, pads) as a tuple of Python ints."""
    arr = np.asarray(const_of(v, op, what))
    need(arr.dtype.kind in "iu", op, f"input {what!r} must be integer, got {arr.dtype}")
    return tuple(int(i) for i in arr.reshape(-1))


def axes_arg(op: str, onnx_attrs: dict[str, Any], inputs: list[Value | None], index: int, opset: int, since: int) -> Ints | None:
    """Axes given as an attribute before opset ``since`` and as input ``index`` from it on (None: not given)."""
    if opset < since:
        return None if onnx_attrs.get("axes") is None else tuple(int(a) for a in onnx_attrs["axes"])
    need("axes" not in onnx_attrs, op, f"'axes' is an input, not an attribute, since opset {since}")
    v = inputs[index] if index < len(inputs) else None
    return None if v is None else const_ints(v, op, "axes")


def norm_axes(op: str, axes: Sequence[int], rank: int) -> Ints:
    """Normalised, sorted, duplicate-free axes."""
    out = tuple(sorted(norm_axis(op, a, rank) for a in axes))
    need(len(set(out)) == len(out), op, f"repeated axes in {list(axes)}")
    return out


def reject_unknown(op: OpDef, onnx_attrs: dict[str, Any], allowed: Sequence[str]) -> None:
    extra = sorted(set(onnx_attrs) - set(allowed))
    if extra:
        raise UnsupportedOpError(f"{op.name}: attribute(s) {extra} are not supported", hint=f"{op.name} takes: {', '.join(allowed) or 'none'}")


def _x(op: OpDef, inputs: Sequence[Value | None]) -> Value:
    return present(inputs[:1], op.name)[0]


def resolve_reshape(op: str, in_shape: Ints, shape: Ints, allowzero: bool) -> Ints:
    """ONNX Reshape's target shape with 0 (copy, unless allowzero) and -1 (infer) resolved."""
    out = list(shape)
    for i, d in enumerate(out):
        if d == 0 and not allowzero:
            need(i < len(in_shape), op, f"0 at position {i} copies a dimension the rank-{len(in_shape)} input lacks")
            out[i] = in_shape[i]
    need(out.count(-1) <= 1, op, f"more than one -1 in shape {list(shape)}")
    need(all(d >= -1 for d in out), op, f"bad dimension in shape {list(shape)}")
    total = math.prod(in_shape)
    if -1 in out:
        rest = math.prod(d for d in out if d != -1)
        need(rest != 0 and total % rest == 0, op, f"cannot reshape {list(in_shape)} into {list(shape)}")
        out[out.index(-1)] = total // rest
    need(math.prod(out) == total, op, f"cannot reshape {list(in_shape)} ({total} elements) into {out}")
    return tuple(out)


@register
class Reshape(OpDef):
    """Same data, another shape; the target shape is an attribute (0 copies a dimension unless allowzero, -1 infers)."""

    onnx_op = "Reshape"
    category = "shape"
    input_names = ("data",)
    output_names = ("reshaped",)

    @dataclass(frozen=True)
    class Attrs:
        shape: Ints = ()
        allowzero: bool = False

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["allowzero"])
        x = _x(self, inputs)
        need(len(inputs) > 1, self.name, "needs a shape input")
        shape = resolve_reshape(self.name, x.type.shape, const_ints(inputs[1], self.name, "shape"), bool(onnx_attrs.get("allowzero", 0)))
        return self.Attrs(shape=shape, allowzero=0 in shape), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _x(self, inputs)
        shape = resolve_reshape(self.name, x.type.shape, attrs.shape, attrs.allowzero)
        return [TensorType(x.type.dtype, shape, moved_quant(x.type.quant))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [args[0].reshape(ctx.out_types[0].shape)]


@register
class Flatten(OpDef):
    """Reshape to 2-D: the dimensions before axis, times the ones from axis on."""

    onnx_op = "Flatten"
    category = "shape"
    input_names = ("input",)
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        axis: int = 1

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        attrs = attrs_from_dict(self, onnx_attrs)
        rank = _x(self, inputs).type.rank
        axis = attrs.axis + rank if attrs.axis < 0 else attrs.axis
        return self.Attrs(axis=axis), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _x(self, inputs)
        rank = x.type.rank
        axis = attrs.axis + rank if attrs.axis < 0 else attrs.axis
        need(0 <= axis <= rank, self.name, f"axis {attrs.axis} out of range for rank {rank}")
        shape = (math.prod(x.type.shape[:axis]), math.prod(x.type.shape[axis:]))
        return [TensorType(x.type.dtype, shape, moved_quant(x.type.quant))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [args[0].reshape(ctx.out_types[0].shape)]


@register
class Transpose(OpDef):
    """Permute the axes (perm; by default reversed)."""

    onnx_op = "Transpose"
    category = "shape"
    input_names = ("data",)
    output_names = ("transposed",)

    @dataclass(frozen=True)
    class Attrs:
        perm: Ints = ()

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        attrs = attrs_from_dict(self, onnx_attrs)
        rank = _x(self, inputs).type.rank
        perm = attrs.perm or tuple(reversed(range(rank)))
        return self.Attrs(perm=tuple(norm_axis(self.name, p, rank) for p in perm)), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _x(self, inputs)
        perm = attrs.perm or tuple(reversed(range(x.type.rank)))
        need(sorted(perm) == list(range(x.type.rank)), self.name, f"perm {list(perm)} is not a permutation of {x.type.rank} axes")
        shape = tuple(x.type.shape[p] for p in perm)
        return [TensorType(x.type.dtype, shape, moved_quant(x.type.quant, perm.index))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [np.transpose(args[0], attrs.perm or None)]


@register
class Squeeze(OpDef):
    """Drop size-1 axes (the listed ones; all of them when none are listed)."""

    onnx_op = "Squeeze"
    category = "shape"
    input_names = ("data",)
    output_names = ("squeezed",)

    @dataclass(frozen=True)
    class Attrs:
        axes: Ints = ()

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["axes"] if opset < 13 else [])
        x = _x(self, inputs)
        axes = axes_arg(self.name, onnx_attrs, inputs, 1, opset, 13)
        if axes is None:
            axes = tuple(i for i, d in enumerate(x.type.shape) if d == 1)
        return self.Attrs(axes=norm_axes(self.name, axes, x.type.rank)), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _x(self, inputs)
        axes = norm_axes(self.name, attrs.axes, x.type.rank)
        for a in axes:
            need(x.type.shape[a] == 1, self.name, f"axis {a} has size {x.type.shape[a]}, not 1")
        keep = [i for i in range(x.type.rank) if i not in axes]
        shape = tuple(x.type.shape[i] for i in keep)
        quant = moved_quant(x.type.quant, lambda a: keep.index(a) if a in keep else None)
        return [TensorType(x.type.dtype, shape, quant)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [args[0].reshape(ctx.out_types[0].shape)]


@register
class Unsqueeze(OpDef):
    """Insert size-1 axes at the listed positions of the output."""

    onnx_op = "Unsqueeze"
    category = "shape"
    input_names = ("data",)
    output_names = ("expanded",)

    @dataclass(frozen=True)
    class Attrs:
        axes: Ints = ()

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["axes"] if opset < 13 else [])
        x = _x(self, inputs)
        axes = axes_arg(self.name, onnx_attrs, inputs, 1, opset, 13)
        need(axes is not None and len(axes) > 0, self.name, "needs axes")
        assert axes is not None
        return self.Attrs(axes=norm_axes(self.name, axes, x.type.rank + len(axes))), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _x(self, inputs)
        out_rank = x.type.rank + len(attrs.axes)
        axes = norm_axes(self.name, attrs.axes, out_rank)
        rest = iter(x.type.shape)
        shape = tuple(1 if i in axes else next(rest) for i in range(out_rank))
        kept = [i for i in range(out_rank) if i not in axes]
        return [TensorType(x.type.dtype, shape, moved_quant(x.type.quant, lambda a: kept[a]))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [args[0].reshape(ctx.out_types[0].shape)]


@register
class Expand(OpDef):
    """Broadcast to a shape (the attribute holds the resolved output shape)."""

    onnx_op = "Expand"
    category = "shape"
    input_names = ("input",)
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        shape: Ints = ()

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, [])
        x = _x(self, inputs)
        need(len(inputs) > 1, self.name, "needs a shape input")
        shape = broadcast_shapes(self.name, x.type.shape, const_ints(inputs[1], self.name, "shape"))
        return self.Attrs(shape=shape), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _x(self, inputs)
        shape = broadcast_shapes(self.name, x.type.shape, attrs.shape)
        return [TensorType(x.type.dtype, shape, moved_quant(x.type.quant, lambda a: a + len(shape) - x.type.rank))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [np.broadcast_to(args[0], ctx.out_types[0].shape).copy()]


@register
class Tile(OpDef):
    """Repeat the input along each axis (repeats is an attribute)."""

    onnx_op = "Tile"
    category = "shape"
    input_names = ("input",)
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        repeats: Ints = ()

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, [])
        need(len(inputs) > 1, self.name, "needs a repeats input")
        return self.Attrs(repeats=const_ints(inputs[1], self.name, "repeats")), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _x(self, inputs)
        need(len(attrs.repeats) == x.type.rank, self.name, f"{len(attrs.repeats)} repeats for a rank-{x.type.rank} input")
        need(all(r >= 0 for r in attrs.repeats), self.name, f"negative repeats {list(attrs.repeats)}")
        shape = tuple(d * r for d, r in zip(x.type.shape, attrs.repeats, strict=True))
        return [TensorType(x.type.dtype, shape, moved_quant(x.type.quant))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [np.tile(args[0], attrs.repeats)]


@register
class Shape(OpDef):
    """The input's static shape (dimensions start..end) as int64; always folds to a constant at import."""

    onnx_op = "Shape"
    category = "shape"
    input_names = ("data",)
    output_names = ("shape",)

    @dataclass(frozen=True)
    class Attrs:
        start: int = 0
        end: int | None = None

    def _range(self, attrs: Any, rank: int) -> tuple[int, int]:
        def clamp(i: int) -> int:
            return min(max(i + rank if i < 0 else i, 0), rank)

        return clamp(attrs.start), rank if attrs.end is None else clamp(attrs.end)

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["start", "end"] if opset >= 15 else [])
        attrs = attrs_from_dict(self, onnx_attrs)
        start, end = self._range(attrs, _x(self, inputs).type.rank)
        return self.Attrs(start=start, end=end), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        start, end = self._range(attrs, _x(self, inputs).type.rank)
        return [TensorType(DType.I64, (max(end - start, 0),))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        # Only the static type matters, so this also runs when the data is not known (import-time folding).
        t = ctx.in_types[0]
        assert t is not None
        start, end = self._range(attrs, t.rank)
        return [np.asarray(t.shape[start:end], dtype=np.int64).reshape(-1)]


@register
class Size(OpDef):
    """The input's number of elements as an int64 scalar; always folds to a constant at import."""

    onnx_op = "Size"
    category = "shape"
    input_names = ("data",)
    output_names = ("size",)

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        _x(self, inputs)
        return [TensorType(DType.I64, ())]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        t = ctx.in_types[0]
        assert t is not None
        return [np.asarray(t.numel, dtype=np.int64)]


@register
class Range(OpDef):
    """start, start + delta, ... up to (excluding) limit; the three scalars are attributes, so it always folds."""

    onnx_op = "Range"
    category = "shape"
    input_names = ()
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        start: float = 0.0
        limit: float = 0.0
        delta: float = 1.0
        dtype: DType = DType.F32

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, [])
        need(len(inputs) == 3, self.name, "needs start, limit and delta inputs")
        vals = [np.asarray(const_of(v, self.name, w)).reshape(-1)[0] for v, w in zip(inputs, ("start", "limit", "delta"), strict=True)]
        dtype = inputs[0].type.dtype  # type: ignore[union-attr]
        need(dtype.is_float or dtype in (DType.I16, DType.I32, DType.I64), self.name, f"unsupported type {dtype.short}")
        return self.Attrs(start=float(vals[0]), limit=float(vals[1]), delta=float(vals[2]), dtype=dtype), []

    def _count(self, attrs: Any) -> int:
        need(attrs.delta != 0, self.name, "delta is 0")
        return max(math.ceil((attrs.limit - attrs.start) / attrs.delta), 0)

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        return [TensorType(attrs.dtype, (self._count(attrs),))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        dt = attrs.dtype.numpy
        start, delta = np.asarray(attrs.start).astype(dt), np.asarray(attrs.delta).astype(dt)
        return [(start + np.arange(self._count(attrs)).astype(dt) * delta).astype(dt)]


@register
class ConstantOfShape(OpDef):
    """A tensor of the given shape filled with one value; shape and value are attributes, so it always folds."""

    onnx_op = "ConstantOfShape"
    category = "shape"
    input_names = ()
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        shape: Ints = ()
        value: float = 0.0
        dtype: DType = DType.F32

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["value"])
        need(len(inputs) == 1, self.name, "needs a shape input")
        shape = const_ints(inputs[0], self.name, "input")
        value, dtype = 0.0, DType.F32
        if "value" in onnx_attrs:
            arr = np.asarray(onnx_attrs["value"])
            need(arr.size == 1, self.name, "value must hold one element")
            try:
                dtype = DType.from_numpy(arr.dtype)
            except ValueError:
                raise UnsupportedOpError(f"{self.name}: value type {arr.dtype} is not supported") from None
            value = float(arr.reshape(-1)[0])
        return self.Attrs(shape=shape, value=value, dtype=dtype), []

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        need(all(d >= 0 for d in attrs.shape), self.name, f"negative dimension in {list(attrs.shape)}")
        return [TensorType(attrs.dtype, attrs.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        return [np.full(attrs.shape, attrs.value, dtype=attrs.dtype.numpy)]
