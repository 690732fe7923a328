"""Joining, splitting, slicing, padding and gathering ops (ONNX semantics).

Split sizes, Slice bounds and Pad amounts are constant inputs in recent
opsets; they become attributes at import, stored resolved (explicit sizes,
non-negative axes, ONNX-clamped slice bounds, one pad per axis edge).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.ir.core import Value
from tinyc.ir.opdef import EvalContext, OpDef, attrs_from_dict, const_of, need, norm_axis, register
from tinyc.ir.ops._base import moved_quant, present
from tinyc.ir.ops.quantized import any_quantized, eval_concat
from tinyc.ir.ops.shape import Ints, axes_arg, const_ints, reject_unknown
from tinyc.ir.types import TensorType


@register
class Concat(OpDef):
    """Join one or more tensors along an axis."""

    onnx_op = "Concat"
    category = "shape"
    input_names = ("inputs*",)
    output_names = ("concat_result",)

    @dataclass(frozen=True)
    class Attrs:
        axis: int = 0

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        attrs = attrs_from_dict(self, onnx_attrs)
        need("axis" in onnx_attrs, self.name, "the axis attribute is required")
        rank = present(inputs, self.name)[0].type.rank
        return self.Attrs(axis=norm_axis(self.name, attrs.axis, rank)), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        vals = present(inputs, self.name)
        need(len(vals) >= 1, self.name, "needs at least one input")
        first = vals[0].type
        axis = norm_axis(self.name, attrs.axis, first.rank)
        total = 0
        for v in vals:
            t = v.type
            need(t.dtype == first.dtype, self.name, f"input types differ: {first.dtype.short} vs {t.dtype.short}")
            same = t.rank == first.rank and all(a == b for i, (a, b) in enumerate(zip(t.shape, first.shape, strict=True)) if i != axis)
            need(same, self.name, f"shapes {list(first.shape)} and {list(t.shape)} differ off axis {axis}")
            total += t.shape[axis]
        shape = first.shape[:axis] + (total,) + first.shape[axis + 1 :]
        quants = {v.type.quant for v in vals}
        quant = quants.pop() if len(quants) == 1 else None
        return [TensorType(first.dtype, shape, moved_quant(quant, lambda a: a if a != axis else None))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        if ctx.out_types[0].quant is not None and any_quantized(ctx):  # integer: requantize inputs with other parameters
            return [eval_concat(args, ctx, attrs.axis)]
        return [np.concatenate([a for a in args if a is not None], axis=attrs.axis)]


@register
class Split(OpDef):
    """Cut a tensor into parts along an axis; the part sizes are an attribute."""

    onnx_op = "Split"
    category = "shape"
    input_names = ("input",)
    output_names = ("outputs*",)
    # The importer passes the ONNX node's output count as onnx_attrs["_num_outputs"]
    # (needed for equal splits before opset 18, where only the outputs say how many).
    needs_onnx_output_count = True

    @dataclass(frozen=True)
    class Attrs:
        split: Ints = ()
        axis: int = 0

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        onnx_attrs = dict(onnx_attrs)
        n_out = int(onnx_attrs.pop("_num_outputs", 0))
        allowed = ["axis", "split"] if opset < 13 else ["axis", "num_outputs"] if opset >= 18 else ["axis"]
        reject_unknown(self, onnx_attrs, allowed)
        x = present(inputs[:1], self.name)[0]
        axis = norm_axis(self.name, int(onnx_attrs.get("axis", 0)), x.type.rank)
        dim = x.type.shape[axis]
        split: Ints | None = None
        if opset < 13 and onnx_attrs.get("split") is not None:
            split = tuple(int(s) for s in onnx_attrs["split"])
        elif opset >= 13 and len(inputs) > 1 and inputs[1] is not None:
            split = const_ints(inputs[1], self.name, "split")
        if split is None:
            if "num_outputs" in onnx_attrs:
                n = int(onnx_attrs["num_outputs"])
                need(n >= 1, self.name, f"num_outputs {n} must be positive")
                # Opset 18: parts of ceil(dim / n), the last one smaller if needed.
                part = math.ceil(dim / n)
                split = tuple(max(min(part, dim - i * part), 0) for i in range(n))
            else:
                need(n_out >= 1, self.name, "cannot tell how many parts to split into")
                need(dim % n_out == 0, self.name, f"axis {axis} of size {dim} does not split evenly into {n_out} parts")
                split = (dim // n_out,) * n_out
        if n_out:
            need(len(split) == n_out, self.name, f"{len(split)} parts for {n_out} outputs")
        return self.Attrs(split=split, axis=axis), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        axis = norm_axis(self.name, attrs.axis, x.type.rank)
        need(len(attrs.split) >= 1, self.name, "needs split sizes")
        need(all(s >= 0 for s in attrs.split), self.name, f"negative split sizes {list(attrs.split)}")
        need(sum(attrs.split) == x.type.shape[axis], self.name, f"split sizes {list(attrs.split)} do not add up to {x.type.shape[axis]}")
        quant = moved_quant(x.type.quant, lambda a: a if a != axis else None)
        return [TensorType(x.type.dtype, x.type.shape[:axis] + (s,) + x.type.shape[axis + 1 :], quant) for s in attrs.split]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        cuts = np.cumsum(attrs.split)[:-1]
        return list(np.split(args[0], cuts, axis=attrs.axis))


def clamp_slice(dim: int, start: int, end: int, step: int) -> tuple[int, int]:
    """ONNX Slice bounds for one axis, clamped; for negative steps an end of -1 means 'through index 0'."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim)
    return min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)


