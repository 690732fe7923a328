/*
 * tinyc runtime, private: dot products and small helpers shared by the kernels.
 *
 * With the DSP extension (__ARM_FEATURE_DSP, e.g. Cortex-M4/M7/M33) four int8
 * pairs are handled per step: SXTAB16 sign-extends bytes 0/2 (and, rotated,
 * 1/3) into 16-bit lanes while adding the input offset, SXTB16 does the same
 * for the weights, and SMLAD multiplies both lanes and accumulates. The lanes
 * hold input + offset in [-255, 255], so 16 bits suffice and the sums are the
 * same as the plain C path's (both wrap modulo 2^32). Define TINYC_NO_DSP to
 * force the plain C path. SPDX-License-Identifier: Apache-2.0
 */
#ifndef TINYC_NN_INTERNAL_H
#define TINYC_NN_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "arm_nnsupportfunctions.h"

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && !defined(TINYC_NO_DSP)
#define TINYC_USE_DSP 1
#include <arm_acle.h>
#else
#define TINYC_USE_DSP 0
#endif

#define TINYC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TINYC_MIN(a, b) ((a) < (b) ? (a) : (b))

#if defined(__GNUC__)
#define TINYC_NOINLINE __attribute__((noinline))
#define TINYC_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TINYC_NOINLINE
#define TINYC_ALWAYS_INLINE inline
#endif

/** Requantized accumulator plus output offset, clamped to [act_min, act_max]. */
static inline int8_t tinyc_requantize_to_s8(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t act_min, int32_t act_max)
{
    int32_t v = arm_nn_requantize(acc, mult, shift) + out_offset;
    v = TINYC_MAX(v, act_min);
    v = TINYC_MIN(v, act_max);
    return (int8_t)v;
}

/*
 * One output channel's requantization, prepared once and applied to many
 * accumulators with the same result as arm_nn_requantize().
 *
 * For shift < 0 (e = -shift) TFLite rounds twice: r1 = round(acc * mult / 2^31)
 * (ties up), then r1 / 2^e (ties away from zero). With p = acc * mult both
 * steps are one floor of a 64-bit sum: floor((p + 2^30 + 2^(30+e) - [p < 0] 2^31)
 * / 2^(31+e)) (floor(floor(x / a) / b) = floor(x / (a b)); [r1 < 0] can be
 * replaced by [p < 0] because r1 = 0 when -2^30 <= p < 0, where both give 0).
 * The high word of that sum shifted right by e - 1 is the result. As mult >= 0
 * there, [p < 0] = [acc < 0] when mult > 0, and for mult = 0 both choices give
 * 0. mult = INT32_MIN and negative multipliers with shift < 0 (never produced by
 * quantize_multiplier) keep the reference code.
 */
typedef struct
{
    int32_t mult;
    int32_t kind;  /* 0: shift >= 0 (left shift, one rounding), 1: shift < 0, 2: mult == INT32_MIN */
    int32_t shift; /* left shift (kind 0), e - 1 (kind 1), shift (kind 2) */
    int64_t round; /* 2^30 + 2^(30+e) (kind 1) */
} tinyc_rq;

static inline tinyc_rq tinyc_rq_make(int32_t mult, int32_t shift)
{
    tinyc_rq r;
    r.mult = mult;
    r.round = 0;
    if (mult == INT32_MIN || (shift < 0 && mult < 0))
    {
        r.kind = 2;
        r.shift = shift;
    }
    else if (shift >= 0)
    {
        r.kind = 0;
        r.shift = shift;
    }
    else
    {
        r.kind = 1;
        r.shift = -shift - 1;
        /* 2^(30+e) as 2^(e-1) * 2^31: a 32-bit shift for the shifts quantize_multiplier gives (e <= 31) */
        r.round = ((int64_t)1 << 30) + (shift >= -31 ? (int64_t)((uint32_t)1 << (-shift - 1)) << 31 : (int64_t)1 << (30 - shift));
    }
    return r;
}

/* The reference arithmetic, out of line: only mult == INT32_MIN takes it. */
static TINYC_NOINLINE int32_t tinyc_requantize_ref(int32_t acc, int32_t mult, int32_t shift)
{
    return arm_nn_requantize(acc, mult, shift);
}

