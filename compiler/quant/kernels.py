"""NumPy reference int8 kernels with TFLite reference-kernel semantics.

Parameters are explicit (offsets, per-channel multipliers and shifts, padding
before the first pixel, activation range) in the form TFLite's kernels and
CMSIS-NN take them, so these functions are the oracle both for the IR's
quantized ``evaluate`` and for the C runtime in ``runtime_c/``. See
:mod:`tinyc.quant.params` for how the parameters come from scales and zero
points.

Layouts: activations NHWC; conv filters [C_OUT, KH, KW, C_IN / groups];
depthwise filters [1, KH, KW, C_IN * depth_multiplier]; fully-connected
filters [C_OUT, N]; biases int32 [C_OUT]. Accumulation is in int64 and wrapped
to int32 where the C code accumulates in int32.
"""

from __future__ import annotations

import math

import numpy as np

from tinyc.quant.arith import (
    INT32_MAX,
    as_i64,
    count_leading_zeros_u32,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_greater_than_one,
    multiply_by_quantized_multiplier_smaller_than_one_exp,
    requantize,
    rounding_divide_by_pot,
    rounding_half_sum,
    saturating_rounding_doubling_high_mul,
    saturating_rounding_multiply_by_pot,
    trunc_div,
    wrap_int32,
)
from tinyc.quant.params import (
    INT8_MAX,
    INT8_MIN,
    SOFTMAX_ACCUMULATION_INTEGER_BITS,
    SOFTMAX_SCALED_DIFF_INTEGER_BITS,
    AddParams,
    LogisticTanhParams,
    MulParams,
    SoftmaxParams,
)

Pair = tuple[int, int]


def _check_rank(name: str, arr: np.ndarray, rank: int) -> None:
    if arr.ndim != rank:
        raise ValueError(f"{name} must have rank {rank}, got shape {arr.shape}")


