/*
 * tinyc runtime: s16 average and max pooling (CMSIS-NN v7 API), TFLite's int16 AveragePool / MaxPool.
 *
 * Only the window pixels inside the input count; the average rounds half away
 * from zero, (sum +- count / 2) / count with C's truncating division, summed
 * in 64 bits. SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>

#include "arm_nnfunctions.h"

typedef struct
{
    int32_t y0, y1, x0, x1; /* input rows [y0, y1) and columns [x0, x1) under the window */
} pool_window_s16;

static pool_window_s16 window_at(const cmsis_nn_pool_params *p, const cmsis_nn_dims *in, const cmsis_nn_dims *filt, int32_t oy, int32_t ox)
{
    pool_window_s16 w;
    const int32_t by = oy * p->stride.h - p->padding.h;
    const int32_t bx = ox * p->stride.w - p->padding.w;
    w.y0 = by > 0 ? by : 0;
    w.y1 = by + filt->h < in->h ? by + filt->h : in->h;
    w.x0 = bx > 0 ? bx : 0;
    w.x1 = bx + filt->w < in->w ? bx + filt->w : in->w;
    return w;
}

static int16_t clamp_s16(int64_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int16_t)v;
}

arm_cmsis_nn_status arm_avgpool_s16(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int16_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int16_t *output_data)
{
    (void)ctx;
    const int32_t ch = input_dims->c;
    const int32_t act_min = pool_params->activation.min;
    const int32_t act_max = pool_params->activation.max;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int16_t *input = input_data + (int64_t)b * input_dims->h * input_dims->w * ch;
        int16_t *out = output_data + (int64_t)b * output_dims->h * output_dims->w * ch;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            for (int32_t ox = 0; ox < output_dims->w; ++ox)
            {
                const pool_window_s16 w = window_at(pool_params, input_dims, filter_dims, oy, ox);
                if (w.y1 <= w.y0 || w.x1 <= w.x0)
                {
                    return ARM_CMSIS_NN_ARG_ERROR; /* a window entirely in the padding */
                }
                const int64_t count = (int64_t)(w.y1 - w.y0) * (w.x1 - w.x0);
                for (int32_t c = 0; c < ch; ++c)
                {
                    int64_t sum = 0;
                    for (int32_t y = w.y0; y < w.y1; ++y)
                    {
                        const int16_t *row = input + ((int64_t)y * input_dims->w) * ch + c;
                        for (int32_t x = w.x0; x < w.x1; ++x)
                        {
                            sum += row[(int64_t)x * ch];
                        }
                    }
                    sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    out[c] = clamp_s16(sum, act_min, act_max);
                }
                out += ch;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_avgpool_s16_get_buffer_size(const int dim_dst_width, const int ch_src)
{
    (void)dim_dst_width;
    (void)ch_src;
    return 0;
}

arm_cmsis_nn_status arm_max_pool_s16(const cmsis_nn_context *ctx,
                                     const cmsis_nn_pool_params *pool_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int16_t *src,
                                     const cmsis_nn_dims *filter_dims,
                                     const cmsis_nn_dims *output_dims,
                                     int16_t *dst)
{
    (void)ctx;
    const int32_t ch = input_dims->c;
    const int32_t act_min = pool_params->activation.min;
    const int32_t act_max = pool_params->activation.max;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int16_t *input = src + (int64_t)b * input_dims->h * input_dims->w * ch;
        int16_t *out = dst + (int64_t)b * output_dims->h * output_dims->w * ch;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            for (int32_t ox = 0; ox < output_dims->w; ++ox)
            {
                const pool_window_s16 w = window_at(pool_params, input_dims, filter_dims, oy, ox);
                if (w.y1 <= w.y0 || w.x1 <= w.x0)
                {
                    return ARM_CMSIS_NN_ARG_ERROR;
                }
                for (int32_t c = 0; c < ch; ++c)
                {
                    int32_t best = INT16_MIN;
                    for (int32_t y = w.y0; y < w.y1; ++y)
                    {
                        const int16_t *row = input + ((int64_t)y * input_dims->w) * ch + c;
                        for (int32_t x = w.x0; x < w.x1; ++x)
                        {
                            const int32_t v = row[(int64_t)x * ch];
                            best = v > best ? v : best;
                        }
                    }
                    out[c] = clamp_s16(best, act_min, act_max);
                }
                out += ch;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