/** tinyc_rq_value() for r->kind == 1 (shift < 0, mult >= 0): one multiply-accumulate into the 64-bit rounding. */
static inline int32_t tinyc_rq_value1(const tinyc_rq *r, int32_t acc)
{
    int64_t p = (int64_t)acc * r->mult + r->round;
    p -= (int64_t)((uint32_t)acc >> 31) << 31;
    return (int32_t)(p >> 32) >> r->shift;
}

/** tinyc_rq_value1() + out_offset, clamped to [act_min, act_max]. */
static inline int8_t tinyc_rq_apply1(const tinyc_rq *r, int32_t acc, int32_t out_offset, int32_t act_min, int32_t act_max)
{
    int32_t v = tinyc_rq_value1(r, acc) + out_offset;
    v = TINYC_MAX(v, act_min);
    v = TINYC_MIN(v, act_max);
    return (int8_t)v;
}

/** arm_nn_requantize(acc, mult, shift) with r = tinyc_rq_make(mult, shift). */
static inline int32_t tinyc_rq_value(const tinyc_rq *r, int32_t acc)
{
    if (r->kind == 1)
    {
        return tinyc_rq_value1(r, acc);
    }
    if (r->kind == 0)
    {
        const int64_t p = (int64_t)(int32_t)((uint32_t)acc << r->shift) * r->mult + ((int64_t)1 << 30);
        return (int32_t)(p >> 31);
    }
    return tinyc_requantize_ref(acc, r->mult, r->shift);
}

/*
 * Kind 1 with e = -shift in [2, 31] (what quantize_multiplier gives for scales
 * below 1/4), split for one SMLAL: the 64-bit sum of tinyc_rq_value1() is
 * (hi:lo) + acc * mult with lo = 2^30 + [acc < 0] 2^31 and hi = 2^(e-2) -
 * [acc < 0] (2^30 - [acc < 0] 2^31 as a 64-bit value), so
 * the rounding constant costs an AND, an EOR and an ADD with the sign.
 */
typedef struct
{
    int32_t mult;
    int32_t hi;    /* 2^(e-2) */
    int32_t shift; /* e - 1 */
} tinyc_rq1;

/** Whether tinyc_rq1 applies to (mult, shift): mult >= 0, -31 <= shift <= -2. */
#define TINYC_RQ1_OK(mult, shift) ((mult) >= 0 && (uint32_t)((shift) + 31) <= 29u)

/** tinyc_rq1 for (mult, shift) with TINYC_RQ1_OK(mult, shift). */
static inline tinyc_rq1 tinyc_rq1_make(int32_t mult, int32_t shift)
{
    tinyc_rq1 r;
    r.mult = mult;
    r.shift = -shift - 1;
    r.hi = (int32_t)((uint32_t)1 << (-shift - 2));
    return r;
}

/** tinyc_rq_value1() for r from tinyc_rq1_make(), plus out_offset, saturated to int8. */
static inline int8_t tinyc_rq1_s8(const tinyc_rq1 *r, int32_t acc, int32_t out_offset)
{
    const uint32_t lo = 0x40000000u ^ ((uint32_t)acc & 0x80000000u);
    const uint32_t hi = (uint32_t)r->hi - ((uint32_t)acc >> 31);
    const uint64_t sum = (((uint64_t)hi << 32) | lo) + (uint64_t)((int64_t)acc * r->mult);
    const int32_t v = ((int32_t)(uint32_t)(sum >> 32) >> r->shift) + out_offset;
#if TINYC_USE_DSP && defined(__ARM_FEATURE_SAT)
    return (int8_t)__ssat(v, 8);
#else
    return (int8_t)TINYC_MIN(TINYC_MAX(v, -128), 127);
#endif
}

/** tinyc_rq_value() + out_offset, clamped to [act_min, act_max]. */
static inline int8_t tinyc_rq_apply(const tinyc_rq *r, int32_t acc, int32_t out_offset, int32_t act_min, int32_t act_max)
{
    int32_t v = tinyc_rq_value(r, acc) + out_offset;
    v = TINYC_MAX(v, act_min);
    v = TINYC_MIN(v, act_max);
    return (int8_t)v;
}

