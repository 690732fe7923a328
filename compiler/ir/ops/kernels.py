"""tinyc-internal kernel-level ops: what the MCU backends consume (NHWC, fused clamps).

These ops have no ONNX counterpart (``onnx_op = None``); the ``to-nhwc``,
``canonicalize`` and fusion passes produce them from ONNX ops. Their shapes
follow CMSIS-NN and TFLite:

- activations are NHWC (``[N, H, W, C]``);
- ``Conv2D`` weights are OHWI ``[C_out, KH, KW, C_in]``;
- ``DepthwiseConv2D`` weights are ``[1, KH, KW, C_out]``, with
  ``C_out = C_in * depth_multiplier`` and output channel ``o`` reading input
  channel ``o // depth_multiplier``;
- ``FullyConnected`` weights are ``[C_out, K]`` (row-major, one row per output);
- 2-D pads are ``(top, left, bottom, right)``;
- ``act_min`` / ``act_max`` is a fused clamp applied last (None: unbounded),
  which is how ReLU, ReLU6 and Clip reach the kernels.

Semantics are float now; the integer (int8) semantics will live in the same
classes: ``evaluate`` dispatches on whether an input is quantized and, for
now, refuses quantized inputs with an UnsupportedOpError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.opdef import EvalContext, OpDef, broadcast_shapes, need, register
from tinyc.ir.ops._spatial import MAX_GEOMETRY, out_size, pad_spatial, windows
from tinyc.ir.types import TensorType

Ints = tuple[int, ...]


# -- shared pieces ----------------------------------------------------------------


def is_quantized(ctx: EvalContext) -> bool:
    """Whether any input is a quantized integer tensor (integer semantics apply)."""
    return any(t is not None and t.quant is not None and t.dtype.is_int for t in ctx.in_types)


def clamp(y: np.ndarray, act_min: float | None, act_max: float | None) -> np.ndarray:
    """The fused activation: clamp to [act_min, act_max] (either side may be open)."""
    if act_min is not None:
        y = np.maximum(y, act_min)
    if act_max is not None:
        y = np.minimum(y, act_max)
    return y


def clamp_text(act_min: float | None, act_max: float | None) -> str:
    """A short name of a fused clamp for reports: ``relu``, ``relu6``, ``clamp[-1, 1]`` or ``none``."""
    if act_min is None and act_max is None:
        return "none"
    if act_min == 0.0 and act_max is None:
        return "relu"
    if act_min == 0.0 and act_max == 6.0:
        return "relu6"
    return f"clamp[{act_min}, {act_max}]"


class KernelOp(OpDef):
    """Base of the kernel-level ops: float path now, integer path to come, selected per call."""

    category = "kernel"
    onnx_op = None

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        if is_quantized(ctx):
            return self.evaluate_quantized(attrs, args, ctx)
        return self.evaluate_float(attrs, args, ctx)

    def evaluate_float(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        raise NotImplementedError(f"{self.name}.evaluate_float")

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        """Integer semantics (TFLite / CMSIS-NN arithmetic), defined in :mod:`tinyc.ir.ops.quantized`."""
        from tinyc.ir.ops.quantized import quantized_evaluator

        fn = quantized_evaluator(self.name)
        if fn is not None:
            return fn(attrs, args, ctx)
        raise UnsupportedOpError(
            f"{self.name}: quantized evaluation is not implemented yet",
            where=f"node {ctx.node_name!r}" if ctx.node_name else None,
            hint="run the float graph until the int8 semantics of the kernel ops land",
        )


def _check_clamp(op: str, attrs: Any) -> None:
    if attrs.act_min is not None and attrs.act_max is not None:
        need(attrs.act_min <= attrs.act_max, op, f"act_min {attrs.act_min} is above act_max {attrs.act_max}")


def _nhwc(op: str, inputs: Sequence[Value | None]) -> Value:
    need(len(inputs) >= 1 and inputs[0] is not None, op, "missing input")
    x = inputs[0]
    assert x is not None
    need(x.type.rank == 4, op, f"input must be NHWC (rank 4), got shape {list(x.type.shape)}")
    return x


def _geometry(op: str, attrs: Any) -> tuple[Ints, Ints, Ints]:
    strides, dilations, pads = attrs.strides, getattr(attrs, "dilations", (1, 1)), attrs.pads
    need(len(strides) == 2 and min(strides) >= 1, op, f"strides {list(strides)} must be two values >= 1")
    need(len(dilations) == 2 and min(dilations) >= 1, op, f"dilations {list(dilations)} must be two values >= 1")
    need(len(pads) == 4 and min(pads) >= 0, op, f"pads {list(pads)} must be four values >= 0 (top, left, bottom, right)")
    need(max((*strides, *dilations, *pads)) <= MAX_GEOMETRY, op, f"strides {list(strides)}, dilations {list(dilations)} and pads {list(pads)} must be at most {MAX_GEOMETRY}")
    return strides, dilations, pads


def _out_hw(op: str, hw: Ints, kernel: Ints, strides: Ints, dilations: Ints, pads: Ints) -> Ints:
    out = tuple(out_size(hw[i], kernel[i], strides[i], dilations[i], pads[i], pads[2 + i]) for i in range(2))
    need(all(o > 0 for o in out), op, f"kernel {list(kernel)} (dilations {list(dilations)}) is larger than the padded input {list(hw)}")
    return out


def _check_bias(op: str, inputs: Sequence[Value | None], channels: int) -> None:
    b = inputs[2] if len(inputs) > 2 else None
    if b is not None:
        need(b.type.shape == (channels,), op, f"bias has shape {list(b.type.shape)}, expected [{channels}]")


def _windows_nhwc(x: np.ndarray, kernel: Ints, strides: Ints, dilations: Ints, pads: Ints, out_hw: Ints, fill: float) -> np.ndarray:
    """Windows (N, C, OH, OW, KH, KW) of an NHWC array padded with ``fill``."""
    xc = np.transpose(x, (0, 3, 1, 2))
    xp = pad_spatial(xc, pads, (0, 0), fill)
    return windows(xp, kernel, strides, dilations, out_hw)


def _with_bias(y: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    return y if b is None else y + b.astype(np.float64)


# -- convolutions -------------------------------------------------------------------


@register
class Conv2D(KernelOp):
    """NHWC 2-D convolution, OHWI weights, optional bias and fused clamp (CMSIS-NN arm_convolve)."""

    input_names = ("X", "W", "B?")

    @dataclass(frozen=True)
    class Attrs:
        strides: tuple[int, ...] = (1, 1)
        dilations: tuple[int, ...] = (1, 1)
        pads: tuple[int, ...] = (0, 0, 0, 0)  # top, left, bottom, right
        act_min: float | None = None
        act_max: float | None = None

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _nhwc(self.name, inputs)
        need(len(inputs) >= 2 and inputs[1] is not None, self.name, "missing weights W")
        w = inputs[1]
        assert w is not None
        need(w.type.rank == 4, self.name, f"W must be OHWI (rank 4), got shape {list(w.type.shape)}")
        n, h, wd, c = x.type.shape
        co, kh, kw, ci = w.type.shape
        need(ci == c, self.name, f"W has {ci} input channels, X has {c}")
        strides, dilations, pads = _geometry(self.name, attrs)
        _check_bias(self.name, inputs, co)
        _check_clamp(self.name, attrs)
        oh, ow = _out_hw(self.name, (h, wd), (kh, kw), strides, dilations, pads)
        return [TensorType(x.type.dtype, (n, oh, ow, co))]

    def evaluate_float(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x, w = args[0], args[1]
        b = args[2] if len(args) > 2 else None
        assert x is not None and w is not None
        _, oh, ow, _ = ctx.out_types[0].shape
        win = _windows_nhwc(x.astype(np.float64), w.shape[1:3], attrs.strides, attrs.dilations, attrs.pads, (oh, ow), 0.0)
        y = np.einsum("ncijkl,oklc->nijo", win, w.astype(np.float64), optimize=True)
        y = clamp(_with_bias(y, b), attrs.act_min, attrs.act_max)
        return [y.astype(ctx.out_types[0].dtype.numpy)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        w = in_types[1]
        assert w is not None
        return out_types[0].numel * math.prod(w.shape[1:])


@register
class DepthwiseConv2D(KernelOp):
    """NHWC depthwise convolution, [1, KH, KW, C_out] weights, channel multiplier, optional bias and fused clamp."""

    input_names = ("X", "W", "B?")

    @dataclass(frozen=True)
    class Attrs:
        strides: tuple[int, ...] = (1, 1)
        dilations: tuple[int, ...] = (1, 1)
        pads: tuple[int, ...] = (0, 0, 0, 0)  # top, left, bottom, right
        depth_multiplier: int = 1
        act_min: float | None = None
        act_max: float | None = None

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _nhwc(self.name, inputs)
        need(len(inputs) >= 2 and inputs[1] is not None, self.name, "missing weights W")
        w = inputs[1]
        assert w is not None
        need(w.type.rank == 4 and w.type.shape[0] == 1, self.name, f"W must be [1, KH, KW, C_out], got shape {list(w.type.shape)}")
        n, h, wd, c = x.type.shape
        _, kh, kw, co = w.type.shape
        need(attrs.depth_multiplier >= 1, self.name, f"depth_multiplier {attrs.depth_multiplier} must be >= 1")
        need(co == c * attrs.depth_multiplier, self.name, f"W has {co} channels, X has {c} x depth_multiplier {attrs.depth_multiplier}")
        strides, dilations, pads = _geometry(self.name, attrs)
        _check_bias(self.name, inputs, co)
        _check_clamp(self.name, attrs)
        oh, ow = _out_hw(self.name, (h, wd), (kh, kw), strides, dilations, pads)
        return [TensorType(x.type.dtype, (n, oh, ow, co))]

    def evaluate_float(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x, w = args[0], args[1]
        b = args[2] if len(args) > 2 else None
        assert x is not None and w is not None
        _, oh, ow, _ = ctx.out_types[0].shape
        win = _windows_nhwc(x.astype(np.float64), w.shape[1:3], attrs.strides, attrs.dilations, attrs.pads, (oh, ow), 0.0)
        win = np.repeat(win, attrs.depth_multiplier, axis=1)  # output channel o reads input channel o // multiplier
        y = np.einsum("noijkl,klo->nijo", win, w[0].astype(np.float64), optimize=True)
        y = clamp(_with_bias(y, b), attrs.act_min, attrs.act_max)
        return [y.astype(ctx.out_types[0].dtype.numpy)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        w = in_types[1]
        assert w is not None
        return out_types[0].numel * w.shape[1] * w.shape[2]


@register
class FullyConnected(KernelOp):
    """Y[..., o] = sum_k X[..., k] * W[o, k] + B[o], [C_out, K] weights, fused clamp (TFLite FULLY_CONNECTED)."""

    input_names = ("X", "W", "B?")

    @dataclass(frozen=True)
    class Attrs:
        act_min: float | None = None
        act_max: float | None = None

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        # The leading dimensions are kept: the kernel sees prod(shape[:-1]) rows of K values.
        need(len(inputs) >= 2 and inputs[0] is not None and inputs[1] is not None, self.name, "needs inputs X and W")
        x, w = inputs[0], inputs[1]
        assert x is not None and w is not None
        need(x.type.rank >= 1, self.name, "X must have rank >= 1")
        need(w.type.rank == 2, self.name, f"W must be [C_out, K], got shape {list(w.type.shape)}")
        co, k = w.type.shape
        need(x.type.shape[-1] == k, self.name, f"X has {x.type.shape[-1]} features, W expects {k}")
        _check_bias(self.name, inputs, co)
        _check_clamp(self.name, attrs)
        return [TensorType(x.type.dtype, (*x.type.shape[:-1], co))]

    def evaluate_float(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x, w = args[0], args[1]
        b = args[2] if len(args) > 2 else None
        assert x is not None and w is not None
        rows = x.astype(np.float64).reshape(-1, w.shape[1])
        y = clamp(_with_bias(rows @ w.astype(np.float64).T, b), attrs.act_min, attrs.act_max)
        return [y.reshape(ctx.out_types[0].shape).astype(ctx.out_types[0].dtype.numpy)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        x = in_types[0]
        assert x is not None
        return out_types[0].numel * x.shape[-1]


# -- pooling ------------------------------------------------------------------------


class _Pool2D(KernelOp):
    input_names = ("X",)

    @dataclass(frozen=True)
    class Attrs:
        kernel: tuple[int, ...] = (1, 1)
        strides: tuple[int, ...] = (1, 1)
        pads: tuple[int, ...] = (0, 0, 0, 0)  # top, left, bottom, right
        act_min: float | None = None
        act_max: float | None = None

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _nhwc(self.name, inputs)
        n, h, w, c = x.type.shape
        need(len(attrs.kernel) == 2 and min(attrs.kernel) >= 1, self.name, f"kernel {list(attrs.kernel)} must be two values >= 1")
        strides, dilations, pads = _geometry(self.name, attrs)
        need(
            pads[0] < attrs.kernel[0] and pads[2] < attrs.kernel[0] and pads[1] < attrs.kernel[1] and pads[3] < attrs.kernel[1],
            self.name,
            f"pads {list(pads)} must be smaller than the kernel {list(attrs.kernel)} (no window may lie in the padding only)",
        )
        _check_clamp(self.name, attrs)
        oh, ow = _out_hw(self.name, (h, w), attrs.kernel, strides, dilations, pads)
        return [TensorType(x.type.dtype, (n, oh, ow, c))]

    def _windows(self, attrs: Any, x: np.ndarray, ctx: EvalContext, fill: float) -> np.ndarray:
        _, oh, ow, _ = ctx.out_types[0].shape
        return _windows_nhwc(x, attrs.kernel, attrs.strides, (1, 1), attrs.pads, (oh, ow), fill)

    def _finish(self, attrs: Any, y: np.ndarray, ctx: EvalContext) -> list[np.ndarray]:
        y = clamp(np.transpose(y, (0, 2, 3, 1)), attrs.act_min, attrs.act_max)
        return [y.astype(ctx.out_types[0].dtype.numpy)]


@register
class MaxPool2D(_Pool2D):
    """NHWC max pooling (padding never wins the maximum) with fused clamp."""

    def evaluate_float(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        win = self._windows(attrs, x.astype(np.float64), ctx, -np.inf)
        return self._finish(attrs, win.max(axis=(-2, -1)), ctx)


@register
class AvgPool2D(_Pool2D):
    """NHWC average pooling; padded cells do not count in the divisor (TFLite, CMSIS-NN); fused clamp."""

    def evaluate_float(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        total = self._windows(attrs, x.astype(np.float64), ctx, 0.0).sum(axis=(-2, -1))
        ones = np.ones((1, *x.shape[1:3], 1), dtype=np.float64)
        count = self._windows(attrs, ones, ctx, 0.0).sum(axis=(-2, -1))
        return self._finish(attrs, total / count, ctx)


# -- element-wise with a fused clamp ----------------------------------------------------


class _BinaryAct(KernelOp):
    input_names = ("A", "B")

    @dataclass(frozen=True)
    class Attrs:
        act_min: float | None = None
        act_max: float | None = None

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        need(len(inputs) == 2 and inputs[0] is not None and inputs[1] is not None, self.name, "needs two inputs")
        a, b = inputs[0], inputs[1]
        assert a is not None and b is not None
        need(a.type.dtype == b.type.dtype, self.name, f"input types differ: {a.type.dtype.short} vs {b.type.dtype.short}")
        need(a.type.dtype.is_float or a.type.quant is not None, self.name, f"needs float (or quantized) inputs, got {a.type.dtype.short}")
        _check_clamp(self.name, attrs)
        return [TensorType(a.type.dtype, broadcast_shapes(self.name, a.type.shape, b.type.shape))]

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def evaluate_float(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        a, b = args[0], args[1]
        assert a is not None and b is not None
        y = clamp(self.compute(a.astype(np.float64), b.astype(np.float64)), attrs.act_min, attrs.act_max)
        return [np.broadcast_to(y, ctx.out_types[0].shape).astype(ctx.out_types[0].dtype.numpy)]


@register
class AddAct(_BinaryAct):
    """Element-wise sum with broadcasting and a fused clamp (CMSIS-NN arm_elementwise_add)."""

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b


@register
class MulAct(_BinaryAct):
    """Element-wise product with broadcasting and a fused clamp (CMSIS-NN arm_elementwise_mul)."""

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a * b
