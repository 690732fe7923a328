/*
 * tinyc runtime: int8 logistic, tanh and hard-swish (tinyc_nn_extra.h).
 *
 * Logistic and tanh follow TFLite Micro's int8 kernels: the input, less its zero
 * point, is rescaled to Q4.27 and goes through gemmlowp's fixed-point exp and
 * Newton-Raphson reciprocal; inputs beyond the range radius saturate. Hard-swish
 * follows TFLite's reference kernel on 16-bit fixed point. All in place-safe.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tinyc_fixedpoint.h"

/* Fixed-point constants: round(value * 2^(31 - integer bits)). */
#define TINYC_EXP_MINUS_ONE_EIGHTH 1895147668 /* exp(-1/8), Q0.31 */
#define TINYC_ONE_THIRD 715827883             /* 1/3, Q0.31 */
#define TINYC_48_OVER_17 1515870810           /* 48/17, Q2.29 */
#define TINYC_MINUS_32_OVER_17 (-1010580540)  /* -32/17, Q2.29 */

/* exp(-2^k), Q0.31, for k = -2 .. 4 (the barrel shifter over the integer part). */
static const int32_t tinyc_exp_barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};

/* exp(a) for a Q0.31 value a in [-1/4, 0): Taylor series around -1/8. */
static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t x = tinyc_add_wrap(a, 1 << 28);
    const int32_t x2 = tinyc_srdhm(x, x);
    const int32_t x3 = tinyc_srdhm(x2, x);
    const int32_t x4 = tinyc_srdhm(x2, x2);
    const int32_t x4_over_4 = tinyc_rounding_divide_by_pot(x4, 2);
    const int32_t inner = tinyc_add_wrap(tinyc_srdhm(tinyc_add_wrap(x4_over_4, x3), TINYC_ONE_THIRD), x2);
    const int32_t poly = tinyc_rounding_divide_by_pot(inner, 1);
    return tinyc_add_wrap(TINYC_EXP_MINUS_ONE_EIGHTH, tinyc_srdhm(TINYC_EXP_MINUS_ONE_EIGHTH, tinyc_add_wrap(x, poly)));
}

