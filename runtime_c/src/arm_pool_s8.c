/*
 * tinyc runtime: s8 average and max pooling (CMSIS-NN v7 API), TFLite AveragePool / MaxPool semantics.
 *
 * Only the window pixels inside the input count; the average rounds half away
 * from zero, (sum +- count / 2) / count with C's truncating division.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tinyc_nn_internal.h"

typedef struct
{
    int32_t y0, y1, x0, x1; /* input rows [y0, y1) and columns [x0, x1) under the window */
} tinyc_pool_window;

static tinyc_pool_window pool_window(const cmsis_nn_pool_params *p, const cmsis_nn_dims *in, const cmsis_nn_dims *filt, int32_t oy, int32_t ox)
{
    tinyc_pool_window w;
    const int32_t by = oy * p->stride.h - p->padding.h;
    const int32_t bx = ox * p->stride.w - p->padding.w;
    w.y0 = TINYC_MAX(by, 0);
    w.y1 = TINYC_MIN(by + filt->h, in->h);
    w.x0 = TINYC_MAX(bx, 0);
    w.x1 = TINYC_MIN(bx + filt->w, in->w);
    return w;
}

arm_cmsis_nn_status arm_avgpool_s8(const cmsis_nn_context *ctx,
                                   const cmsis_nn_pool_params *pool_params,
                                   const cmsis_nn_dims *input_dims,
                                   const int8_t *input_data,
                                   const cmsis_nn_dims *filter_dims,
                                   const cmsis_nn_dims *output_dims,
                                   int8_t *output_data)
{
    (void)ctx;
    const int32_t ch = input_dims->c;
    const int32_t act_min = pool_params->activation.min;
    const int32_t act_max = pool_params->activation.max;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *input = input_data + (int64_t)b * input_dims->h * input_dims->w * ch;
        int8_t *out = output_data + (int64_t)b * output_dims->h * output_dims->w * ch;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            for (int32_t ox = 0; ox < output_dims->w; ++ox)
            {
                const tinyc_pool_window w = pool_window(pool_params, input_dims, filter_dims, oy, ox);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
                if (w.y1 <= w.y0 || w.x1 <= w.x0)
                {
                    return ARM_CMSIS_NN_ARG_ERROR; /* a window entirely in the padding */
                }
                for (int32_t c = 0; c < ch; ++c)
                {
                    int32_t sum = 0;
                    for (int32_t y = w.y0; y < w.y1; ++y)
                    {
                        const int8_t *row = input + ((int64_t)y * input_dims->w) * ch + c;
                        for (int32_t x = w.x0; x < w.x1; ++x)
                        {
                            sum += row[(int64_t)x * ch];
                        }
                    }
                    sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    sum = TINYC_MAX(sum, act_min);
                    sum = TINYC_MIN(sum, act_max);
                    out[c] = (int8_t)sum;
                }
                out += ch;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_avgpool_s8_get_buffer_size(const int dim_dst_width, const int ch_src)
{
    (void)dim_dst_width;
    (void)ch_src;
    return 0;
}

arm_cmsis_nn_status arm_max_pool_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)ctx;
    const int32_t ch = input_dims->c;
    const int32_t act_min = pool_params->activation.min;
    const int32_t act_max = pool_params->activation.max;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *input = input_data + (int64_t)b * input_dims->h * input_dims->w * ch;
        int8_t *out = output_data + (int64_t)b * output_dims->h * output_dims->w * ch;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            for (int32_t ox = 0; ox < output_dims->w; ++ox)
            {
                const tinyc_pool_window w = pool_window(pool_params, input_dims, filter_dims, oy, ox);
                if (w.y1 <= w.y0 || w.x1 <= w.x0)
                {
                    return ARM_CMSIS_NN_ARG_ERROR;
                }
                for (int32_t c = 0; c < ch; ++c)
                {
                    int32_t best = INT8_MIN;
                    for (int32_t y = w.y0; y < w.y1; ++y)
                    {
                        const int8_t *row = input + ((int64_t)y * input_dims->w) * ch + c;
                        for (int32_t x = w.x0; x < w.x1; ++x)
                        {
                            best = TINYC_MAX(best, (int32_t)row[(int64_t)x * ch]);
                        }
                    }
                    best = TINYC_MAX(best, act_min);
                    best = TINYC_MIN(best, act_max);
                    out[c] = (int8_t)best;
                }
                out += ch;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