#if TINYC_USE_DSP
static inline uint32_t tinyc_read_u32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v)); /* an unaligned LDR on cores with the DSP extension */
    return v;
}

static inline uint32_t tinyc_ror8(uint32_t v)
{
    return (v >> 8) | (v << 24);
}

/** Both 16-bit lanes set to offset. */
static inline int32_t tinyc_dup16(int32_t offset)
{
    const uint32_t lane = (uint32_t)offset & 0xFFFFu;
    return (int32_t)(lane | (lane << 16));
}

/* Bytes 1 and 3 of v sign-extended into the two 16-bit lanes (plus a's lanes for the SXTAB16 form).
   GCC does not fold a rotate into SXTB16 by itself, so the rotated forms are spelt out. */
#if defined(__GNUC__)
static inline int32_t tinyc_sxtb16_ror8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline int32_t tinyc_sxtab16_ror8(int32_t a, uint32_t v)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}
#else
static inline int32_t tinyc_sxtb16_ror8(uint32_t v)
{
    return __sxtb16((int32_t)tinyc_ror8(v));
}

static inline int32_t tinyc_sxtab16_ror8(int32_t a, uint32_t v)
{
    return __sxtab16(a, (int32_t)tinyc_ror8(v));
}
#endif
#endif

/** acc + sum_i (x[i] + x_offset) * w[i]. */
static inline int32_t tinyc_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t x_offset, int32_t acc)
{
    int32_t i = 0;
#if TINYC_USE_DSP
    const int32_t off2 = tinyc_dup16(x_offset);
    for (; i + 4 <= n; i += 4)
    {
        const uint32_t xv = tinyc_read_u32(x + i);
        const uint32_t wv = tinyc_read_u32(w + i);
        acc = __smlad(__sxtab16(off2, (int32_t)xv), __sxtb16((int32_t)wv), acc);
        acc = __smlad(tinyc_sxtab16_ror8(off2, xv), tinyc_sxtb16_ror8(wv), acc);
    }
#endif
    for (; i < n; ++i)
    {
        acc += ((int32_t)x[i] + x_offset) * (int32_t)w[i];
    }
    return acc;
}

/** Two dot products sharing x: acc0 += (x + off) . w0, acc1 += (x + off) . w1. */
static inline void tinyc_dot2_s8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t x_offset, int32_t *acc0, int32_t *acc1)
{
    int32_t a0 = *acc0;
    int32_t a1 = *acc1;
    int32_t i = 0;
#if TINYC_USE_DSP
    const int32_t off2 = tinyc_dup16(x_offset);
    for (; i + 4 <= n; i += 4)
    {
        const uint32_t xv = tinyc_read_u32(x + i);
        const int32_t x02 = __sxtab16(off2, (int32_t)xv);
        const int32_t x13 = tinyc_sxtab16_ror8(off2, xv);
        const uint32_t w0v = tinyc_read_u32(w0 + i);
        const uint32_t w1v = tinyc_read_u32(w1 + i);
        a0 = __smlad(x02, __sxtb16((int32_t)w0v), a0);
        a0 = __smlad(x13, tinyc_sxtb16_ror8(w0v), a0);
        a1 = __smlad(x02, __sxtb16((int32_t)w1v), a1);
        a1 = __smlad(x13, tinyc_sxtb16_ror8(w1v), a1);
    }
#endif
    for (; i < n; ++i)
    {
        const int32_t xi = (int32_t)x[i] + x_offset;
        a0 += xi * (int32_t)w0[i];
        a1 += xi * (int32_t)w1[i];
    }
    *acc0 = a0;
    *acc1 = a1;
}

/** sum_i (x[i] + x_offset). */
static inline int32_t tinyc_sum_s8(const int8_t *x, int32_t n, int32_t x_offset)
{
    int32_t s = n * x_offset;
    for (int32_t i = 0; i < n; ++i)
    {
        s += x[i];
    }
    return s;
}

#endif /* TINYC_NN_INTERNAL_H */
