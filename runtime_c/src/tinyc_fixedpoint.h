/*
 * tinyc runtime, private: the gemmlowp / TFLite fixed-point primitives of the tinyc_ extra
 * kernels (tinyc_nn_extra.h). Self-contained (no arm_*.h) so the extras build unchanged
 * next to Arm's CMSIS-NN. Sums that the reference wraps in 32 bits are computed on
 * uint32_t; right shifts of negative values are arithmetic, as on GCC, Clang and Arm Compiler.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TINYC_FIXEDPOINT_H
#define TINYC_FIXEDPOINT_H

#include <stdint.h>

#include "tinyc_nn_extra.h"

/* Right shifts of negative values must be arithmetic (floor). */
typedef char tinyc_fixedpoint_requires_arithmetic_right_shift[((-7 >> 1) == -4) ? 1 : -1];

/** a + b wrapping in 32 bits (two's complement). */
static inline int32_t tinyc_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/** a - b wrapping in 32 bits. */
static inline int32_t tinyc_sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/** gemmlowp SaturatingRoundingDoublingHighMul: a * b / 2^31, rounded half up; INT32_MIN^2 saturates. */
static inline int32_t tinyc_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN)
    {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero */
}

/** gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero, exponent in [0, 31]. */
static inline int32_t tinyc_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/** gemmlowp SaturatingRoundingMultiplyByPOT: x * 2^exponent, saturating for exponent > 0. */
static inline int32_t tinyc_mul_by_pot(int32_t x, int32_t exponent)
{
    if (exponent <= 0)
    {
        return tinyc_rounding_divide_by_pot(x, -exponent);
    }
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold)
    {
        return INT32_MAX;
    }
    if (x < -threshold)
    {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/** TFLite MultiplyByQuantizedMultiplier: the left shift wraps in 32 bits, then the doubling high multiply and a rounding shift. */
static inline int32_t tinyc_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return tinyc_rounding_divide_by_pot(tinyc_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/** x clamped to [lo, hi] as int8. */
static inline int8_t tinyc_clamp_s8(int32_t x, int32_t lo, int32_t hi)
{
    return (int8_t)(x < lo ? lo : (x > hi ? hi : x));
}

#endif /* TINYC_FIXEDPOINT_H */
