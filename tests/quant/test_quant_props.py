"""Property tests (Hypothesis) of the quantizer's arithmetic helpers against exact rational oracles.

Covers the 64-bit requantization of the 16x8 kernels, MEAN's folded
multiplier, integer requantization, the activation bounds of fused clamps,
and the observers' choice of scale and zero point.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from tinyc.ir.dtypes import DType
from tinyc.ir.ops.quantized import activation_bounds, quantize_bound
from tinyc.quant import kernels_extra as KE
from tinyc.quant.arith import quantize_multiplier
from tinyc.quant.observers import ObserverKind, TensorStats, choose_params, observed_range

scales = st.floats(1e-6, 1e3, allow_nan=False, allow_infinity=False)


def round_half_up(q: Fraction) -> int:
    return math.floor(q + Fraction(1, 2))


@given(st.integers(-(2**47) + 1, 2**47 - 1), st.floats(1e-4, 100.0))
def test_s64_requantize_is_the_reduced_multiplier_rounded_half_up(x: int, real: float) -> None:
    mult, shift = quantize_multiplier(real)
    assume(-31 <= shift < 8)
    reduced = 0x7FFF if mult >= 0x7FFF0000 else (mult + (1 << 15)) >> 16
    want = round_half_up(Fraction(x * reduced, 2 ** (15 - shift)))
    assume(-(2**31) <= want < 2**31)  # TFLite assumes the result fits int32
    assert int(KE.multiply_by_quantized_multiplier_s64(np.int64(x), mult, shift)) == want
    # and it is within one part in 2**15 of the exact product
    assert abs(want - x * real) <= abs(x * real) * 2**-14 + 1


@given(scales, scales, st.integers(1, 5000))
def test_mean_multiplier_folds_the_count(s_in: float, s_out: float, count: int) -> None:
    ratio = float(np.float32(s_in)) / float(np.float32(s_out))
    assume(1e-6 < ratio < 1e6)
    mult, shift = KE.prepare_mean(s_in, s_out, count)
    assert 0 <= mult < 2**31 and shift >= -31
    real = mult * 2.0 ** (shift - 31)
    if real > 0:
        assert abs(real - ratio / count) <= ratio / count * 2 ** -(30 - count.bit_length()) + 2**-62


@given(st.lists(st.integers(-128, 127), min_size=1, max_size=40), scales, st.integers(-128, 127), scales, st.integers(-128, 127))
def test_requantize_is_within_half_a_step_plus_the_multiplier_error(xs: list[int], s_in: float, z_in: int, s_out: float, z_out: int) -> None:
    ratio = float(np.float32(s_in)) / float(np.float32(s_out))
    assume(1e-5 < ratio < 1e4)
    mult, shift = KE.requantize_multiplier(s_in, s_out)
    x = np.asarray(xs, dtype=np.int8)
    got = KE.requantize(x, mult, shift, z_in, z_out, -128, 127)
    exact = (x.astype(np.float64) - z_in) * ratio + z_out
    ok = (exact >= -128.5) & (exact <= 127.5)
    # TFLite rounds twice when it shifts right: half up in the high multiply, then half away from zero
    bound = 0.5 + (0.5 * 2.0**shift if shift < 0 else 0.0)
    assert np.all(np.abs(got[ok] - exact[ok]) <= bound + 1e-6 * (1 + np.abs(exact[ok])))
    assert np.all(got[exact < -128.5] == -128) and np.all(got[exact > 127.5] == 127)


@given(st.floats(-50, 50), scales, st.integers(-128, 127))
def test_quantize_bound_rounds_half_away_from_zero(f: float, scale: float, zp: int) -> None:
    q = float(np.float32(f) / np.float32(scale))
    assume(abs(q) < 2**31)
    want = zp + int(math.copysign(math.floor(abs(q) + 0.5), q))
    assert quantize_bound(f, scale, zp) == want


@given(scales, st.integers(-128, 127), st.sampled_from([(0.0, None), (0.0, 6.0), (-1.0, 1.0), (None, None)]))
def test_activation_bounds_stay_in_the_type_and_in_order(scale: float, zp: int, clamp: tuple[float | None, float | None]) -> None:
    lo, hi = activation_bounds(clamp[0], clamp[1], scale, zp, DType.I8)
    assert -128 <= lo <= hi <= 127
    if clamp == (None, None):
        assert (lo, hi) == (-128, 127)
    if clamp[0] == 0.0:
        assert lo == max(-128, min(zp, 127)) or lo == hi


ranges = st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4)).map(sorted)


@given(ranges)
def test_int8_params_cover_the_range_and_represent_zero(r: list[float]) -> None:
    lo, hi = r
    q = choose_params(lo, hi, DType.I8)
    s, z = q.scale[0], q.zero_point[0]
    assert s > 0 and -128 <= z <= 127
    if max(hi, 0.0) - min(lo, 0.0) > 1e-20:
        # real zero is exactly the zero point; the range is covered up to half a step of nudging
        assert (-128 - z) * s <= min(lo, 0.0) + s and (127 - z) * s >= max(hi, 0.0) - s


@given(ranges, st.sampled_from([DType.I8, DType.I16]))
def test_symmetric_params_have_zero_point_zero(r: list[float], dtype: DType) -> None:
    q = choose_params(r[0], r[1], dtype, symmetric=True)
    assert q.zero_point == (0,)
    m = max(abs(r[0]), abs(r[1]))
    if m > 1e-20:
        assert math.isclose(q.scale[0] * dtype.qmax, m, rel_tol=1e-6)


def test_observers_clip_outliers_that_minmax_keeps() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(1_000_000), [40.0]])
    stats = TensorStats.of(x, histogram=True)
    lo, hi = observed_range(stats, ObserverKind.MINMAX, DType.I8)
    assert hi == 40.0
    p_lo, p_hi = observed_range(stats, ObserverKind.PERCENTILE, DType.I8, percentile=99.9)
    assert 2.5 < p_hi < 5 and -5 < p_lo < -2.5
    m_lo, m_hi = observed_range(stats, ObserverKind.MSE, DType.I8)
    assert 2 < m_hi < 20 and m_lo < -2  # one outlier costs less than the rounding noise of a 10x coarser grid


def test_mse_observer_keeps_the_full_range_of_a_uniform_distribution() -> None:
    x = np.linspace(-1.0, 3.0, 50_001)
    lo, hi = observed_range(TensorStats.of(x, histogram=True), ObserverKind.MSE, DType.I8)
    assert lo < -0.9 and hi > 2.7
