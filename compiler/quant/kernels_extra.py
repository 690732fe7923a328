"""More NumPy integer kernels with TFLite (Micro) reference semantics.

:mod:`tinyc.quant.kernels` holds the int8 kernels CMSIS-NN implements; this
module adds what the quantized IR needs beyond them:

* int8 ``hard_swish`` (TFLite's 16-bit fixed-point HardSwish), ``mean``
  (TFLite's integer MEAN), ``requantize`` (TFLite QUANTIZE between integer
  types) and ``relu`` (TFLite's RELU with an output rescale);
* the 16x8 kernels (int16 activations, int8 weights, int64 bias and
  accumulator): ``conv2d_s16``, ``depthwise_conv2d_s16``,
  ``fully_connected_s16``, ``add_s16``, ``mul_s16``, ``avg_pool2d_s16``,
  ``max_pool2d_s16``.

Parameters come from scales and zero points through the ``prepare_*``
functions here (and :mod:`tinyc.quant.params`), mirroring TFLite's
``Prepare`` arithmetic, including where it computes in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyc.quant.arith import (
    as_i64,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_smaller_than_one_exp,
    quantize_multiplier,
    rounding_divide_by_pot,
    trunc_div,
    wrap_int32,
)
from tinyc.quant.params import AddParams, MulParams

Pair = tuple[int, int]
INT16_MIN = -(2**15)
INT16_MAX = 2**15 - 1


# --------------------------------------------------------------------------
# Requantize, ReLU
# --------------------------------------------------------------------------


def requantize_multiplier(input_scale: float, output_scale: float) -> tuple[int, int]:
    """(multiplier, shift) of ``input_scale / output_scale`` in float64 from float32 scales (TFLite QUANTIZE, RELU, MEAN)."""
    return quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))


def requantize(x: np.ndarray, multiplier: int, shift: int, input_zp: int, output_zp: int, qmin: int, qmax: int) -> np.ndarray:
    """TFLite's integer-to-integer QUANTIZE: ``(x - zp_in) * m`` by fixed point, plus ``zp_out``, saturated.

    Returns int64 values in ``[qmin, qmax]``; callers cast.
    """
    out = multiply_by_quantized_multiplier(as_i64(x) - int(input_zp), multiplier, shift) + int(output_zp)
    return np.clip(out, qmin, qmax)


def relu(x: np.ndarray, multiplier: int, shift: int, input_zp: int, output_zp: int, act_min: int, act_max: int) -> np.ndarray:
    """TFLite's quantized RELU / ReluX: rescale to the output's parameters, then clamp to the activation range.

    With equal input and output parameters the rescale is exact (multiplier
    2**30, shift 1) and this is a plain clamp, which is what TFLM's RELU6 does.
    """
    return requantize(x, multiplier, shift, input_zp, output_zp, act_min, act_max)


# --------------------------------------------------------------------------
# HardSwish (int8): TFLite's reference kernel on 16-bit fixed point
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class HardSwishParams:
    """TFLite's ``HardSwishParams``: two multipliers reduced to int16 with their exponents."""

    input_zero_point: int
    output_zero_point: int
    reluish_multiplier_fixedpoint_int16: int
    reluish_multiplier_exponent: int
    output_multiplier_fixedpoint_int16: int
    output_multiplier_exponent: int


def _downscale_multiplier_to_int16(m: int) -> int:
    """TFLite's ``DownScaleInt32ToInt16Multiplier``: round a Q31 multiplier to Q15, saturating."""
    if m >= (2**31 - 1) - (1 << 15):
        return INT16_MAX
    return (m + (1 << 15)) >> 16