def _out_hw(in_hw: Pair, k_hw: Pair, stride: Pair, padding: Pair, dilation: Pair, output_hw: Pair | None) -> Pair:
    """Output size: given, or the one symmetric ``padding`` on both sides produces."""
    if output_hw is not None:
        return int(output_hw[0]), int(output_hw[1])
    out = []
    for i in range(2):
        eff = (k_hw[i] - 1) * dilation[i] + 1
        out.append((in_hw[i] + 2 * padding[i] - eff) // stride[i] + 1)
    return out[0], out[1]


def _windows(xo: np.ndarray, k_hw: Pair, stride: Pair, padding: Pair, dilation: Pair, out_hw: Pair, fill: int) -> np.ndarray:
    """Patches [N, OH, OW, KH, KW, C] of NHWC ``xo``; outside the image reads ``fill``."""
    n, h, w, c = xo.shape
    oh, ow = out_hw
    need_h = (oh - 1) * stride[0] + (k_hw[0] - 1) * dilation[0] + 1
    need_w = (ow - 1) * stride[1] + (k_hw[1] - 1) * dilation[1] + 1
    bottom = max(need_h - h - padding[0], 0)
    right = max(need_w - w - padding[1], 0)
    xp = np.pad(xo, ((0, 0), (padding[0], bottom), (padding[1], right), (0, 0)), constant_values=fill)
    patches = np.empty((n, oh, ow, k_hw[0], k_hw[1], c), dtype=xo.dtype)
    for ky in range(k_hw[0]):
        y0 = ky * dilation[0]
        for kx in range(k_hw[1]):
            x0 = kx * dilation[1]
            patches[:, :, :, ky, kx, :] = xp[:, y0 : y0 + (oh - 1) * stride[0] + 1 : stride[0], x0 : x0 + (ow - 1) * stride[1] + 1 : stride[1], :]
    return patches


def _finish(acc: np.ndarray, bias: np.ndarray | None, multiplier: np.ndarray | int, shift: np.ndarray | int, output_offset: int, act_min: int, act_max: int) -> np.ndarray:
    if bias is not None:
        acc = acc + as_i64(bias)
    acc = wrap_int32(acc)
    return requantize(acc, multiplier, shift, output_offset, act_min, act_max).astype(np.int8)


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    *,
    input_offset: int,
    output_offset: int,
    multiplier: np.ndarray,
    shift: np.ndarray,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
    act_min: int = INT8_MIN,
    act_max: int = INT8_MAX,
    output_hw: Pair | None = None,
) -> np.ndarray:
    """TFLite ``ConvPerChannel`` (int8): NHWC input, [C_OUT, KH, KW, C_IN / groups] filter.

    ``padding`` is (top, left); ``output_hw`` the output size (default: what a
    symmetric padding gives). Grouped convolution follows from the filter depth.
    Padded pixels contribute nothing (they read as the input zero point).
    """
    _check_rank("conv2d input", x, 4)
    _check_rank("conv2d filter", w, 4)
    n, h, wd, c_in = x.shape
    c_out, kh, kw, ck = w.shape
    if c_in % ck or c_out % (c_in // ck):
        raise ValueError(f"filter depth {ck} and {c_out} outputs do not divide {c_in} input channels into groups")
    groups = c_in // ck
    oh, ow = _out_hw((h, wd), (kh, kw), stride, padding, dilation, output_hw)
    xo = as_i64(x) + int(input_offset)
    patches = _windows(xo, (kh, kw), stride, padding, dilation, (oh, ow), 0)
    mult = np.broadcast_to(as_i64(multiplier), (c_out,))
    sh = np.broadcast_to(as_i64(shift), (c_out,))
    per_group = c_out // groups
    acc = np.empty((n, oh, ow, c_out), dtype=np.int64)
    wi = as_i64(w)
    for g in range(groups):
        cols = patches[..., g * ck : (g + 1) * ck].reshape(n, oh, ow, kh * kw * ck)
        wg = wi[g * per_group : (g + 1) * per_group].reshape(per_group, kh * kw * ck)
        acc[..., g * per_group : (g + 1) * per_group] = cols @ wg.T
    return _finish(acc, bias, mult, sh, output_offset, act_min, act_max)


def depthwise_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    *,
    input_offset: int,
    output_offset: int,
    multiplier: np.ndarray,
    shift: np.ndarray,
    depth_multiplier: int = 1,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
    act_min: int = INT8_MIN,
    act_max: int = INT8_MAX,
    output_hw: Pair | None = None,
) -> np.ndarray:
    """TFLite ``DepthwiseConvPerChannel`` (int8): filter [1, KH, KW, C_IN * depth_multiplier].

    Output channel ``ic * depth_multiplier + m`` reads input channel ``ic``.
    """
    _check_rank("depthwise input", x, 4)
    _check_rank("depthwise filter", w, 4)
    n, h, wd, c_in = x.shape
    _, kh, kw, c_out = w.shape
    if c_out != c_in * depth_multiplier:
        raise ValueError(f"depthwise filter has {c_out} channels, expected {c_in} * {depth_multiplier}")
    oh, ow = _out_hw((h, wd), (kh, kw), stride, padding, dilation, output_hw)
    xo = as_i64(x) + int(input_offset)
    patches = _windows(xo, (kh, kw), stride, padding, dilation, (oh, ow), 0)
    wf = as_i64(w).reshape(kh, kw, c_in, depth_multiplier)
    acc = np.einsum("nyxhwc,hwcm->nyxcm", patches, wf).reshape(n, oh, ow, c_out)
    mult = np.broadcast_to(as_i64(multiplier), (c_out,))
    sh = np.broadcast_to(as_i64(shift), (c_out,))
    return _finish(acc, bias, mult, sh, output_offset, act_min, act_max)


