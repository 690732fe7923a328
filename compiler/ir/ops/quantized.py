"""Integer semantics of the quantized IR: TFLite's int8 and 16x8 arithmetic, from the types.

A quantized value is an ``i8`` (or ``i16``) tensor whose type carries
``QuantParams``; weights are ``i8`` constants with per-axis (output channel)
symmetric parameters; biases are ``i32`` (``i64`` for 16x8) constants. Every
multiplier and shift is derived here, at evaluation time, from the input and
output types with the helpers of :mod:`tinyc.quant.params` — nothing is
stored on the graph, so a backend computes the same numbers the same way.

This module holds:

* helpers that read parameters off types (:func:`per_tensor`,
  :func:`activation_bounds`, ...) for the op definitions' quantized branches;
* the quantized evaluators of the kernel-level ops (``Conv2D`` ...), which
  ``KernelOp.evaluate_quantized`` looks up with :func:`quantized_evaluator`;
* the evaluators ONNX-level op definitions call from their quantized branch
  (add, mul, clamp, logistic, tanh, hard-swish, softmax, mean, concat);
* ``Requantize``, the one tinyc-only op of the quantized IR (TFLite's
  QUANTIZE between integer types).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import EvalContext, OpDef, need, register
from tinyc.ir.types import QuantParams, TensorType
from tinyc.quant import kernels as K
from tinyc.quant import kernels_extra as KE
from tinyc.quant import params as P

QEvaluator = Callable[[Any, Sequence[np.ndarray | None], EvalContext], list[np.ndarray]]
ACTIVATION_DTYPES = (DType.I8, DType.I16)

# Output parameters TFLite fixes for int8 softmax, logistic and tanh.
FIXED_OUTPUT_QUANT: dict[str, QuantParams] = {
    "Softmax": QuantParams.per_tensor(1.0 / 256.0, -128),
    "Sigmoid": QuantParams.per_tensor(1.0 / 256.0, -128),
    "Tanh": QuantParams.per_tensor(1.0 / 128.0, 0),
}


def fixed_output_quant(op: str, dtype: DType) -> QuantParams | None:
    """The output parameters TFLite requires for ``op`` at ``dtype`` (int8 softmax/logistic/tanh), else None."""
    return FIXED_OUTPUT_QUANT.get(op) if dtype is DType.I8 else None


def is_quantized_input(t: TensorType | None) -> bool:
    return t is not None and t.quant is not None and t.dtype.is_int


def any_quantized(ctx: EvalContext) -> bool:
    """Whether any input is a quantized integer tensor (the op's integer semantics apply)."""
    return any(is_quantized_input(t) for t in ctx.in_types)


# -- parameters from types ---------------------------------------------------------


def _where(ctx: EvalContext) -> str | None:
    return f"node {ctx.node_name!r}" if ctx.node_name else None


def _fail(ctx: EvalContext, op: str, msg: str, hint: str | None = None) -> UnsupportedOpError:
    return UnsupportedOpError(f"{op}: {msg}", where=_where(ctx), hint=hint)


def per_tensor(t: TensorType | None, ctx: EvalContext, op: str, what: str) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor quantized int8/int16 activation."""
    if t is None or t.quant is None or t.dtype not in ACTIVATION_DTYPES:
        got = "missing" if t is None else f"{t.dtype.short}{'' if t.quant is None else ' quantized'}"
        raise _fail(ctx, op, f"{what} must be a quantized int8 or int16 tensor, got {got}", "quantize the graph with tinyc.quantize (or dequantize before this op)")
    if not t.quant.is_per_tensor:
        raise _fail(ctx, op, f"{what} has per-axis quantization; activations are quantized per tensor")
    zp = t.quant.zero_point[0]
    if t.dtype is DType.I16 and zp != 0:
        raise _fail(ctx, op, f"{what} is int16 with zero point {zp}; 16x8 quantization is symmetric (zero point 0)")
    return t.quant.scale[0], zp


def out_params(ctx: EvalContext, op: str, dtype: DType) -> tuple[float, int]:
    t = ctx.out_types[0]
    if t.dtype is not dtype:
        raise _fail(ctx, op, f"output is {t.dtype.short} but the input is {dtype.short}")
    return per_tensor(t, ctx, op, "the output")


def int_bounds(dtype: DType) -> tuple[int, int]:
    return dtype.qmin, dtype.qmax


def quantize_bound(f: float, scale: float, zp: int) -> int:
    """A real clamp bound on the integer grid as TFLite's ``CalculateActivationRangeQuantized``: zp + round(f / s), float32 division, half away from zero."""
    q = float(np.float32(f) / np.float32(scale))
    return int(zp) + int(math.copysign(math.floor(abs(q) + 0.5), q))


def activation_bounds(act_min: float | None, act_max: float | None, scale: float, zp: int, dtype: DType) -> tuple[int, int]:
    """The integer activation range of a fused clamp [act_min, act_max] on the output grid."""
    lo, hi = int_bounds(dtype)
    if act_min is not None:
        lo = max(lo, quantize_bound(act_min, scale, zp))
    if act_max is not None:
        hi = min(hi, quantize_bound(act_max, scale, zp))
    return lo, max(lo, hi)


def weight_scales(t: TensorType | None, ctx: EvalContext, op: str, axis: int, channels: int) -> np.ndarray:
    """Scales of symmetric int8 weights, per tensor (length 1) or per ``axis`` (length ``channels``)."""
    if t is None or t.quant is None or t.dtype is not DType.I8:
        raise _fail(ctx, op, f"weights must be int8 with quantization parameters, got {'nothing' if t is None else t}", "quantize the graph with tinyc.quantize")
    q = t.quant
    if any(z != 0 for z in q.zero_point):
        raise _fail(ctx, op, "weights must be symmetric (zero point 0), as TFLite and CMSIS-NN require")
    if not q.is_per_tensor and (q.axis != axis or len(q.scale) != channels):
        raise _fail(ctx, op, f"weights are quantized along axis {q.axis} ({len(q.scale)} scales); expected axis {axis} with {channels}")
    return q.scale_array()


def _scheme(ctx: EvalContext, op: str) -> tuple[DType, float, int]:
    """(activation dtype, input scale, input zero point) of a kernel op's first input."""
    t = ctx.in_types[0]
    s, zp = per_tensor(t, ctx, op, "input 0")
    assert t is not None
    return t.dtype, s, zp


def _bias(args: Sequence[np.ndarray | None], ctx: EvalContext, op: str, dtype: DType) -> np.ndarray | None:
    b = args[2] if len(args) > 2 else None
    if b is None:
        return None
    t = ctx.in_types[2]
    want = (DType.I32,) if dtype is DType.I8 else (DType.I64, DType.I32)
    if t is None or t.dtype not in want:
        raise _fail(ctx, op, f"bias must be {' or '.join(d.short for d in want)} for {dtype.short} activations, got {None if t is None else t.dtype.short}")
    return b


# -- kernel ops ---------------------------------------------------------------------

_KERNEL_EVALUATORS: dict[str, QEvaluator] = {}


def quantized_evaluator(op: str) -> QEvaluator | None:
    """The integer evaluator of a kernel-level op, or None."""
    return _KERNEL_EVALUATORS.get(op)


def _kernel(name: str) -> Callable[[QEvaluator], QEvaluator]:
    def wrap(fn: QEvaluator) -> QEvaluator:
        _KERNEL_EVALUATORS[name] = fn
        return fn

    return wrap


@_kernel("Conv2D")
def _conv2d(attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
    op = "Conv2D"
    dtype, s_in, zp_in = _scheme(ctx, op)
    x, w = args[0], args[1]
    assert x is not None and w is not None
    s_w = weight_scales(ctx.in_types[1], ctx, op, 0, w.shape[0])
    s_out, zp_out = out_params(ctx, op, dtype)
    mult, shift = P.conv_multipliers(s_in, s_w, s_out)
    lo, hi = activation_bounds(attrs.act_min, attrs.act_max, s_out, zp_out, dtype)
    out_hw = ctx.out_types[0].shape[1:3]
    geo = dict(stride=tuple(attrs.strides), padding=(attrs.pads[0], attrs.pads[1]), dilation=tuple(attrs.dilations), act_min=lo, act_max=hi, output_hw=out_hw)
    b = _bias(args, ctx, op, dtype)
    if dtype is DType.I8:
        return [K.conv2d(x, w, b, input_offset=-zp_in, output_offset=zp_out, multiplier=mult, shift=shift, **geo)]
    return [KE.conv2d_s16(x, w, b, multiplier=mult, shift=shift, **geo)]


@_kernel("DepthwiseConv2D")
def _depthwise(attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
    op = "DepthwiseConv2D"
    dtype, s_in, zp_in = _scheme(ctx, op)
    x, w = args[0], args[1]
    assert x is not None and w is not None
    s_w = weight_scales(ctx.in_types[1], ctx, op, 3, w.shape[3])
    s_out, zp_out = out_params(ctx, op, dtype)
    mult, shift = P.conv_multipliers(s_in, s_w, s_out)
    lo, hi = activation_bounds(attrs.act_min, attrs.act_max, s_out, zp_out, dtype)
    out_hw = ctx.out_types[0].shape[1:3]
    geo = dict(
        depth_multiplier=attrs.depth_multiplier,
        stride=tuple(attrs.strides),
        padding=(attrs.pads[0], attrs.pads[1]),
        dilation=tuple(attrs.dilations),
        act_min=lo,
        act_max=hi,
        output_hw=out_hw,
    )
    b = _bias(args, ctx, op, dtype)
    if dtype is DType.I8:
        return [K.depthwise_conv2d(x, w, b, input_offset=-zp_in, output_offset=zp_out, multiplier=mult, shift=shift, **geo)]
    return [KE.depthwise_conv2d_s16(x, w, b, multiplier=mult, shift=shift, **geo)]


@_kernel("FullyConnected")
def _fully_connected(attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
    op = "FullyConnected"
    dtype, s_in, zp_in = _scheme(ctx, op)
    x, w = args[0], args[1]
    assert x is not None and w is not None
    s_w = weight_scales(ctx.in_types[1], ctx, op, 0, w.shape[0])
    s_out, zp_out = out_params(ctx, op, dtype)
    if s_w.size == 1:  # per tensor: TFLite multiplies the two input scales in float32 first
        mult, shift = P.fc_multiplier(s_in, float(s_w[0]), s_out)
    else:
        mult, shift = P.conv_multipliers(s_in, s_w, s_out)  # type: ignore[assignment]
    lo, hi = activation_bounds(attrs.act_min, attrs.act_max, s_out, zp_out, dtype)
    b = _bias(args, ctx, op, dtype)
    if dtype is DType.I8:
        return [K.fully_connected(x, w, b, input_offset=-zp_in, output_offset=zp_out, multiplier=mult, shift=shift, act_min=lo, act_max=hi)]
    return [KE.fully_connected_s16(x, w, b, multiplier=mult, shift=shift, act_min=lo, act_max=hi)]


def _pool(kind: str) -> QEvaluator:
    def evaluate(attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        dtype, s_in, zp_in = _scheme(ctx, kind)
        s_out, zp_out = out_params(ctx, kind, dtype)
        if (s_in, zp_in) != (s_out, zp_out):
            raise _fail(ctx, kind, "input and output quantization differ; TFLite pools keep the input's parameters")
        x = args[0]
        assert x is not None
        lo, hi = activation_bounds(attrs.act_min, attrs.act_max, s_out, zp_out, dtype)
        geo = dict(filter_hw=tuple(attrs.kernel), stride=tuple(attrs.strides), padding=(attrs.pads[0], attrs.pads[1]), act_min=lo, act_max=hi, output_hw=ctx.out_types[0].shape[1:3])
        if dtype is DType.I8:
            fn = K.avg_pool2d if kind == "AvgPool2D" else K.max_pool2d
        else:
            fn = KE.avg_pool2d_s16 if kind == "AvgPool2D" else KE.max_pool2d_s16
        return [fn(x, **geo)]

    return evaluate


_KERNEL_EVALUATORS["MaxPool2D"] = _pool("MaxPool2D")
_KERNEL_EVALUATORS["AvgPool2D"] = _pool("AvgPool2D")


@_kernel("AddAct")
def _add_act(attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
    return [eval_add(args, ctx, "AddAct", attrs.act_min, attrs.act_max)]


@_kernel("MulAct")
def _mul_act(attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
    return [eval_mul(args, ctx, "MulAct", attrs.act_min, attrs.act_max)]


# -- shared by the ONNX-level op definitions --------------------------------------------


def _two(args: Sequence[np.ndarray | None], ctx: EvalContext, op: str) -> tuple[np.ndarray, np.ndarray, DType, tuple[float, int], tuple[float, int]]:
    a, b = args[0], args[1]
    assert a is not None and b is not None
    p1 = per_tensor(ctx.in_types[0], ctx, op, "input 0")
    p2 = per_tensor(ctx.in_types[1], ctx, op, "input 1")
    t1, t2 = ctx.in_types[0], ctx.in_types[1]
    assert t1 is not None and t2 is not None
    if t1.dtype is not t2.dtype:
        raise _fail(ctx, op, f"inputs are {t1.dtype.short} and {t2.dtype.short}")
    return a, b, t1.dtype, p1, p2


def _broadcast(y: np.ndarray, ctx: EvalContext) -> np.ndarray:
    return np.broadcast_to(y, ctx.out_types[0].shape).copy()


def eval_add(args: Sequence[np.ndarray | None], ctx: EvalContext, op: str = "Add", act_min: float | None = None, act_max: float | None = None) -> np.ndarray:
    """TFLite's quantized ADD (int8: left shift 20; int16: 15) with an optional fused clamp."""
    a, b, dtype, (s1, z1), (s2, z2) = _two(args, ctx, op)
    so, zo = out_params(ctx, op, dtype)
    lo, hi = activation_bounds(act_min, act_max, so, zo, dtype)
    if dtype is DType.I8:
        return _broadcast(K.add(a, b, P.prepare_add(s1, z1, s2, z2, so, zo, lo, hi)), ctx)
    return _broadcast(KE.add_s16(a, b, P.prepare_add(s1, z1, s2, z2, so, zo, lo, hi, left_shift=15)), ctx)


def eval_mul(args: Sequence[np.ndarray | None], ctx: EvalContext, op: str = "Mul", act_min: float | None = None, act_max: float | None = None) -> np.ndarray:
    """TFLite's quantized MUL with an optional fused clamp."""
    a, b, dtype, (s1, z1), (s2, z2) = _two(args, ctx, op)
    so, zo = out_params(ctx, op, dtype)
    lo, hi = activation_bounds(act_min, act_max, so, zo, dtype)
    p = P.prepare_mul(s1, z1, s2, z2, so, zo, lo, hi)
    return _broadcast(K.mul(a, b, p) if dtype is DType.I8 else KE.mul_s16(a, b, p), ctx)


def eval_clamp(x: np.ndarray, ctx: EvalContext, op: str, lo_f: float | None, hi_f: float | None) -> np.ndarray:
    """TFLite's quantized RELU family: rescale to the output's parameters, clamp to [lo_f, hi_f] on its grid."""
    t = ctx.in_types[0]
    s_in, z_in = per_tensor(t, ctx, op, "the input")
    assert t is not None
    so, zo = out_params(ctx, op, t.dtype)
    mult, shift = KE.requantize_multiplier(s_in, so)
    lo, hi = activation_bounds(lo_f, hi_f, so, zo, t.dtype)
    return KE.relu(x, mult, shift, z_in, zo, lo, hi).astype(t.dtype.numpy)


def _fixed_output(ctx: EvalContext, op: str) -> DType:
    t = ctx.in_types[0]
    per_tensor(t, ctx, op, "the input")
    assert t is not None
    want = fixed_output_quant(op, t.dtype)
    if want is None:
        raise _fail(ctx, op, f"quantized {op} is defined for int8 only, got {t.dtype.short}", "the quantizer keeps this op in float for int16x8")
    if ctx.out_types[0].quant != want or ctx.out_types[0].dtype is not t.dtype:
        raise _fail(ctx, op, f"int8 {op} needs output scale {want.scale[0]} and zero point {want.zero_point[0]}, got {ctx.out_types[0].quant}")
    return t.dtype


def eval_logistic(x: np.ndarray, ctx: EvalContext) -> np.ndarray:
    """TFLM's int8 logistic (gemmlowp fixed point); output scale 1/256, zero point -128."""
    _fixed_output(ctx, "Sigmoid")
    s, z = per_tensor(ctx.in_types[0], ctx, "Sigmoid", "the input")
    return K.logistic(x, P.prepare_logistic_tanh(s, z))


def eval_tanh(x: np.ndarray, ctx: EvalContext) -> np.ndarray:
    """TFLM's int8 tanh (gemmlowp fixed point); output scale 1/128, zero point 0."""
    _fixed_output(ctx, "Tanh")
    s, z = per_tensor(ctx.in_types[0], ctx, "Tanh", "the input")
    return K.tanh(x, P.prepare_logistic_tanh(s, z))


def eval_hard_swish(x: np.ndarray, ctx: EvalContext) -> np.ndarray:
    """TFLite's int8 HardSwish (16-bit fixed point)."""
    op = "HardSwish"
    t = ctx.in_types[0]
    s, z = per_tensor(t, ctx, op, "the input")
    assert t is not None
    if t.dtype is not DType.I8:
        raise _fail(ctx, op, "quantized HardSwish is defined for int8 only", "the quantizer keeps this op in float for int16x8")
    so, zo = out_params(ctx, op, t.dtype)
    return KE.hard_swish(x, KE.prepare_hard_swish(s, z, so, zo))


def eval_softmax(x: np.ndarray, ctx: EvalContext, axis: int, coerce_2d: bool) -> np.ndarray:
    """TFLite's int8 softmax (beta 1) over ``axis`` (or all axes from it on, opset < 13)."""
    _fixed_output(ctx, "Softmax")
    s, _ = per_tensor(ctx.in_types[0], ctx, "Softmax", "the input")
    p = P.prepare_softmax(1.0, s)
    axis = axis % max(x.ndim, 1)
    if coerce_2d:
        return K.softmax(x.reshape(math.prod(x.shape[:axis]), -1), p).reshape(x.shape)
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(K.softmax(moved, p), -1, axis).copy()


def eval_mean(x: np.ndarray, ctx: EvalContext, op: str, axes: Sequence[int], keepdims: bool) -> np.ndarray:
    """TFLite's integer MEAN over ``axes``."""
    t = ctx.in_types[0]
    s, z = per_tensor(t, ctx, op, "the input")
    assert t is not None
    so, zo = out_params(ctx, op, t.dtype)
    axes = tuple(a % x.ndim for a in axes)
    count = math.prod(x.shape[a] for a in axes)
    mult, shift = KE.prepare_mean(s, so, count)
    lo, hi = int_bounds(t.dtype)
    y = KE.mean(x, axes, multiplier=mult, shift=shift, input_zp=z, output_zp=zo, keepdims=keepdims, qmin=lo, qmax=hi)
    return y.reshape(ctx.out_types[0].shape)


def requantize_like(x: np.ndarray, src: TensorType, dst: TensorType, ctx: EvalContext, op: str) -> np.ndarray:
    """``x`` moved from ``src``'s parameters to ``dst``'s (TFLite QUANTIZE integer arithmetic); unchanged when equal."""
    if src.quant == dst.quant and src.dtype is dst.dtype:
        return x
    s_in, z_in = per_tensor(src, ctx, op, "an input")
    s_out, z_out = per_tensor(dst, ctx, op, "the output")
    mult, shift = KE.requantize_multiplier(s_in, s_out)
    lo, hi = int_bounds(dst.dtype)
    return KE.requantize(x, mult, shift, z_in, z_out, lo, hi).astype(dst.dtype.numpy)


def eval_concat(args: Sequence[np.ndarray | None], ctx: EvalContext, axis: int) -> np.ndarray:
    """Concatenation of quantized tensors: inputs whose parameters differ from the output's are requantized first."""
    out_t = ctx.out_types[0]
    per_tensor(out_t, ctx, "Concat", "the output")
    parts = []
    for i, (a, t) in enumerate(zip(args, ctx.in_types)):
        assert a is not None and t is not None
        per_tensor(t, ctx, "Concat", f"input {i}")
        parts.append(requantize_like(a, t, out_t, ctx, "Concat"))
    return np.concatenate(parts, axis=axis)


# -- Requantize ------------------------------------------------------------------------


@register
class Requantize(OpDef):
    """Move an integer tensor to other quantization parameters (TFLite QUANTIZE between integer types)."""

    category = "quantization"
    input_names = ("x",)
    output_names = ("y",)

    @dataclass(frozen=True)
    class Attrs:
        scale: float = 1.0
        zero_point: int = 0
        dtype: DType = DType.I8

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        need(len(inputs) == 1 and inputs[0] is not None, self.name, "needs one input")
        x = inputs[0]
        assert x is not None
        need(x.type.dtype in ACTIVATION_DTYPES and x.type.quant is not None and x.type.quant.is_per_tensor, self.name, f"input must be a per-tensor quantized int8/int16 tensor, got {x.type}")
        need(attrs.dtype in ACTIVATION_DTYPES, self.name, f"output type {attrs.dtype.short} is not int8 or int16")
        need(attrs.scale > 0, self.name, f"scale {attrs.scale} must be positive")
        need(attrs.dtype.qmin <= attrs.zero_point <= attrs.dtype.qmax, self.name, f"zero point {attrs.zero_point} does not fit {attrs.dtype.short}")
        need(attrs.dtype is not DType.I16 or attrs.zero_point == 0, self.name, "int16 tensors are symmetric: zero point 0")
        return [TensorType(attrs.dtype, x.type.shape, QuantParams.per_tensor(attrs.scale, attrs.zero_point))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x, src = args[0], ctx.in_types[0]
        assert x is not None and src is not None
        return [requantize_like(x, src, ctx.out_types[0], ctx, self.name)]
