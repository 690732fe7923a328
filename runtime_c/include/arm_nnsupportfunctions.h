/*
 * tinyc runtime: the CMSIS-NN support helpers its kernels (and generated code) use.
 *
 * Requantization exactly as TFLite's MultiplyByQuantizedMultiplier (double
 * rounding: a saturating rounding doubling high multiply, then a rounding
 * right shift, half away from zero), which CMSIS-NN's arm_nn_requantize
 * reproduces. Right shifts of negative values are arithmetic on every
 * compiler tinyc supports (checked at compile time in arm_nn_support_check.c).
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ARM_NNSUPPORTFUNCTIONS_H
#define ARM_NNSUPPORTFUNCTIONS_H

#include <stdint.h>

#include "arm_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Left part of a TFLite shift (shift > 0 multiplies by 2^shift before the high multiply). */
#define LEFT_SHIFT(_shift) ((_shift) > 0 ? (_shift) : 0)
/** Right part of a TFLite shift (shift < 0 divides by 2^-shift after it). */
#define RIGHT_SHIFT(_shift) ((_shift) > 0 ? 0 : -(_shift))

/**
 * round(m1 * m2 / 2^31), ties toward +infinity; INT32_MIN * INT32_MIN saturates to INT32_MAX.
 * (gemmlowp's SaturatingRoundingDoublingHighMul.)
 */
static inline int32_t arm_nn_doubling_high_mult(const int32_t m1, const int32_t m2)
{
    if (m1 == INT32_MIN && m2 == INT32_MIN)
    {
        return INT32_MAX;
    }
    const int64_t product = (int64_t)m1 * (int64_t)m2;
    return (int32_t)((product + ((int64_t)1 << 30)) >> 31);
}

/** As arm_nn_doubling_high_mult() for callers that guarantee m1, m2 are not both INT32_MIN. */
static inline int32_t arm_nn_doubling_high_mult_no_sat(const int32_t m1, const int32_t m2)
{
    const int64_t product = (int64_t)m1 * (int64_t)m2;
    return (int32_t)((product + ((int64_t)1 << 30)) >> 31);
}

/** dividend / 2^exponent rounded half away from zero, exponent in [0, 31] (gemmlowp's RoundingDivideByPOT). */
static inline int32_t arm_nn_divide_by_power_of_two(const int32_t dividend, const int32_t exponent)
{
    const int32_t low_bits = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = dividend & low_bits;
    const int32_t half = (low_bits >> 1) + (dividend < 0 ? 1 : 0);
    return (dividend >> exponent) + (remainder > half ? 1 : 0);
}

/**
 * TFLite's MultiplyByQuantizedMultiplier: val * multiplier * 2^(shift - 31) with double rounding.
 * The left shift wraps in 32 bits like the reference code.
 */
static inline int32_t arm_nn_requantize(const int32_t val, const int32_t multiplier, const int32_t shift)
{
    const int32_t scaled = (int32_t)((uint32_t)val << LEFT_SHIFT(shift));
    return arm_nn_divide_by_power_of_two(arm_nn_doubling_high_mult(scaled, multiplier), RIGHT_SHIFT(shift));
}

/** x * 2^exponent saturated to int32 for exponent > 0; a rounding divide for exponent <= 0. */
static inline int32_t arm_nn_mult_by_power_of_two(const int32_t x, const int32_t exponent)
{
    if (exponent <= 0)
    {
        return arm_nn_divide_by_power_of_two(x, -exponent);
    }
    const int32_t limit = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > limit)
    {
        return INT32_MAX;
    }
    if (x < -limit)
    {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

#ifdef __cplusplus
}
#endif

#endif /* ARM_NNSUPPORTFUNCTIONS_H */
