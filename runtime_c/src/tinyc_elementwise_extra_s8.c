/*
 * tinyc runtime: int8 ADD / MUL with broadcasting and QUANTIZE on row blocks (tinyc_nn_extra.h).
 *
 * The per-element arithmetic is TFLite's (the same as arm_elementwise_add_s8 /
 * arm_elementwise_mul_s8); only the addressing differs: four output axes, and
 * per input a stride per axis that is 0 where the input is broadcast.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tinyc_fixedpoint.h"

void tinyc_requantize_rows_s8(const int8_t *input,
                              int32_t rows,
                              int32_t row_size,
                              int8_t *output,
                              int32_t output_row_size,
                              int32_t offset,
                              int32_t input_zero_point,
                              int32_t multiplier,
                              int32_t shift,
                              int32_t output_zero_point)
{
    for (int32_t r = 0; r < rows; ++r)
    {
        const int8_t *src = input + r * row_size;
        int8_t *dst = output + r * output_row_size + offset;
        for (int32_t i = 0; i < row_size; ++i)
        {
            const int32_t v = tinyc_requantize((int32_t)src[i] - input_zero_point, multiplier, shift) + output_zero_point;
            dst[i] = tinyc_clamp_s8(v, -128, 127);
        }
    }
}

/* TFLite's int8 ADD of one pair of values. */
static inline int8_t add_one(int32_t x1,
                             int32_t x2,
                             int32_t input_1_offset,
                             int32_t input_1_mult,
                             int32_t input_1_shift,
                             int32_t input_2_offset,
                             int32_t input_2_mult,
                             int32_t input_2_shift,
                             int32_t left_shift,
                             int32_t out_offset,
                             int32_t out_mult,
                             int32_t out_shift,
                             int32_t lo,
                             int32_t hi)
{
    const int32_t a = (int32_t)((uint32_t)(x1 + input_1_offset) << left_shift);
    const int32_t b = (int32_t)((uint32_t)(x2 + input_2_offset) << left_shift);
    const int32_t sa = tinyc_rounding_divide_by_pot(tinyc_srdhm(a, input_1_mult), -input_1_shift);
    const int32_t sb = tinyc_rounding_divide_by_pot(tinyc_srdhm(b, input_2_mult), -input_2_shift);
    const int32_t raw = tinyc_rounding_divide_by_pot(tinyc_srdhm(tinyc_add_wrap(sa, sb), out_mult), -out_shift);
    return tinyc_clamp_s8(raw + out_offset, lo, hi);
}

void tinyc_broadcast_add_s8(const int8_t *input_1,
                            const int8_t *input_2,
                            const tinyc_broadcast_shape *shape,
                            int32_t input_1_offset,
                            int32_t input_1_mult,
                            int32_t input_1_shift,
                            int32_t input_2_offset,
                            int32_t input_2_mult,
                            int32_t input_2_shift,
                            int32_t left_shift,
                            int8_t *output,
                            int32_t out_offset,
                            int32_t out_mult,
                            int32_t out_shift,
                            int32_t out_activation_min,
                            int32_t out_activation_max)
{
    const int32_t *d = shape->dims;
    const int32_t *s1 = shape->stride_1;
    const int32_t *s2 = shape->stride_2;
    for (int32_t i0 = 0; i0 < d[0]; ++i0)
    {
        for (int32_t i1 = 0; i1 < d[1]; ++i1)
        {
            for (int32_t i2 = 0; i2 < d[2]; ++i2)
            {
                const int8_t *p1 = input_1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2];
                const int8_t *p2 = input_2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2];
                for (int32_t i3 = 0; i3 < d[3]; ++i3)
                {
                    *output++ = add_one(p1[i3 * s1[3]], p2[i3 * s2[3]], input_1_offset, input_1_mult, input_1_shift,
                                        input_2_offset, input_2_mult, input_2_shift, left_shift, out_offset, out_mult,
                                        out_shift, out_activation_min, out_activation_max);
                }
            }
        }
    }
}

void tinyc_broadcast_mul_s8(const int8_t *input_1,
                            const int8_t *input_2,
                            const tinyc_broadcast_shape *shape,
                            int32_t input_1_offset,
                            int32_t input_2_offset,
                            int8_t *output,
                            int32_t out_offset,
                            int32_t out_mult,
                            int32_t out_shift,
                            int32_t out_activation_min,
                            int32_t out_activation_max)
{
    const int32_t *d = shape->dims;
    const int32_t *s1 = shape->stride_1;
    const int32_t *s2 = shape->stride_2;
    for (int32_t i0 = 0; i0 < d[0]; ++i0)
    {
        for (int32_t i1 = 0; i1 < d[1]; ++i1)
        {
            for (int32_t i2 = 0; i2 < d[2]; ++i2)
            {
                const int8_t *p1 = input_1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2];
                const int8_t *p2 = input_2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2];
                for (int32_t i3 = 0; i3 < d[3]; ++i3)
                {
                    const int32_t prod = ((int32_t)p1[i3 * s1[3]] + input_1_offset) * ((int32_t)p2[i3 * s2[3]] + input_2_offset);
                    const int32_t v = tinyc_requantize(prod, out_mult, out_shift) + out_offset;
                    *output++ = tinyc_clamp_s8(v, out_activation_min, out_activation_max);
                }
            }
        }
    }
}