def slice_length(start: int, end: int, step: int) -> int:
    if step > 0:
        return max(0, -(-(end - start) // step))
    return max(0, -(-(start - end) // -step))


@register
class Slice(OpDef):
    """Strided slice per listed axis; starts/ends/axes/steps are attributes, resolved and clamped as ONNX defines."""

    onnx_op = "Slice"
    category = "shape"
    input_names = ("data",)
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        # Stored resolved: axes non-negative, steps explicit, starts/ends clamped;
        # an end 'before index 0' of a negative step is stored as -(dim + 1).
        starts: Ints = ()
        ends: Ints = ()
        axes: Ints = ()
        steps: Ints = ()

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, [])
        x = present(inputs[:1], self.name)[0]
        need(len(inputs) >= 3, self.name, "needs starts and ends inputs")
        starts = const_ints(inputs[1], self.name, "starts")
        ends = const_ints(inputs[2], self.name, "ends")
        axes = const_ints(inputs[3], self.name, "axes") if len(inputs) > 3 and inputs[3] is not None else tuple(range(len(starts)))
        steps = const_ints(inputs[4], self.name, "steps") if len(inputs) > 4 and inputs[4] is not None else (1,) * len(starts)
        need(len(starts) == len(ends) == len(axes) == len(steps), self.name, "starts, ends, axes and steps differ in length")
        attrs = self.Attrs(starts, ends, tuple(norm_axis(self.name, a, x.type.rank) for a in axes), steps)
        return self._resolved(attrs, x.type.shape), inputs[:1]

    def _resolved(self, attrs: Any, shape: Ints) -> Any:
        need(len(set(attrs.axes)) == len(attrs.axes), self.name, f"repeated axes {list(attrs.axes)}")
        need(all(s != 0 for s in attrs.steps), self.name, "a step is 0")
        starts, ends = [], []
        for s, e, a, k in zip(attrs.starts, attrs.ends, attrs.axes, attrs.steps, strict=True):
            s, e = clamp_slice(shape[a], s, e, k)
            starts.append(s)
            ends.append(-(shape[a] + 1) if e == -1 else e)
        return self.Attrs(tuple(starts), tuple(ends), attrs.axes, attrs.steps)

    def _slices(self, attrs: Any, shape: Ints) -> tuple[slice, ...]:
        sl = [slice(None)] * len(shape)
        for s, e, a, k in zip(attrs.starts, attrs.ends, attrs.axes, attrs.steps, strict=True):
            a = norm_axis(self.name, a, len(shape))
            s, e = clamp_slice(shape[a], s, e, k)
            sl[a] = slice(s, None if e == -1 else e, k)
        return tuple(sl)

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        need(len(attrs.starts) == len(attrs.ends) == len(attrs.axes) == len(attrs.steps), self.name, "starts, ends, axes and steps differ in length")
        need(all(s != 0 for s in attrs.steps), self.name, "a step is 0")
        shape = list(x.type.shape)
        for i, sl in enumerate(self._slices(attrs, x.type.shape)):
            if sl != slice(None):
                shape[i] = slice_length(sl.start, -1 if sl.stop is None else sl.stop, sl.step)
        return [TensorType(x.type.dtype, tuple(shape), moved_quant(x.type.quant, lambda a: a))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [args[0][self._slices(attrs, args[0].shape)].copy()]


class PadMode(enum.Enum):
    """How Pad fills the border."""

    CONSTANT = "constant"
    REFLECT = "reflect"
    EDGE = "edge"
    WRAP = "wrap"


@register
class Pad(OpDef):
    """Pad (or, with negative amounts, crop) each axis; pads and the fill value are attributes."""

    onnx_op = "Pad"
    category = "shape"
    input_names = ("data",)
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        # Begins of every axis, then ends of every axis (ONNX order), one per axis.
        pads: Ints = ()
        mode: PadMode = PadMode.CONSTANT
        constant_value: float = 0.0

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["mode"])
        x = present(inputs[:1], self.name)[0]
        rank = x.type.rank
        mode = attrs_from_dict(self, {k: v for k, v in onnx_attrs.items() if k == "mode"}).mode
        need(mode is not PadMode.WRAP or opset >= 19, self.name, "mode 'wrap' needs opset 19")
        need(len(inputs) > 1, self.name, "needs a pads input")
        raw = const_ints(inputs[1], self.name, "pads")
        value = 0.0
        if len(inputs) > 2 and inputs[2] is not None:
            cv = np.asarray(const_of(inputs[2], self.name, "constant_value")).reshape(-1)
            value = float(cv[0]) if cv.size else 0.0
        axes = axes_arg(self.name, {}, inputs, 3, opset, 18) if opset >= 18 else None
        axes = tuple(range(rank)) if axes is None else tuple(norm_axis(self.name, a, rank) for a in axes)
        need(len(raw) == 2 * len(axes), self.name, f"{len(raw)} pads for {len(axes)} axes (need two per axis)")
        pads = [0] * (2 * rank)
        for i, a in enumerate(axes):
            pads[a], pads[rank + a] = raw[i], raw[len(axes) + i]
        return self.Attrs(pads=tuple(pads), mode=mode, constant_value=value), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        rank = x.type.rank
        need(len(attrs.pads) == 2 * rank, self.name, f"{len(attrs.pads)} pads for rank {rank}")
        shape = tuple(d + attrs.pads[i] + attrs.pads[rank + i] for i, d in enumerate(x.type.shape))
        need(all(d >= 0 for d in shape), self.name, f"pads {list(attrs.pads)} crop more than {list(x.type.shape)}")
        for i, d in enumerate(x.type.shape):
            widest = max(attrs.pads[i], attrs.pads[rank + i])
            if attrs.mode is PadMode.REFLECT and widest > 0:
                need(widest < d, self.name, f"reflect pads of axis {i} must be smaller than its size {d}")
            elif attrs.mode is not PadMode.CONSTANT and widest > 0:
                need(d > 0, self.name, f"mode {attrs.mode.value} cannot pad the empty axis {i}")
        return [TensorType(x.type.dtype, shape, x.type.quant if x.type.quant is None or x.type.quant.axis is None else None)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        rank = x.ndim
        begin, end = attrs.pads[:rank], attrs.pads[rank:]
        # Negative amounts crop first; positive ones then pad the cropped tensor.
        crop = tuple(slice(max(-b, 0), d - max(-e, 0)) for b, e, d in zip(begin, end, x.shape, strict=True))
        x = x[crop]
        widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end, strict=True)]
        if attrs.mode is PadMode.CONSTANT:
            value: Any = attrs.constant_value
            q = ctx.in_types[0].quant if ctx.in_types and ctx.in_types[0] is not None else None
            if q is not None and x.dtype.kind in "iu":
                # The fill value is real; a quantized tensor is filled with its quantized image.
                value = np.clip(np.rint(value / q.scale[0]) + q.zero_point[0], np.iinfo(x.dtype).min, np.iinfo(x.dtype).max)
            return [np.pad(x, widths, mode="constant", constant_values=np.asarray(value).astype(x.dtype))]
        return [np.pad(x, widths, mode=attrs.mode.value)]


@register
class Gather(OpDef):
    """Pick entries along an axis by a tensor of indices (negative indices count from the end)."""

    onnx_op = "Gather"
    category = "shape"
    input_names = ("data", "indices")
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        axis: int = 0

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        attrs = attrs_from_dict(self, onnx_attrs)
        rank = present(inputs[:1], self.name)[0].type.rank
        return self.Attrs(axis=norm_axis(self.name, attrs.axis, rank)), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        data, idx = present(inputs, self.name)
        need(idx.type.dtype.is_int, self.name, f"indices must be integers, got {idx.type.dtype.short}")
        axis = norm_axis(self.name, attrs.axis, data.type.rank)
        if idx.const is not None:
            dim = data.type.shape[axis]
            bad = (idx.const < -dim) | (idx.const >= dim)
            need(not bool(np.any(bad)), self.name, f"constant indices out of range for axis {axis} of size {dim}")
        shape = data.type.shape[:axis] + idx.type.shape + data.type.shape[axis + 1 :]
        shift = idx.type.rank - 1
        quant = moved_quant(data.type.quant, lambda a: a if a < axis else None if a == axis else a + shift)
        return [TensorType(data.type.dtype, shape, quant)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        data, idx = args
        assert data is not None and idx is not None
        return [np.take(data, idx.astype(np.int64), axis=attrs.axis)]


@register
class GatherElements(OpDef):
    """Pick one entry per index position along an axis (indices have the output's shape)."""

    onnx_op = "GatherElements"
    category = "shape"
    input_names = ("data", "indices")
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        axis: int = 0

    import_onnx = Gather.import_onnx

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        data, idx = present(inputs, self.name)
        need(idx.type.dtype.is_int, self.name, f"indices must be integers, got {idx.type.dtype.short}")
        need(idx.type.rank == data.type.rank, self.name, "data and indices ranks differ")
        norm_axis(self.name, attrs.axis, data.type.rank)
        return [TensorType(data.type.dtype, idx.type.shape, moved_quant(data.type.quant))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        data, idx = args
        assert data is not None and idx is not None
        idx = idx.astype(np.int64)
        idx = np.where(idx < 0, idx + data.shape[attrs.axis], idx)
        return [np.take_along_axis(data, idx, axis=attrs.axis)]



@register
class Trilu(OpDef):
    """Keep the upper (or lower) triangle of the last two axes, shifted by k diagonals; the rest becomes 0."""

    onnx_op = "Trilu"
    category = "shape"
    input_names = ("input",)
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        upper: bool = True
        k: int = 0

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["upper"])
        k = const_ints(inputs[1], self.name, "k")[0] if len(inputs) > 1 and inputs[1] is not None else 0
        return self.Attrs(upper=bool(onnx_attrs.get("upper", 1)), k=k), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        need(x.type.rank >= 2, self.name, f"needs rank 2 or more, got {x.type.rank}")
        return [x.type]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        fill = x.copy()
        fill[...] = 0
        q = ctx.in_types[0].quant if ctx.in_types[0] is not None else None
        if q is not None and q.axis is None:
            fill[...] = q.zero_point[0]  # a quantized zero is its zero point
        rows, cols = x.shape[-2], x.shape[-1]
        j_minus_i = np.arange(cols)[None, :] - np.arange(rows)[:, None]
        keep = j_minus_i >= attrs.k if attrs.upper else j_minus_i <= attrs.k
        return [np.where(keep, x, fill)]
