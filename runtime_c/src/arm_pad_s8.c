/*
 * tinyc runtime: CMSIS-NN's int8 constant pad (tinyc's own implementation).
 *
 * The output is [n, h, w, c] of pre_pad + input_size + post_pad per axis; the
 * border holds pad_value (the quantized fill), the middle the input.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "arm_nnfunctions.h"

arm_cmsis_nn_status arm_pad_s8(const int8_t *input,
                               int8_t *output,
                               const int8_t pad_value,
                               const cmsis_nn_dims *input_size,
                               const cmsis_nn_dims *pre_pad,
                               const cmsis_nn_dims *post_pad)
{
    const int32_t out_h = pre_pad->h + input_size->h + post_pad->h;
    const int32_t out_w = pre_pad->w + input_size->w + post_pad->w;
    const int32_t out_c = pre_pad->c + input_size->c + post_pad->c;
    const int32_t row = out_w * out_c;   /* one output row (h) */
    const int32_t plane = out_h * row;   /* one output batch (n) */
    if (pre_pad->n < 0 || pre_pad->h < 0 || pre_pad->w < 0 || pre_pad->c < 0 || post_pad->n < 0 || post_pad->h < 0 ||
        post_pad->w < 0 || post_pad->c < 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    memset(output, pad_value, (size_t)(pre_pad->n * plane));
    output += pre_pad->n * plane;
    for (int32_t n = 0; n < input_size->n; ++n)
    {
        memset(output, pad_value, (size_t)(pre_pad->h * row));
        output += pre_pad->h * row;
        for (int32_t y = 0; y < input_size->h; ++y)
        {
            memset(output, pad_value, (size_t)(pre_pad->w * out_c));
            output += pre_pad->w * out_c;
            for (int32_t x = 0; x < input_size->w; ++x)
            {
                memset(output, pad_value, (size_t)pre_pad->c);
                output += pre_pad->c;
                memcpy(output, input, (size_t)input_size->c);
                output += input_size->c;
                input += input_size->c;
                memset(output, pad_value, (size_t)post_pad->c);
                output += post_pad->c;
            }
            memset(output, pad_value, (size_t)(post_pad->w * out_c));
            output += post_pad->w * out_c;
        }
        memset(output, pad_value, (size_t)(post_pad->h * row));
        output += post_pad->h * row;
    }
    memset(output, pad_value, (size_t)(post_pad->n * plane));
    return ARM_CMSIS_NN_SUCCESS;
}
