/*
 * tinyc runtime: s8 softmax (CMSIS-NN v7 API), TFLite's reference int8 softmax.
 *
 * Fixed point as gemmlowp defines it: input differences from the row maximum
 * are scaled into Q5.26, exp() of non-positive values comes from a Taylor
 * series on [-1/4, 0) and a barrel shifter over exp(-2^k), the sum of
 * exponentials is kept in Q12.19, and its reciprocal comes from three
 * Newton-Raphson steps. Output scale 1/256, zero point -128.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tinyc_nn_internal.h"

#define SCALED_DIFF_INTEGER_BITS 5
#define ACCUM_BITS 12

/* Raw Q0.31 / Q2.29 constants: round(value * 2^31) resp. round(value * 2^29). */
#define Q31_EXP_MINUS_ONE_EIGHTH 1895147668 /* exp(-1/8) */
#define Q31_ONE_THIRD 715827883             /* 1/3 */
#define Q29_48_OVER_17 1515870810           /* 48/17 */
#define Q29_MINUS_32_OVER_17 (-1010580540)  /* -32/17 */

/* exp(-2^k) in Q0.31 for k = -2 .. 4 */
static const int32_t exp_of_minus_pow2[7] = {
    1672461947, /* exp(-1/4) */
    1302514674, /* exp(-1/2) */
    790015084,  /* exp(-1) */
    290630308,  /* exp(-2) */
    39332535,   /* exp(-4) */
    720401,     /* exp(-8) */
    242         /* exp(-16) */
};

static inline int32_t add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* exp(a) for Q0.31 a in [-1/4, 0). */
static int32_t exp_on_interval_between_minus_quarter_and_0(int32_t a)
{
    const int32_t x = add_wrap(a, 1 << 28); /* x = a + 1/8 */
    const int32_t x2 = arm_nn_doubling_high_mult(x, x);
    const int32_t x3 = arm_nn_doubling_high_mult(x2, x);
    const int32_t x4 = arm_nn_doubling_high_mult(x2, x2);
    const int32_t x4_over_4 = arm_nn_divide_by_power_of_two(x4, 2);
    const int32_t poly = arm_nn_divide_by_power_of_two(
        add_wrap(arm_nn_doubling_high_mult(add_wrap(x4_over_4, x3), Q31_ONE_THIRD), x2), 1);
    /* exp(-1/8) * (1 + x + x^2/2 + x^3/6 + x^4/24) */
    return add_wrap(Q31_EXP_MINUS_ONE_EIGHTH, arm_nn_doubling_high_mult(Q31_EXP_MINUS_ONE_EIGHTH, add_wrap(x, poly)));
}

/* exp(a) in Q0.31 for Q5.26 a <= 0. */
static int32_t exp_on_negative_values(int32_t a)
{
    const int32_t frac_bits = 31 - SCALED_DIFF_INTEGER_BITS;
    const int32_t quarter = 1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = sub_wrap(a & (quarter - 1), quarter);
    int32_t result = exp_on_interval_between_minus_quarter_and_0(
        arm_nn_mult_by_power_of_two(a_mod_quarter_minus_quarter, SCALED_DIFF_INTEGER_BITS));
    const int32_t remainder = sub_wrap(a_mod_quarter_minus_quarter, a);
    for (int32_t k = 0; k < 7; ++k)
    {
        if (remainder & (1 << (frac_bits - 2 + k)))
        {
            result = arm_nn_doubling_high_mult(result, exp_of_minus_pow2[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for Q0.31 a in [0, 1). */
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int64_t s = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = add_wrap(Q29_48_OVER_17, arm_nn_doubling_high_mult(half_denominator, Q29_MINUS_32_OVER_17));
    for (int32_t i = 0; i < 3; ++i)
    {
        const int32_t half_denominator_times_x = arm_nn_doubling_high_mult(half_denominator, x);
        const int32_t one_minus = sub_wrap(1 << 29, half_denominator_times_x);
        x = add_wrap(x, arm_nn_mult_by_power_of_two(arm_nn_doubling_high_mult(x, one_minus), 2));
    }
    return arm_nn_mult_by_power_of_two(x, 1);
}

static int32_t count_leading_zeros(uint32_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return v == 0 ? 32 : __builtin_clz(v);
#else
    int32_t n = 0;
    while (n < 32 && !(v & 0x80000000u))
    {
        v <<= 1;
        n++;
    }
    return n;
#endif
}

static inline int32_t scaled_exp(int32_t diff, int32_t mult, int32_t shift)
{
    const int32_t scaled = (int32_t)((uint32_t)diff << shift);
    return exp_on_negative_values(arm_nn_doubling_high_mult(scaled, mult));
}

void arm_softmax_s8(const int8_t *input,
                    const int32_t num_rows,
                    const int32_t row_size,
                    const int32_t mult,
                    const int32_t shift,
                    const int32_t diff_min,
                    int8_t *output)
{
    for (int32_t r = 0; r < num_rows; ++r)
    {
        const int8_t *in = input + (int64_t)r * row_size;
        int8_t *out = output + (int64_t)r * row_size;
        int32_t max = in[0];
        for (int32_t c = 1; c < row_size; ++c)
        {
            max = TINYC_MAX(max, (int32_t)in[c]);
        }
        int32_t sum = 0;
        for (int32_t c = 0; c < row_size; ++c)
        {
            const int32_t diff = (int32_t)in[c] - max;
            if (diff >= diff_min)
            {
                sum = add_wrap(sum, arm_nn_divide_by_power_of_two(scaled_exp(diff, mult, shift), ACCUM_BITS));
            }
        }
        /* The maximum contributes 2^19, so 0 < sum and headroom <= 12. */
        const int32_t headroom = count_leading_zeros((uint32_t)sum);
        const int32_t bits_over_unit = ACCUM_BITS - headroom;
        const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum << headroom) - 0x80000000u);
        const int32_t scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
        const int32_t out_shift = bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < row_size; ++c)
        {
            const int32_t diff = (int32_t)in[c] - max;
            int32_t res = INT8_MIN;
            if (diff >= diff_min)
            {
                /* Past a shift of 31 (sum of exps >= 512) every probability is < 1/512: 0 (TFLite aborts here). */
                const int32_t prod = arm_nn_doubling_high_mult(scale, scaled_exp(diff, mult, shift));
                res = (out_shift <= 31 ? arm_nn_divide_by_power_of_two(prod, out_shift) : 0) + INT8_MIN;
                res = TINYC_MIN(res, INT8_MAX);
                res = TINYC_MAX(res, INT8_MIN);
            }
            out[c] = (int8_t)res;
        }
    }
}