/* gemmlowp exp_on_negative_values: a <= 0 with integer_bits integer bits, Q0.31 result. */
static int32_t exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    const int32_t frac_bits = 31 - integer_bits;
    const int32_t quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(tinyc_mul_by_pot(a_mod_quarter_minus_quarter, integer_bits));
    const int32_t remainder = tinyc_sub_wrap(a_mod_quarter_minus_quarter, a);
    for (int32_t k = -2; k <= 4; ++k)
    {
        if (integer_bits > k && ((remainder >> (frac_bits + k)) & 1) != 0)
        {
            result = tinyc_srdhm(result, tinyc_exp_barrel[k + 2]);
        }
    }
    if (integer_bits > 5)
    {
        const int32_t clamp = -((int32_t)1 << (36 - integer_bits));
        if (a < clamp)
        {
            result = 0;
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* gemmlowp RoundingHalfSum(a, INT32_MAX): (a + INT32_MAX + sign) / 2, truncated. */
static int32_t half_sum_with_one(int32_t a)
{
    const int64_t s = (int64_t)a + INT32_MAX;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

/* Newton-Raphson for 2 / (1 + a), a in [0, 1) Q0.31; the Q2.29 estimate. */
static int32_t two_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = half_sum_with_one(a);
    int32_t x = tinyc_add_wrap(TINYC_48_OVER_17, tinyc_srdhm(half_denominator, TINYC_MINUS_32_OVER_17));
    for (int32_t i = 0; i < 3; ++i)
    {
        const int32_t one_minus = tinyc_sub_wrap(1 << 29, tinyc_srdhm(half_denominator, x));
        x = tinyc_add_wrap(x, tinyc_mul_by_pot(tinyc_srdhm(x, one_minus), 2));
    }
    return x;
}

/* gemmlowp logistic of a Q4.27 value; Q0.31 result. */
static int32_t logistic_q0(int32_t a)
{
    if (a == 0)
    {
        return 1 << 30;
    }
    const int32_t minus_abs = a > 0 ? -a : a;
    const int32_t pos = tinyc_mul_by_pot(two_over_one_plus_x(exp_on_negative_values(minus_abs, 4)), 1);
    return a > 0 ? pos : tinyc_sub_wrap(INT32_MAX, pos);
}

/* gemmlowp tanh of a Q4.27 value; Q0.31 result. */
static int32_t tanh_q0(int32_t a)
{
    if (a == 0)
    {
        return 0;
    }
    const int32_t minus_abs = a > 0 ? -a : a; /* read as Q5.26: -2|a| */
    const int32_t t = exp_on_negative_values(minus_abs, 5);
    const int32_t result = tinyc_mul_by_pot(tinyc_sub_wrap(two_over_one_plus_x(t), 1 << 29), 2);
    return a < 0 ? tinyc_sub_wrap(0, result) : result;
}

void tinyc_logistic_s8(const int8_t *input,
                       int8_t *output,
                       int32_t size,
                       int32_t input_zero_point,
                       int32_t input_range_radius,
                       int32_t input_multiplier,
                       int32_t input_left_shift)
{
    for (int32_t i = 0; i < size; ++i)
    {
        const int32_t diff = (int32_t)input[i] - input_zero_point;
        int32_t out;
        if (diff <= -input_range_radius)
        {
            out = -128;
        }
        else if (diff >= input_range_radius)
        {
            out = 127;
        }
        else
        {
            const int32_t q4 = tinyc_requantize(diff, input_multiplier, input_left_shift);
            out = tinyc_rounding_divide_by_pot(logistic_q0(q4), 31 - 8) - 128;
        }
        output[i] = tinyc_clamp_s8(out, -128, 127);
    }
}

void tinyc_tanh_s8(const int8_t *input,
                   int8_t *output,
                   int32_t size,
                   int32_t input_zero_point,
                   int32_t input_range_radius,
                   int32_t input_multiplier,
                   int32_t input_left_shift)
{
    for (int32_t i = 0; i < size; ++i)
    {
        const int32_t diff = (int32_t)input[i] - input_zero_point;
        int32_t out;
        if (diff <= -input_range_radius)
        {
            out = -128;
        }
        else if (diff >= input_range_radius)
        {
            out = 127;
        }
        else
        {
            const int32_t q4 = tinyc_requantize(diff, input_multiplier, input_left_shift);
            out = tinyc_rounding_divide_by_pot(tanh_q0(q4), 31 - 7);
        }
        output[i] = tinyc_clamp_s8(out, -128, 127);
    }
}

/* gemmlowp's int16 SaturatingRoundingDoublingHighMul: a * b / 2^15 rounded half up. */
static int32_t srdhm16(int32_t a, int32_t b)
{
    if (a == INT16_MIN && b == INT16_MIN)
    {
        return INT16_MAX;
    }
    const int32_t ab = a * b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (ab + nudge) / (1 << 15);
}

/* TFLite's int16 SaturatingDoublingHighMul: a * b / 2^15 truncated toward zero. */
static int32_t sdhm16(int32_t a, int32_t b)
{
    if (a == INT16_MIN && b == INT16_MIN)
    {
        return INT16_MAX;
    }
    return (a * b) / (1 << 15);
}

static int32_t sat16(int64_t x)
{
    return x < INT16_MIN ? INT16_MIN : (x > INT16_MAX ? INT16_MAX : (int32_t)x);
}

void tinyc_hard_swish_s8(const int8_t *input,
                         int8_t *output,
                         int32_t size,
                         int32_t input_zero_point,
                         int32_t output_zero_point,
                         int16_t reluish_multiplier,
                         int32_t reluish_exponent,
                         int16_t output_multiplier,
                         int32_t output_exponent)
{
    for (int32_t i = 0; i < size; ++i)
    {
        const int32_t hires = ((int32_t)input[i] - input_zero_point) * 128; /* |.| <= 255 * 128: fits int16 */
        const int32_t preshift_out = srdhm16(hires, output_multiplier);
        int32_t reluish = hires;
        if (reluish_exponent > 0)
        {
            const int32_t amount = reluish_exponent - 1 < 32 ? reluish_exponent - 1 : 32; /* saturated anyway */
            reluish = sat16((int64_t)reluish * ((int64_t)1 << amount));
        }
        reluish = srdhm16(reluish, reluish_multiplier);
        if (reluish_exponent > 0)
        {
            reluish = sat16((int64_t)reluish * 2);
        }
        else if (reluish_exponent < 0)
        {
            reluish = tinyc_rounding_divide_by_pot(reluish, -reluish_exponent);
        }
        reluish = (reluish + (1 << 15)) >> 1; /* [-1, 1] in Q15 -> [0, 1] in Q15 */
        const int32_t preshift = sdhm16(reluish, preshift_out);
        const int32_t out = tinyc_rounding_divide_by_pot(preshift, -output_exponent) + output_zero_point;
        output[i] = tinyc_clamp_s8(out, -128, 127);
    }
}

void tinyc_lut_s8(const int8_t *input, int8_t *output, int32_t size, const int8_t table[256])
{
    for (int32_t i = 0; i < size; ++i)
    {
        output[i] = table[(int32_t)input[i] + 128];
    }
}
