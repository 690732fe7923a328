"""Exact integer arithmetic of TFLite's int8 kernels, vectorised over NumPy int64.

Everything here follows TFLite's reference kernels (``TFLITE_SINGLE_ROUNDING``
off, the default), which CMSIS-NN reproduces bit for bit:

* a real multiplier ``m`` becomes ``(multiplier, shift)`` with
  ``m ~= multiplier * 2**(shift - 31)`` (:func:`quantize_multiplier`);
* an int32 accumulator is rescaled by a left shift (when ``shift > 0``), a
  saturating rounding doubling high multiply (round half up) and a rounding
  right shift (round half away from zero)
  (:func:`multiply_by_quantized_multiplier`, CMSIS-NN's ``arm_nn_requantize``).

Values travel as int64 arrays so that intermediate products never overflow;
wherever the C code works in int32 and could wrap, :func:`wrap_int32` applies
the same two's-complement wrap that gcc/clang produce on every target we run.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

ArrayLike = np.ndarray | int


def as_i64(x: ArrayLike) -> np.ndarray:
    """``x`` as an int64 array (a view when it already is one)."""
    return np.asarray(x, dtype=np.int64)


def wrap_int32(x: ArrayLike) -> np.ndarray:
    """Two's-complement wrap of int64 values into the int32 range."""
    x = as_i64(x)
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def trunc_div(num: np.ndarray, den: ArrayLike) -> np.ndarray:
    """C99 integer division (truncates toward zero), elementwise."""
    num = as_i64(num)
    den = as_i64(den)
    q = np.abs(num) // np.abs(den)
    return np.where((num < 0) != (den < 0), -q, q)


# --------------------------------------------------------------------------
# Real multiplier -> (int32 multiplier, shift)
# --------------------------------------------------------------------------


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)``.

    ``frexp`` splits ``real`` into ``q * 2**shift`` with ``q`` in [0.5, 1);
    ``q`` becomes ``round(q * 2**31)`` (half away from zero). When that rounds
    up to ``2**31`` it is halved and ``shift`` incremented; a ``shift`` below
    -31 flushes the multiplier to (0, 0). Zero gives (0, 0).
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):
        raise ValueError(f"cannot quantize a non-finite multiplier {real!r}")
    q, shift = math.frexp(real)
    # C's round(): half away from zero (Python's round() is banker's rounding).
    scaled = q * float(1 << 31)
    q_fixed = int(math.floor(abs(scaled) + 0.5))
    if scaled < 0:
        q_fixed = -q_fixed
    if q_fixed > (1 << 31):
        raise AssertionError("frexp mantissa out of range")  # cannot happen with |q| < 1
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if q_fixed > INT32_MAX:
        raise AssertionError("quantized multiplier exceeds int32")
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplierSmallerThanOneExp``: same as :func:`quantize_multiplier`
    for ``real < 1``, returning the (non-positive) shift as ``left_shift``."""
    mult, shift = quantize_multiplier(real)
    if shift > 0:
        raise ValueError(f"multiplier {real!r} is not smaller than one")
    return mult, shift


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplierGreaterThanOne``: ``real > 1``, non-negative ``left_shift``."""
    if real <= 1.0:
        raise ValueError(f"multiplier {real!r} is not greater than one")
    mult, shift = quantize_multiplier(real)
    if shift < 0:  # pragma: no cover - impossible for real > 1
        raise ValueError(f"multiplier {real!r} gave a negative shift")
    return mult, shift