def fully_connected(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    *,
    input_offset: int,
    output_offset: int,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    filter_offset: int = 0,
    act_min: int = INT8_MIN,
    act_max: int = INT8_MAX,
) -> np.ndarray:
    """TFLite ``FullyConnected`` (int8): ``x`` [..., N], filter [C_OUT, N] row-major.

    ``multiplier``/``shift`` are scalars (per tensor) or [C_OUT] arrays (per channel).
    """
    _check_rank("fully-connected filter", w, 2)
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"input depth {x.shape[-1]} does not match filter {w.shape}")
    acc = (as_i64(x) + int(input_offset)) @ (as_i64(w) + int(filter_offset)).T
    return _finish(acc, bias, multiplier, shift, output_offset, act_min, act_max)


def avg_pool2d(
    x: np.ndarray,
    *,
    filter_hw: Pair,
    stride: Pair,
    padding: Pair = (0, 0),
    act_min: int = INT8_MIN,
    act_max: int = INT8_MAX,
    output_hw: Pair | None = None,
) -> np.ndarray:
    """TFLite ``AveragePool`` (int8): the mean over the window's pixels inside the image.

    Padding is not counted; the mean rounds half away from zero
    (``(sum +- count / 2) / count`` with C division). Input and output share
    their quantization, so no rescaling.
    """
    _check_rank("avg_pool input", x, 4)
    h, wd = x.shape[1:3]
    oh, ow = _out_hw((h, wd), filter_hw, stride, padding, (1, 1), output_hw)
    sums = _windows(as_i64(x), filter_hw, stride, padding, (1, 1), (oh, ow), 0).sum(axis=(3, 4))
    ones = np.ones((1, h, wd, 1), dtype=np.int64)
    counts = _windows(ones, filter_hw, stride, padding, (1, 1), (oh, ow), 0).sum(axis=(3, 4))
    if np.any(counts == 0):
        raise ValueError("an average-pool window lies entirely in the padding")
    half = counts // 2
    avg = np.where(sums > 0, trunc_div(sums + half, counts), trunc_div(sums - half, counts))
    return np.clip(avg, act_min, act_max).astype(np.int8)


def max_pool2d(
    x: np.ndarray,
    *,
    filter_hw: Pair,
    stride: Pair,
    padding: Pair = (0, 0),
    act_min: int = INT8_MIN,
    act_max: int = INT8_MAX,
    output_hw: Pair | None = None,
) -> np.ndarray:
    """TFLite ``MaxPool`` (int8): the maximum over the window's pixels inside the image, clamped."""
    _check_rank("max_pool input", x, 4)
    h, wd = x.shape[1:3]
    oh, ow = _out_hw((h, wd), filter_hw, stride, padding, (1, 1), output_hw)
    lowest = np.iinfo(np.int64).min
    mx = _windows(as_i64(x), filter_hw, stride, padding, (1, 1), (oh, ow), lowest).max(axis=(3, 4))
    if np.any(mx == lowest):
        raise ValueError("a max-pool window lies entirely in the padding")
    return np.clip(mx, act_min, act_max).astype(np.int8)


def clamp(x: np.ndarray, act_min: int, act_max: int) -> np.ndarray:
    """ReLU / ReLU6 / ReLU_N1_TO_1 on quantized values: a clamp to the activation range."""
    return np.clip(as_i64(x), act_min, act_max).astype(x.dtype)


def add(x1: np.ndarray, x2: np.ndarray, p: AddParams) -> np.ndarray:
    """TFLite int8 ``Add`` (with NumPy broadcasting, as ``BroadcastAdd`` does)."""
    a = wrap_int32((as_i64(x1) + p.input1_offset) << p.left_shift)
    b = wrap_int32((as_i64(x2) + p.input2_offset) << p.left_shift)
    a = multiply_by_quantized_multiplier_smaller_than_one_exp(a, p.input1_multiplier, p.input1_shift)
    b = multiply_by_quantized_multiplier_smaller_than_one_exp(b, p.input2_multiplier, p.input2_shift)
    raw = multiply_by_quantized_multiplier_smaller_than_one_exp(wrap_int32(a + b), p.output_multiplier, p.output_shift)
    return np.clip(raw + p.output_offset, p.act_min, p.act_max).astype(np.int8)


