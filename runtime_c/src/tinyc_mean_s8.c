/*
 * tinyc runtime: int8 MEAN over the middle axis of [outer, reduce, inner] (tinyc_nn_extra.h).
 *
 * TFLite's integer MEAN: the sum of x - input_zero_point over the reduced values
 * (int32; the code generator keeps reduce * 255 below 2^31), requantized by a
 * multiplier that already holds 1 / reduce, plus output_zero_point, saturated.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tinyc_fixedpoint.h"

void tinyc_mean_s8(const int8_t *input,
                   int8_t *output,
                   int32_t outer,
                   int32_t reduce,
                   int32_t inner,
                   int32_t input_zero_point,
                   int32_t multiplier,
                   int32_t shift,
                   int32_t output_zero_point)
{
    for (int32_t o = 0; o < outer; ++o)
    {
        const int8_t *block = input + o * reduce * inner;
        for (int32_t i = 0; i < inner; ++i)
        {
            int32_t acc = 0;
            const int8_t *p = block + i;
            for (int32_t r = 0; r < reduce; ++r)
            {
                acc += (int32_t)p[r * inner];
            }
            acc -= reduce * input_zero_point;
            const int32_t v = tinyc_requantize(acc, multiplier, shift) + output_zero_point;
            output[o * inner + i] = tinyc_clamp_s8(v, -128, 127);
        }
    }
}
