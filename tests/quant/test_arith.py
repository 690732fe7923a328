"""Property tests of the fixed-point helpers against an independent big-integer oracle.

The oracle works with exact rationals (``fractions.Fraction``) and states each
rounding rule directly ("half up", "half away from zero"), rather than
repeating the nudge-and-truncate tricks the implementation uses.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinyc.quant import arith

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1
int32s = st.integers(I32_MIN, I32_MAX)


# --------------------------------------------------------------------------
# oracle
# --------------------------------------------------------------------------


def round_half_up(q: Fraction) -> int:
    return math.floor(q + Fraction(1, 2))


def round_half_away(q: Fraction) -> int:
    r = math.floor(abs(q) + Fraction(1, 2))
    return r if q >= 0 else -r


def wrap32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def oracle_srdhm(a: int, b: int) -> int:
    if a == b == I32_MIN:
        return I32_MAX
    return round_half_up(Fraction(a * b, 2**31))


def oracle_rdbp(x: int, e: int) -> int:
    return round_half_away(Fraction(x, 2**e))


def oracle_mbqm(x: int, m: int, shift: int) -> int:
    left = max(shift, 0)
    right = max(-shift, 0)
    return oracle_rdbp(oracle_srdhm(wrap32(x * 2**left), m), right)


def oracle_quantize_multiplier(real: float) -> tuple[int, int]:
    """Smallest-error (m, s) with m in [2**30, 2**31) and real ~= m * 2**(s - 31)."""
    if real == 0:
        return 0, 0
    exact = Fraction(real)
    s = 0
    while exact >= 1:  # normalise to [0.5, 1)
        exact /= 2
        s += 1
    while exact < Fraction(1, 2):
        exact *= 2
        s -= 1
    m = round_half_away(exact * 2**31)
    if m == 2**31:
        m, s = 2**30, s + 1
    if s < -31:
        return 0, 0
    return m, s


# --------------------------------------------------------------------------
# quantize_multiplier
# --------------------------------------------------------------------------


positive_reals = st.floats(min_value=1e-12, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(positive_reals)
@example(1.0)
@example(0.5)
@example(1.0 - 2.0**-40)  # rounds up to 2**31: halved, shift + 1
@example(2.0**-31)
@example(2.0**-32)  # shift -31: the smallest kept
@example(2.0**-33)  # shift -32 < -31: flushed to zero
@example(0.75)
def test_quantize_multiplier_matches_oracle(real: float) -> None:
    m, s = arith.quantize_multiplier(real)
    assert (m, s) == oracle_quantize_multiplier(real)
    if m:
        assert 2**30 <= m <= I32_MAX
        assert abs(m * 2.0 ** (s - 31) - real) <= real * 2.0**-30


def test_quantize_multiplier_edge_cases() -> None:
    assert arith.quantize_multiplier(0.0) == (0, 0)
    assert arith.quantize_multiplier(1.0) == (2**30, 1)
    assert arith.quantize_multiplier(0.5) == (2**30, 0)
    assert arith.quantize_multiplier(1.0 - 2.0**-40) == (2**30, 1)
    assert arith.quantize_multiplier(2.0**-32) == (2**30, -31)
    assert arith.quantize_multiplier(2.0**-33) == (0, 0)
    assert arith.quantize_multiplier(2.0**-31) == (2**30, -30)
    with pytest.raises(ValueError):
        arith.quantize_multiplier(float("inf"))
    m, s = arith.quantize_multiplier_smaller_than_one_exp(0.3)
    assert s <= 0 and (m, s) == arith.quantize_multiplier(0.3)
    with pytest.raises(ValueError):
        arith.quantize_multiplier_smaller_than_one_exp(3.0)
    m, s = arith.quantize_multiplier_greater_than_one(3.0)
    assert s == 2 and m == 3 * 2**29
    with pytest.raises(ValueError):
        arith.quantize_multiplier_greater_than_one(0.9)


def test_quantize_multipliers_vector() -> None:
    reals = np.array([0.1, 0.0, 2.5e-3, 1.7], dtype=np.float64)
    mults, shifts = arith.quantize_multipliers(reals)
    assert mults.dtype == np.int32 and shifts.dtype == np.int32
    for r, m, s in zip(reals, mults, shifts, strict=True):
        assert (int(m), int(s)) == arith.quantize_multiplier(float(r))


# --------------------------------------------------------------------------
# SRDHM, RDBP
# --------------------------------------------------------------------------


@given(int32s, int32s)
@example(I32_MIN, I32_MIN)  # the only saturating case
@example(I32_MIN, I32_MAX)
@example(2**30, 1)  # exactly +0.5 -> 1
@example(-(2**30), 1)  # exactly -0.5 -> 0 (half up)
@example(-3 * 2**30, 1)  # -1.5 -> -1
@example(3, 2**30)  # 1.5 -> 2
def test_srdhm_matches_oracle(a: int, b: int) -> None:
    got = arith.saturating_rounding_doubling_high_mul(a, b)
    assert int(got) == oracle_srdhm(a, b)


@given(int32s, st.integers(0, 31))
@example(5, 1)  # 2.5 -> 3
@example(-5, 1)  # -2.5 -> -3
@example(-4, 1)
@example(I32_MIN, 31)
@example(I32_MAX, 31)
@example(-(2**30), 31)  # -0.5 -> -1
def test_rounding_divide_by_pot_matches_oracle(x: int, e: int) -> None:
    assert int(arith.rounding_divide_by_pot(x, e)) == oracle_rdbp(x, e)


def test_rounding_divide_by_pot_rejects_bad_exponent() -> None:
    with pytest.raises(ValueError):
        arith.rounding_divide_by_pot(3, 32)
    with pytest.raises(ValueError):
        arith.rounding_divide_by_pot(3, -1)


def test_vectorised_forms_agree_elementwise() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(I32_MIN, I32_MAX, size=2000, endpoint=True)
    m = rng.integers(2**30, I32_MAX, size=2000, endpoint=True)
    s = rng.integers(-31, 8, size=2000, endpoint=True)
    got = arith.multiply_by_quantized_multiplier(x, m, s)
    want = [oracle_mbqm(int(a), int(b), int(c)) for a, b, c in zip(x, m, s, strict=True)]
    assert got.tolist() == want
    e = rng.integers(0, 31, size=2000, endpoint=True)
    assert arith.rounding_divide_by_pot(x, e).tolist() == [oracle_rdbp(int(a), int(b)) for a, b in zip(x, e, strict=True)]


# --------------------------------------------------------------------------
# MultiplyByQuantizedMultiplier / requantize
# --------------------------------------------------------------------------


multipliers = st.one_of(st.integers(2**30, I32_MAX), st.just(0), st.integers(0, I32_MAX))


@given(int32s, multipliers, st.integers(-31, 30))
@example(-(2**31), 2**30, 0)
@example(-1, 2**30, -1)  # -1 * 0.5 -> -0.5 -> SRDHM; then rounding
@example(2**20, I32_MAX, 12)  # left shift wraps in int32 as in C
@example(7, 2**30, -31)
def test_multiply_by_quantized_multiplier_matches_oracle(x: int, m: int, shift: int) -> None:
    assert int(arith.multiply_by_quantized_multiplier(x, m, shift)) == oracle_mbqm(x, m, shift)


@given(int32s, st.integers(2**30, I32_MAX), st.integers(-31, 0))
def test_smaller_than_one_exp_is_the_nonpositive_shift_case(x: int, m: int, left_shift: int) -> None:
    got = arith.multiply_by_quantized_multiplier_smaller_than_one_exp(x, m, left_shift)
    assert int(got) == oracle_mbqm(x, m, left_shift)


@given(st.integers(-255, 0), st.integers(2**30, I32_MAX), st.integers(0, 20))
def test_greater_than_one_is_shift_then_srdhm(x: int, m: int, left_shift: int) -> None:
    got = arith.multiply_by_quantized_multiplier_greater_than_one(x, m, left_shift)
    assert int(got) == oracle_srdhm(wrap32(x << left_shift), m)


@given(int32s, st.floats(1e-6, 4.0), st.integers(-128, 127), st.integers(-128, 0), st.integers(0, 127))
def test_requantize_matches_real_arithmetic_closely(acc: int, real: float, zp: int, lo: int, hi: int) -> None:
    m, s = arith.quantize_multiplier(real)
    got = int(arith.requantize(acc, m, s, zp, lo, hi))
    assert lo <= got <= hi
    want = min(max(oracle_mbqm(acc, m, s) + zp, lo), hi)
    assert got == want
    # Double rounding never lands more than one step away from the real value
    # (when the left shift does not wrap).
    if s <= 0 or abs(acc) < 2**31 >> s:
        exact = Fraction(acc) * Fraction(m) * Fraction(2) ** (s - 31)
        assert abs(oracle_mbqm(acc, m, s) - exact) <= 1


def test_requantize_per_channel_broadcast() -> None:
    acc = np.array([[1000, -1000, 77], [5, 6, -7]], dtype=np.int64)
    m = np.array([2**30, 2**30 + 12345, 1_900_000_000])
    s = np.array([-3, 0, -8])
    got = arith.requantize(acc, m, s, -5, -128, 127)
    want = [[min(max(oracle_mbqm(int(a), int(mm), int(ss)) - 5, -128), 127) for a, mm, ss in zip(row, m, s, strict=True)] for row in acc]
    assert got.tolist() == want


# --------------------------------------------------------------------------
# other gemmlowp helpers
# --------------------------------------------------------------------------


@given(int32s, st.integers(-31, 31))
def test_saturating_rounding_multiply_by_pot(x: int, e: int) -> None:
    got = int(arith.saturating_rounding_multiply_by_pot(x, e))
    if e <= 0:
        assert got == oracle_rdbp(x, -e)
    else:
        assert got == min(max(x * 2**e, I32_MIN), I32_MAX)


@given(int32s, int32s)
def test_rounding_half_sum(a: int, b: int) -> None:
    assert int(arith.rounding_half_sum(a, b)) == round_half_away(Fraction(a + b, 2))


@given(st.integers(0, 2**32 - 1))
@example(0)
@example(1)
@example(2**32 - 1)
@example(2**31)
def test_count_leading_zeros(u: int) -> None:
    want = 32 - u.bit_length()
    assert int(arith.count_leading_zeros_u32(np.array([wrap32(u)]))[0]) == want


def test_wrap_int32() -> None:
    assert arith.wrap_int32(np.array([2**31, -(2**31) - 1, 5])).tolist() == [-(2**31), 2**31 - 1, 5]