def mul(x1: np.ndarray, x2: np.ndarray, p: MulParams) -> np.ndarray:
    """TFLite int8 ``Mul`` (with NumPy broadcasting)."""
    prod = (as_i64(x1) + p.input1_offset) * (as_i64(x2) + p.input2_offset)
    raw = multiply_by_quantized_multiplier(prod, p.output_multiplier, p.output_shift) + p.output_offset
    return np.clip(raw, p.act_min, p.act_max).astype(np.int8)


# --------------------------------------------------------------------------
# Softmax: gemmlowp fixed point, as TFLite's reference int8 softmax
# --------------------------------------------------------------------------


def _fx_const(value: float, integer_bits: int) -> int:
    """A real constant as a raw int32 fixed-point value with ``integer_bits`` integer bits."""
    return int(round(value * 2.0 ** (31 - integer_bits)))


_EXP_NEG_QUARTER_INTERVAL_CONST = _fx_const(math.exp(-1.0 / 8.0), 0)
_ONE_THIRD = _fx_const(1.0 / 3.0, 0)
# exp(-2**k) in Q0.31 for the barrel shifter over the integer part of -x.
_EXP_BARREL = tuple((k, _fx_const(math.exp(-(2.0**k)), 0)) for k in range(-2, 5))
_48_OVER_17 = _fx_const(48.0 / 17.0, 2)
_NEG_32_OVER_17 = _fx_const(-32.0 / 17.0, 2)


def _srdhm(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    return saturating_rounding_doubling_high_mul(a, b)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for Q0.31 ``a`` in [-1/4, 0): Taylor series around -1/8."""
    x = wrap_int32(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(wrap_int32(_srdhm(wrap_int32(x4_over_4 + x3), _ONE_THIRD) + x2), -1)
    c = _EXP_NEG_QUARTER_INTERVAL_CONST
    # exp(a) = exp(-1/8) * exp(x) ~= exp(-1/8) * (1 + x + x^2/2 + x^3/6 + x^4/24)
    return wrap_int32(c + _srdhm(np.int64(c), wrap_int32(x + poly)))


def exp_on_negative_values(a: np.ndarray, integer_bits: int = SOFTMAX_SCALED_DIFF_INTEGER_BITS) -> np.ndarray:
    """gemmlowp ``exp_on_negative_values``: Q(integer_bits).(31-integer_bits) input <= 0, Q0.31 output."""
    a = as_i64(a)
    frac_bits = 31 - integer_bits
    quarter = 1 << (frac_bits - 2)
    a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_quarter, integer_bits)
    )
    remainder = wrap_int32(a_mod_quarter_minus_quarter - a)
    for k, mult in _EXP_BARREL:
        if integer_bits > k:
            bit = (remainder >> (frac_bits + k)) & 1
            result = np.where(bit == 1, _srdhm(result, mult), result)
    if integer_bits > 5:
        clamp_raw = -(1 << (36 - integer_bits))
        result = np.where(a < clamp_raw, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``one_over_one_plus_x_for_x_in_0_1``: Newton-Raphson on Q0.31 values."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap_int32(_48_OVER_17 + _srdhm(half_denominator, _NEG_32_OVER_17))
    one_q2 = 1 << 29
    for _ in range(3):
        half_denominator_times_x = _srdhm(half_denominator, x)
        one_minus = wrap_int32(one_q2 - half_denominator_times_x)
        x = wrap_int32(x + saturating_rounding_multiply_by_pot(_srdhm(x, one_minus), 2))
    return saturating_rounding_multiply_by_pot(x, 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``one_minus_x_over_one_plus_x_for_x_in_0_1``: (1 - a) / (1 + a) on Q0.31 values."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap_int32(_48_OVER_17 + _srdhm(half_denominator, _NEG_32_OVER_17))
    one_q2 = 1 << 29
    for _ in range(3):
        one_minus = wrap_int32(one_q2 - _srdhm(half_denominator, x))
        x = wrap_int32(x + saturating_rounding_multiply_by_pot(_srdhm(x, one_minus), 2))
    # x ~= 2 / (1 + a) in Q2.29; 2 / (1 + a) - 1 = (1 - a) / (1 + a)
    return saturating_rounding_multiply_by_pot(wrap_int32(x - one_q2), 2)


def _logistic_q0(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``logistic`` of Q4.27 values, Q0.31 result."""
    positive = a > 0
    abs_a = np.where(positive, a, -a)
    pos = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs_a, integer_bits=4))
    neg = wrap_int32(INT32_MAX - pos)
    return np.where(a == 0, 1 << 30, np.where(positive, pos, neg))


