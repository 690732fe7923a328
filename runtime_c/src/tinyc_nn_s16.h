/*
 * tinyc runtime, private: helpers of the s16 (16x8) kernels.
 *
 * TFLite requantizes an int64 accumulator with MultiplyByQuantizedMultiplier's
 * 64-bit form (CMSIS-NN's arm_nn_requantize_s64): the Q31 multiplier is
 * rounded to Q15 (saturating at 0x7FFF), the product is shifted right by
 * 15 - shift rounding half up, and the result is truncated to 32 bits. The
 * 64-bit sums and products wrap (computed on uint64_t) exactly as the NumPy
 * reference's int64 arithmetic does. SPDX-License-Identifier: Apache-2.0
 */
#ifndef TINYC_NN_S16_H
#define TINYC_NN_S16_H

#include <stdint.h>
#include <string.h>

#include "arm_nn_types.h"

/* With the DSP extension, two int16 x int8 products per SMLAD (define TINYC_NO_DSP for plain C). */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && !defined(TINYC_NO_DSP)
#define TINYC_S16_DSP 1
#include <arm_acle.h>
#else
#define TINYC_S16_DSP 0
#endif

/** sum_i x[i] * w[i] in 64 bits: 32-bit partial sums of at most 256 products (each at most 2^22 in size). */
static inline int64_t tinyc_dot_s16_s8(const int16_t *x, const int8_t *w, int32_t n)
{
    int64_t acc = 0;
    for (int32_t i = 0; i < n; i += 256)
    {
        const int32_t end = n - i < 256 ? n : i + 256;
        int32_t sum = 0;
        int32_t j = i;
#if TINYC_S16_DSP
        for (; j + 4 <= end; j += 4)
        {
            uint32_t x01, x23, w4;
            memcpy(&x01, x + j, sizeof(x01)); /* unaligned LDRs */
            memcpy(&x23, x + j + 2, sizeof(x23));
            memcpy(&w4, w + j, sizeof(w4));
            const uint32_t x02 = (x01 & 0xFFFFu) | (x23 << 16); /* lanes (x0, x2) and (x1, x3) match SXTB16's (w0, w2), (w1, w3) */
            const uint32_t x13 = (x01 >> 16) | (x23 & 0xFFFF0000u);
            sum = __smlad((int32_t)x02, __sxtb16((int32_t)w4), sum);
            sum = __smlad((int32_t)x13, __sxtb16((int32_t)((w4 >> 8) | (w4 << 24))), sum);
        }
#endif
        for (; j < end; ++j)
        {
            sum += (int32_t)x[j] * (int32_t)w[j];
        }
        acc += sum;
    }
    return acc;
}

/** Largest shift the 64-bit requantization takes (15 - shift must stay >= 1). */
#define TINYC_S16_MAX_SHIFT 14

static inline int64_t tinyc_add_s64(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/** The Q31 multiplier rounded to Q15, saturating (TFLite's reduced multiplier). */
static inline int32_t tinyc_reduce_multiplier(int32_t multiplier)
{
    return multiplier < 0x7FFF0000 ? (int32_t)(((int64_t)multiplier + (1 << 15)) >> 16) : 0x7FFF;
}

/** acc * reduced * 2^(shift - 15), rounded half up, truncated to int32; shift in [-31, 14]. */
static inline int32_t tinyc_requantize_s64(int64_t acc, int32_t reduced, int32_t shift)
{
    const int32_t total = 15 - shift;
    const uint64_t prod = (uint64_t)acc * (uint64_t)(int64_t)reduced;
    const int64_t rounded = (int64_t)(prod + ((uint64_t)1 << (total - 1)));
    return (int32_t)(uint32_t)(uint64_t)(rounded >> total);
}

/** Requantized, clamped int16 output. */
static inline int16_t tinyc_output_s16(int64_t acc, int32_t multiplier, int32_t shift, int32_t act_min, int32_t act_max)
{
    int32_t v = tinyc_requantize_s64(acc, tinyc_reduce_multiplier(multiplier), shift);
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int16_t)v;
}

/** Whether every shift of n channels is one the 64-bit requantization takes. */
static inline int tinyc_s16_shifts_ok(const int32_t *shift, int32_t n)
{
    for (int32_t i = 0; i < n; ++i)
    {
        if (shift[i] > TINYC_S16_MAX_SHIFT || shift[i] < -31)
        {
            return 0;
        }
    }
    return 1;
}

#endif /* TINYC_NN_S16_H */
