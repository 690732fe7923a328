"""Pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (ONNX semantics, N-D).

Kernel, strides, dilations and pads are stored resolved (``auto_pad`` becomes
explicit pads at import). ``ceil_mode`` stays an attribute because it changes
the output size; a window that would start inside the end padding is dropped,
as in ONNX and onnxruntime. MaxPool's optional Indices output is not supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.opdef import EvalContext, OpDef, need, register
from tinyc.ir.ops._spatial import (
    attr_int,
    attr_ints,
    attr_str,
    check_geometry,
    float_only,
    needed_extra,
    out_spatial,
    pad_spatial,
    reject_unknown,
    resolve_pads,
    windows,
)
from tinyc.ir.ops.quantized import any_quantized, eval_mean
from tinyc.ir.types import TensorType


def _x(op: str, inputs: Sequence[Value | None]) -> Value:
    need(len(inputs) >= 1 and inputs[0] is not None, op, "missing input X")
    x = inputs[0]
    assert x is not None
    need(x.type.rank >= 3, op, f"X must be (N, C, spatial...), got shape {list(x.type.shape)}")
    return x


def _flag(op: str, onnx_attrs: dict[str, Any], key: str) -> bool:
    val = attr_int(op, onnx_attrs, key, 0)
    if val not in (0, 1):
        raise UnsupportedOpError(f"{op}: {key} must be 0 or 1, got {val}")
    return bool(val)


class _Pool(OpDef):
    """Shared import and shape inference of MaxPool and AveragePool."""

    category = "pool"
    input_names = ("X",)
    known_attrs: tuple[str, ...] = ("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides")

    def _import_geometry(self, onnx_attrs: dict[str, Any], inputs: list[Value | None]) -> dict[str, Any]:
        op = self.name
        reject_unknown(op, onnx_attrs, self.known_attrs)
        x = _x(op, inputs)
        nsp = x.type.rank - 2
        kernel = attr_ints(op, onnx_attrs, "kernel_shape", None)
        if kernel is None:
            raise UnsupportedOpError(f"{op}: the kernel_shape attribute is required")
        strides = attr_ints(op, onnx_attrs, "strides", (1,) * nsp)
        dilations = attr_ints(op, onnx_attrs, "dilations", (1,) * nsp)
        assert strides is not None and dilations is not None
        check_geometry(op, nsp, kernel, strides, dilations, (0,) * (2 * nsp))
        pads = resolve_pads(op, onnx_attrs, x.type.shape[2:], kernel, strides, dilations)
        check_geometry(op, nsp, kernel, strides, dilations, pads)
        ceil_mode = _flag(op, onnx_attrs, "ceil_mode")
        if attr_str(op, onnx_attrs, "auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
            ceil_mode = False  # SAME pads already give ceil(input / stride) outputs
        return dict(kernel_shape=kernel, strides=strides, dilations=dilations, pads=pads, ceil_mode=ceil_mode)

    def _geometry(self, attrs: Any, nsp: int) -> tuple[tuple[int, ...], ...]:
        kernel = attrs.kernel_shape
        strides = attrs.strides or (1,) * nsp
        dilations = attrs.dilations or (1,) * nsp
        pads = attrs.pads or (0,) * (2 * nsp)
        need(
            len(kernel) == nsp and len(strides) == nsp and len(dilations) == nsp and len(pads) == 2 * nsp,
            self.name,
            f"kernel_shape/strides/dilations/pads do not match {nsp} spatial dims",
        )
        return kernel, strides, dilations, pads

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _x(self.name, inputs)
        nsp = x.type.rank - 2
        kernel, strides, dilations, pads = self._geometry(attrs, nsp)
        out = out_spatial(x.type.shape[2:], kernel, strides, dilations, pads, attrs.ceil_mode)
        need(all(o > 0 for o in out), self.name, f"kernel {list(kernel)} is larger than the padded input {list(x.type.shape)}")
        return [TensorType(x.type.dtype, (*x.type.shape[:2], *out))]

    def _padded_windows(self, attrs: Any, x: np.ndarray, out_sp: tuple[int, ...], fill: float) -> np.ndarray:
        nsp = x.ndim - 2
        kernel, strides, dilations, pads = self._geometry(attrs, nsp)
        extra = needed_extra(x.shape[2:], kernel, strides, dilations, pads, out_sp)
        xp = pad_spatial(x, pads, extra, fill)
        return windows(xp, kernel, strides, dilations, out_sp)


@register
class MaxPool(_Pool):
    """Maximum over sliding windows (strided, dilated, padded, optional ceil_mode)."""

    onnx_op = "MaxPool"
    known_attrs = (*_Pool.known_attrs, "storage_order")

    @dataclass(frozen=True)
    class Attrs:
        kernel_shape: tuple[int, ...] = ()
        strides: tuple[int, ...] = ()
        dilations: tuple[int, ...] = ()
        pads: tuple[int, ...] = ()
        ceil_mode: bool = False

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        geo = self._import_geometry(onnx_attrs, inputs)
        _flag(self.name, onnx_attrs, "storage_order")  # only affects the Indices output
        return self.Attrs(**geo), inputs

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        x = args[0]
        assert x is not None
        out_sp = ctx.out_types[0].shape[2:]
        nsp = x.ndim - 2
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        win = self._padded_windows(attrs, x, out_sp, fill)
        y = win.max(axis=tuple(range(-nsp, 0)))
        return [y.astype(ctx.out_types[0].dtype.numpy)]


@register
class AveragePool(_Pool):
    """Mean over sliding windows; count_include_pad chooses whether explicit pads count in the divisor."""

    onnx_op = "AveragePool"
    known_attrs = (*_Pool.known_attrs, "count_include_pad")

    @dataclass(frozen=True)
    class Attrs:
        kernel_shape: tuple[int, ...] = ()
        strides: tuple[int, ...] = ()
        dilations: tuple[int, ...] = ()
        pads: tuple[int, ...] = ()
        ceil_mode: bool = False
        count_include_pad: bool = False

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        geo = self._import_geometry(onnx_attrs, inputs)
        return self.Attrs(**geo, count_include_pad=_flag(self.name, onnx_attrs, "count_include_pad")), inputs

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        x = args[0]
        assert x is not None
        # float path
        nsp = x.ndim - 2
        out_sp = ctx.out_types[0].shape[2:]
        axes = tuple(range(-nsp, 0))
        total = self._padded_windows(attrs, x.astype(np.float64), out_sp, 0.0).sum(axis=axes)
        # Divisor: window cells inside the input, or inside input + explicit pads
        # (never the ceil_mode overhang past the end padding).
        kernel, strides, dilations, pads = self._geometry(attrs, nsp)
        extra = needed_extra(x.shape[2:], kernel, strides, dilations, pads, out_sp)
        ones = np.ones((1, 1, *x.shape[2:]), dtype=np.float64)
        inside = pad_spatial(ones, pads, (0,) * nsp, 1.0 if attrs.count_include_pad else 0.0)
        counted = windows(pad_spatial(inside, (0,) * (2 * nsp), extra, 0.0), kernel, strides, dilations, out_sp)
        count = counted.sum(axis=axes)
        y = total / np.maximum(count, 1.0)
        return [y.astype(ctx.out_types[0].dtype.numpy)]


class _GlobalPool(OpDef):
    category = "pool"
    input_names = ("X",)

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self.name, onnx_attrs, ())
        return self.Attrs(), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _x(self.name, inputs)
        return [TensorType(x.type.dtype, (*x.type.shape[:2], *([1] * (x.type.rank - 2))))]


@register
class GlobalAveragePool(_GlobalPool):
    """Mean over all spatial positions; output (N, C, 1, ..., 1)."""

    onnx_op = "GlobalAveragePool"

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        if any_quantized(ctx):  # TFLite's integer MEAN over the spatial axes
            return [eval_mean(x, ctx, self.name, tuple(range(2, x.ndim)), True)]
        float_only(self.name, ctx)
        y = x.astype(np.float64).mean(axis=tuple(range(2, x.ndim)), keepdims=True)
        return [y.astype(ctx.out_types[0].dtype.numpy)]


@register
class GlobalMaxPool(_GlobalPool):
    """Maximum over all spatial positions; output (N, C, 1, ..., 1)."""

    onnx_op = "GlobalMaxPool"

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        x = args[0]
        assert x is not None
        return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True).astype(ctx.out_types[0].dtype.numpy)]