def _tanh_q0(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``tanh`` of Q4.27 values, Q0.31 result."""
    negative = a < 0
    n = np.where(negative, a, -a)  # -|a|, read as Q5.26 it is 2 * -|a|
    t = exp_on_negative_values(n, integer_bits=5)
    result = one_minus_x_over_one_plus_x_for_x_in_0_1(t)
    return np.where(a == 0, 0, np.where(negative, -result, result))


def _logistic_tanh_input(x: np.ndarray, p: LogisticTanhParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    diff = as_i64(x) - p.input_zero_point
    low = diff <= -p.input_range_radius
    high = diff >= p.input_range_radius
    inside = np.where(low | high, 0, diff)
    q4 = multiply_by_quantized_multiplier(inside, p.input_multiplier, p.input_left_shift)
    return q4, low, high


def logistic(x: np.ndarray, p: LogisticTanhParams) -> np.ndarray:
    """TFLite Micro's int8 logistic (gemmlowp fixed point); output scale 1/256, zero point -128."""
    q4, low, high = _logistic_tanh_input(x, p)
    out = np.clip(rounding_divide_by_pot(_logistic_q0(q4), 31 - 8) + INT8_MIN, INT8_MIN, INT8_MAX)
    return np.where(low, INT8_MIN, np.where(high, INT8_MAX, out)).astype(np.int8)


def tanh(x: np.ndarray, p: LogisticTanhParams) -> np.ndarray:
    """TFLite Micro's int8 tanh (gemmlowp fixed point); output scale 1/128, zero point 0."""
    q4, low, high = _logistic_tanh_input(x, p)
    out = np.clip(rounding_divide_by_pot(_tanh_q0(q4), 31 - 7), INT8_MIN, INT8_MAX)
    return np.where(low, INT8_MIN, np.where(high, INT8_MAX, out)).astype(np.int8)


def softmax(x: np.ndarray, p: SoftmaxParams) -> np.ndarray:
    """TFLite's reference int8 softmax over the last axis; output scale 1/256, zero point -128."""
    xi = as_i64(x)
    diff = xi - xi.max(axis=-1, keepdims=True)
    valid = diff >= p.diff_min
    rescaled = multiply_by_quantized_multiplier_greater_than_one(np.where(valid, diff, 0), p.input_multiplier, p.input_left_shift)
    exps = exp_on_negative_values(rescaled)
    terms = rounding_divide_by_pot(exps, SOFTMAX_ACCUMULATION_INTEGER_BITS)
    sum_of_exps = wrap_int32(np.where(valid, terms, 0).sum(axis=-1, keepdims=True))
    headroom_plus_one = count_leading_zeros_u32(sum_of_exps)
    num_bits_over_unit = SOFTMAX_ACCUMULATION_INTEGER_BITS - headroom_plus_one
    shifted_sum_minus_one = wrap_int32(((sum_of_exps & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    exponent = num_bits_over_unit + 31 - 8
    # Past a shift of 31 (a sum of exponentials >= 512: long, nearly flat rows)
    # TFLite and TFLM abort on a failed check. Every probability is then below
    # 1/512, so we return the zero point (-128), within half an LSB.
    prod = _srdhm(shifted_scale, exps)
    unsat = np.where(exponent <= 31, rounding_divide_by_pot(prod, np.minimum(exponent, 31)), 0)
    out = np.clip(unsat + INT8_MIN, INT8_MIN, INT8_MAX)
    return np.where(valid, out, INT8_MIN).astype(np.int8)