def quantize_multipliers(reals: np.ndarray | list[float]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` per element: (int32 multipliers, int32 shifts)."""
    flat = np.asarray(reals, dtype=np.float64).reshape(-1)
    pairs = [quantize_multiplier(float(r)) for r in flat]
    mults = np.array([m for m, _ in pairs], dtype=np.int32)
    shifts = np.array([s for _, s in pairs], dtype=np.int32)
    return mults, shifts


# --------------------------------------------------------------------------
# gemmlowp fixed-point primitives
# --------------------------------------------------------------------------


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp's ``SaturatingRoundingDoublingHighMul`` on int32 values.

    ``(a * b + nudge) / 2**31`` with C truncating division, the nudge being
    ``2**30`` for non-negative products and ``1 - 2**30`` otherwise (this is
    round-half-up of ``a * b / 2**31``); ``INT32_MIN * INT32_MIN`` saturates
    to ``INT32_MAX``.
    """
    a = as_i64(a)
    b = as_i64(b)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = trunc_div(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> np.ndarray:
    """gemmlowp's ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded half away from zero.

    ``exponent`` in [0, 31] (scalar or broadcastable array).
    """
    x = as_i64(x)
    exponent = as_i64(exponent)
    if np.any((exponent < 0) | (exponent > 31)):
        raise ValueError("rounding_divide_by_pot needs an exponent in [0, 31]")
    mask = np.left_shift(np.int64(1), exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> exponent) + (remainder > threshold).astype(np.int64)


def saturating_rounding_multiply_by_pot(x: ArrayLike, exponent: int) -> np.ndarray:
    """gemmlowp's ``SaturatingRoundingMultiplyByPOT<exponent>`` on int32 values.

    Positive exponents shift left and saturate to the int32 range, negative
    ones are :func:`rounding_divide_by_pot`.
    """
    x = as_i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    shifted = wrap_int32(x << exponent)
    shifted = np.where(x > threshold, INT32_MAX, shifted)
    return np.where(x < -threshold, INT32_MIN, shifted)


def rounding_half_sum(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp's ``RoundingHalfSum`` for int32: ``(a + b + sign) / 2`` truncated."""
    s = as_i64(a) + as_i64(b)
    sign = np.where(s >= 0, 1, -1)
    return trunc_div(s + sign, 2)


def count_leading_zeros_u32(x: ArrayLike) -> np.ndarray:
    """Leading zero bits of ``x`` read as uint32 (32 for zero)."""
    u = as_i64(x) & 0xFFFFFFFF
    out = np.full(u.shape, 32, dtype=np.int64)
    nz = u != 0
    # float64 holds every uint32 exactly; frexp's exponent is the bit length.
    _, bit_length = np.frexp(u[nz].astype(np.float64))
    out[nz] = 32 - bit_length.astype(np.int64)
    return out


# --------------------------------------------------------------------------
# Requantization
# --------------------------------------------------------------------------


def multiply_by_quantized_multiplier(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike) -> np.ndarray:
    """TFLite's ``MultiplyByQuantizedMultiplier`` (= CMSIS-NN ``arm_nn_requantize``).

    ``x * 2**max(shift, 0)`` (wrapping in int32 as the C code does), then
    :func:`saturating_rounding_doubling_high_mul` by ``multiplier``, then
    :func:`rounding_divide_by_pot` by ``max(-shift, 0)``. Arrays broadcast,
    e.g. per-channel multipliers along the last axis.
    """
    x = as_i64(x)
    shift = as_i64(shift)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    scaled = wrap_int32(x << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scaled, multiplier), right)


def multiply_by_quantized_multiplier_smaller_than_one_exp(x: ArrayLike, multiplier: ArrayLike, left_shift: ArrayLike) -> np.ndarray:
    """TFLite's ``MultiplyByQuantizedMultiplierSmallerThanOneExp`` (``left_shift <= 0``)."""
    left_shift = as_i64(left_shift)
    if np.any(left_shift > 0):
        raise ValueError("left_shift must be <= 0")
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -left_shift)


def multiply_by_quantized_multiplier_greater_than_one(x: ArrayLike, multiplier: ArrayLike, left_shift: ArrayLike) -> np.ndarray:
    """TFLite's ``MultiplyByQuantizedMultiplierGreaterThanOne`` (``left_shift >= 0``)."""
    left_shift = as_i64(left_shift)
    if np.any(left_shift < 0):
        raise ValueError("left_shift must be >= 0")
    return saturating_rounding_doubling_high_mul(wrap_int32(as_i64(x) << left_shift), multiplier)


def requantize(
    acc: ArrayLike,
    multiplier: ArrayLike,
    shift: ArrayLike,
    out_zp: int,
    act_min: int,
    act_max: int,
) -> np.ndarray:
    """int32 accumulator -> output integer: rescale, add the zero point, clamp.

    Returns int64 values inside ``[act_min, act_max]``; callers cast to the
    output dtype.
    """
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + int(out_zp)
    return np.clip(out, int(act_min), int(act_max))