def prepare_hard_swish(input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> HardSwishParams:
    """TFLite's HardSwish preparation (float32 scale arithmetic, then ``QuantizeMultiplier``)."""
    s_in = np.float32(input_scale)
    hires_input_scale = np.float32(1.0 / 128.0) * s_in
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    out_mult = float(hires_input_scale / np.float32(output_scale))
    om, oe = quantize_multiplier(out_mult)
    rel_mult = float(hires_input_scale / reluish_scale)
    rm, re = quantize_multiplier(rel_mult)
    if oe > 0:
        raise ValueError(f"HardSwish output scale {output_scale} is too small for input scale {input_scale} (TFLite needs the output multiplier exponent <= 0)")
    return HardSwishParams(int(input_zp), int(output_zp), _downscale_multiplier_to_int16(rm), re, _downscale_multiplier_to_int16(om), oe)


def _sat16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, INT16_MIN, INT16_MAX)


def _srdhm16(a: np.ndarray, b: int | np.ndarray) -> np.ndarray:
    """gemmlowp's int16 ``SaturatingRoundingDoublingHighMul``: round-half-up of a*b / 2**15."""
    a = as_i64(a)
    b = as_i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    out = trunc_div(ab + nudge, 1 << 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, out)


def _sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLite's int16 ``SaturatingDoublingHighMul``: a*b / 2**15 truncated toward zero (no rounding nudge)."""
    a = as_i64(a)
    b = as_i64(b)
    out = trunc_div(a * b, 1 << 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, out)


def _saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    return _sat16(as_i64(x) * (1 << amount))


def hard_swish(x: np.ndarray, p: HardSwishParams) -> np.ndarray:
    """TFLite's quantized HardSwish, ``x * relu6(x + 3) / 6``, on 16-bit fixed point.

    The input, moved to a 2**7 finer scale, is (a) rescaled to the output's
    scale and (b) mapped to a "relu-ish" factor in [0, 1] with saturation at
    |x| >= 3; the two are multiplied without rounding (TFLite's choice that
    cancels the biases of the rounding multiplies) and shifted to the output.
    """
    value = as_i64(x) - p.input_zero_point
    hires = value * (1 << 7)
    preshift_out = _srdhm16(hires, p.output_multiplier_fixedpoint_int16)
    reluish = hires
    exp = p.reluish_multiplier_exponent
    if exp > 0:
        reluish = _saturating_left_shift16(reluish, exp - 1)
    reluish = _srdhm16(reluish, p.reluish_multiplier_fixedpoint_int16)
    if exp > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    elif exp < 0:
        reluish = rounding_divide_by_pot(reluish, -exp)
    reluish = (reluish + (1 << 15)) >> 1  # [-1, 1] in Q15 -> [0, 1] in Q15
    preshift = _sdhm16(reluish, preshift_out)
    out = rounding_divide_by_pot(preshift, -p.output_multiplier_exponent) + p.output_zero_point
    return np.clip(out, -128, 127).astype(np.int8)


# --------------------------------------------------------------------------
# Mean (TFLite's integer MEAN), any axes
# --------------------------------------------------------------------------


def prepare_mean(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """TFLite's MEAN (multiplier, shift): ``s_in / s_out`` with the division by ``count`` folded in.

    The Q31 multiplier is shifted left by floor(log2(count)) (at most 32, and
    keeping the final shift >= -31) and divided by ``count`` with truncation.
    """
    mult, shift = requantize_multiplier(input_scale, output_scale)
    if count > 0:
        extra = min(count.bit_length() - 1, 32, 31 + shift)
        mult = (mult << extra) // count
        shift -= extra
    return int(mult), int(shift)


def mean(
    x: np.ndarray,
    axes: tuple[int, ...],
    *,
    multiplier: int,
    shift: int,
    input_zp: int,
    output_zp: int,
    keepdims: bool = True,
    qmin: int = -128,
    qmax: int = 127,
) -> np.ndarray:
    """TFLite's integer MEAN (``QuantizedMeanOrSum``): the int32 sum of ``x - zp_in`` over ``axes``
    rescaled by the fixed-point multiplier of :func:`prepare_mean` (which includes 1 / count),
    plus ``zp_out``, saturated. TFLM and LiteRT agree with it bit for bit.
    """
    axes = tuple(sorted(a % x.ndim for a in axes))
    acc = wrap_int32((as_i64(x) - int(input_zp)).sum(axis=axes, keepdims=keepdims))
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + int(output_zp)
    return np.clip(out, qmin, qmax).astype(np.int8 if qmax <= 127 else np.int16)


# --------------------------------------------------------------------------
# 16x8: int16 activations (zero point 0), int8 weights, int64 bias
# --------------------------------------------------------------------------


def multiply_by_quantized_multiplier_s64(x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """TFLite's ``MultiplyByQuantizedMultiplier`` for int64 accumulators (CMSIS-NN ``arm_nn_requantize_s64``).

    The Q31 multiplier is first reduced to Q15 (rounded, saturating at
    0x7FFF), then ``x * m15`` is shifted right by ``15 - shift`` rounding half
    up. TFLite requires |x| < 2**47 and shift in [-31, 7].
    """
    x = as_i64(x)
    m = as_i64(multiplier)
    shift = as_i64(shift)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - shift
    return wrap_int32((x * reduced + np.left_shift(np.int64(1), total - 1)) >> total)


def _finish_s16(acc: np.ndarray, bias: np.ndarray | None, multiplier: np.ndarray | int, shift: np.ndarray | int, act_min: int, act_max: int) -> np.ndarray:
    if bias is not None:
        acc = acc + as_i64(bias)
    out = multiply_by_quantized_multiplier_s64(acc, multiplier, shift)
    return np.clip(out, act_min, act_max).astype(np.int16)


def _patches(x: np.ndarray, k_hw: Pair, stride: Pair, padding: Pair, dilation: Pair, out_hw: Pair, fill: int) -> np.ndarray:
    """[N, OH, OW, KH, KW, C] windows of NHWC ``x`` (int64); ``padding`` is (top, left), outside reads ``fill``."""
    n, h, w, c = x.shape
    oh, ow = out_hw
    bottom = max((oh - 1) * stride[0] + (k_hw[0] - 1) * dilation[0] + 1 - h - padding[0], 0)
    right = max((ow - 1) * stride[1] + (k_hw[1] - 1) * dilation[1] + 1 - w - padding[1], 0)
    xp = np.pad(as_i64(x), ((0, 0), (padding[0], bottom), (padding[1], right), (0, 0)), constant_values=fill)
    out = np.empty((n, oh, ow, k_hw[0], k_hw[1], c), dtype=np.int64)
    for ky in range(k_hw[0]):
        for kx in range(k_hw[1]):
            y0, x0 = ky * dilation[0], kx * dilation[1]
            out[:, :, :, ky, kx, :] = xp[:, y0 : y0 + (oh - 1) * stride[0] + 1 : stride[0], x0 : x0 + (ow - 1) * stride[1] + 1 : stride[1], :]
    return out


def conv2d_s16(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    *,
    multiplier: np.ndarray,
    shift: np.ndarray,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
    act_min: int = INT16_MIN,
    act_max: int = INT16_MAX,
    output_hw: Pair,
) -> np.ndarray:
    """TFLite 16x8 ``ConvPerChannel``: int16 NHWC input (zero point 0), [C_OUT, KH, KW, C_IN / groups] int8 filter."""
    n, _, _, c_in = x.shape
    c_out, kh, kw, ck = w.shape
    groups = c_in // ck
    per_group = c_out // groups
    patches = _patches(x, (kh, kw), stride, padding, dilation, output_hw, 0)
    oh, ow = output_hw
    acc = np.empty((n, oh, ow, c_out), dtype=np.int64)
    wi = as_i64(w)
    for g in range(groups):
        cols = patches[..., g * ck : (g + 1) * ck].reshape(n, oh, ow, kh * kw * ck)
        acc[..., g * per_group : (g + 1) * per_group] = cols @ wi[g * per_group : (g + 1) * per_group].reshape(per_group, -1).T
    return _finish_s16(acc, bias, np.broadcast_to(as_i64(multiplier), (c_out,)), np.broadcast_to(as_i64(shift), (c_out,)), act_min, act_max)


def depthwise_conv2d_s16(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    *,
    multiplier: np.ndarray,
    shift: np.ndarray,
    depth_multiplier: int = 1,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
    act_min: int = INT16_MIN,
    act_max: int = INT16_MAX,
    output_hw: Pair,
) -> np.ndarray:
    """TFLite 16x8 ``DepthwiseConvPerChannel``: filter [1, KH, KW, C_IN * depth_multiplier]."""
    n, _, _, c_in = x.shape
    _, kh, kw, c_out = w.shape
    patches = _patches(x, (kh, kw), stride, padding, dilation, output_hw, 0)
    wf = as_i64(w).reshape(kh, kw, c_in, depth_multiplier)
    acc = np.einsum("nyxhwc,hwcm->nyxcm", patches, wf).reshape(n, *output_hw, c_out)
    return _finish_s16(acc, bias, np.broadcast_to(as_i64(multiplier), (c_out,)), np.broadcast_to(as_i64(shift), (c_out,)), act_min, act_max)


def fully_connected_s16(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    *,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    act_min: int = INT16_MIN,
    act_max: int = INT16_MAX,
) -> np.ndarray:
    """TFLite 16x8 ``FullyConnected``: ``x`` [..., N] int16, filter [C_OUT, N] int8, int64 bias."""
    acc = as_i64(x) @ as_i64(w).T
    return _finish_s16(acc, bias, multiplier, shift, act_min, act_max)


def add_s16(x1: np.ndarray, x2: np.ndarray, p: AddParams) -> np.ndarray:
    """TFLite's general int16 ADD: the int8 scheme with a left shift of 15 (``prepare_add(..., left_shift=15)``)."""
    a = wrap_int32((as_i64(x1) + p.input1_offset) << p.left_shift)
    b = wrap_int32((as_i64(x2) + p.input2_offset) << p.left_shift)
    a = multiply_by_quantized_multiplier_smaller_than_one_exp(a, p.input1_multiplier, p.input1_shift)
    b = multiply_by_quantized_multiplier_smaller_than_one_exp(b, p.input2_multiplier, p.input2_shift)
    raw = multiply_by_quantized_multiplier_smaller_than_one_exp(wrap_int32(a + b), p.output_multiplier, p.output_shift)
    return np.clip(raw + p.output_offset, p.act_min, p.act_max).astype(np.int16)


def mul_s16(x1: np.ndarray, x2: np.ndarray, p: MulParams) -> np.ndarray:
    """TFLite's int16 MUL: the int8 scheme saturated to int16."""
    prod = (as_i64(x1) + p.input1_offset) * (as_i64(x2) + p.input2_offset)
    raw = multiply_by_quantized_multiplier(prod, p.output_multiplier, p.output_shift) + p.output_offset
    return np.clip(raw, p.act_min, p.act_max).astype(np.int16)


def avg_pool2d_s16(x: np.ndarray, *, filter_hw: Pair, stride: Pair, padding: Pair, act_min: int, act_max: int, output_hw: Pair) -> np.ndarray:
    """TFLite int16 ``AveragePool``: the int8 rounding (half away from zero) over the pixels inside the image."""
    sums = _patches(x, filter_hw, stride, padding, (1, 1), output_hw, 0).sum(axis=(3, 4))
    ones = np.ones((1, *x.shape[1:3], 1), dtype=np.int64)
    counts = _patches(ones, filter_hw, stride, padding, (1, 1), output_hw, 0).sum(axis=(3, 4))
    half = counts // 2
    avg = np.where(sums > 0, trunc_div(sums + half, counts), trunc_div(sums - half, counts))
    return np.clip(avg, act_min, act_max).astype(np.int16)


def max_pool2d_s16(x: np.ndarray, *, filter_hw: Pair, stride: Pair, padding: Pair, act_min: int, act_max: int, output_hw: Pair) -> np.ndarray:
    """TFLite int16 ``MaxPool``: the maximum over the pixels inside the image, clamped."""
    lowest = np.iinfo(np.int64).min
    mx = _patches(x, filter_hw, stride, padding, (1, 1), output_hw, lowest).max(axis=(3, 4))
    return np.clip(mx, act_min, act_max).astype(np.int16)
