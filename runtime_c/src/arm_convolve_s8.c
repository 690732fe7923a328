/*
 * tinyc runtime: s8 convolution (CMSIS-NN v7 API), TFLite ConvPerChannel semantics.
 *
 * Direct convolution without an im2col buffer: for each output pixel and each
 * pair of output channels, dot products over the filter taps that fall inside
 * the input. When a filter row lies entirely inside the input and is
 * contiguous in memory (no dilation along x, no grouping, no upscaling), the
 * whole row is one dot product of KW * C_IN values.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tinyc_nn_internal.h"

typedef struct
{
    int32_t in_h, in_w;        /* (upscaled) input size the filter slides over */
    int32_t src_w;             /* stored input width (row stride in pixels) */
    int32_t in_c, k_c;         /* input channels; filter depth (per group) */
    int32_t k_h, k_w;
    int32_t y_shift, x_shift;  /* 1 when the input is read upscaled 2x along that axis */
    int32_t dil_h, dil_w;
    int32_t input_offset;
} tinyc_conv_geom;

/* Accumulate one output pixel for output channels oc0 and oc1 (oc1 may equal oc0) of group g. */
static void conv_pixel2(const tinyc_conv_geom *g,
                        const int8_t *input,
                        const int8_t *filter,
                        int32_t base_y,
                        int32_t base_x,
                        int32_t group,
                        int32_t oc0,
                        int32_t oc1,
                        int32_t *acc0,
                        int32_t *acc1)
{
    const int32_t row_len = g->k_w * g->k_c;
    const int32_t filt_size = g->k_h * row_len;
    const int8_t *f0 = filter + oc0 * filt_size;
    const int8_t *f1 = filter + oc1 * filt_size;
    const int contiguous_rows = g->dil_w == 1 && g->k_c == g->in_c && g->x_shift == 0 && base_x >= 0 && base_x + g->k_w <= g->in_w;

    for (int32_t ky = 0; ky < g->k_h; ++ky)
    {
        const int32_t y = base_y + ky * g->dil_h;
        if (y < 0 || y >= g->in_h)
        {
            continue;
        }
        const int8_t *in_row = input + (int64_t)(y >> g->y_shift) * g->src_w * g->in_c + group * g->k_c;
        const int8_t *f0_row = f0 + ky * row_len;
        const int8_t *f1_row = f1 + ky * row_len;
        if (contiguous_rows)
        {
            tinyc_dot2_s8(in_row + base_x * g->in_c, f0_row, f1_row, row_len, g->input_offset, acc0, acc1);
            continue;
        }
        for (int32_t kx = 0; kx < g->k_w; ++kx)
        {
            const int32_t x = base_x + kx * g->dil_w;
            if (x < 0 || x >= g->in_w)
            {
                continue;
            }
            const int8_t *in_px = in_row + (x >> g->x_shift) * g->in_c;
            tinyc_dot2_s8(in_px, f0_row + kx * g->k_c, f1_row + kx * g->k_c, g->k_c, g->input_offset, acc0, acc1);
        }
    }
}

arm_cmsis_nn_status arm_convolve_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_conv_params *conv_params,
                                    const cmsis_nn_per_channel_quant_params *quant_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const int8_t *filter_data,
                                    const cmsis_nn_dims *bias_dims,
                                    const int32_t *bias_data,
                                    const cmsis_nn_dims *upscale_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)ctx; /* no scratch needed: arm_convolve_s8_get_buffer_size() is 0 */
    (void)bias_dims;

    const int32_t in_c = input_dims->c;
    const int32_t k_c = filter_dims->c;
    const int32_t out_c = output_dims->c;
    if (k_c <= 0 || in_c % k_c != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t groups = in_c / k_c;
    if (out_c % groups != 0 || filter_dims->n != out_c)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t out_per_group = out_c / groups;

    tinyc_conv_geom g;
    g.y_shift = (upscale_dims != NULL && upscale_dims->h == 2) ? 1 : 0;
    g.x_shift = (upscale_dims != NULL && upscale_dims->w == 2) ? 1 : 0;
    g.in_h = input_dims->h;
    g.in_w = input_dims->w;
    g.src_w = input_dims->w >> g.x_shift;
    g.in_c = in_c;
    g.k_c = k_c;
    g.k_h = filter_dims->h;
    g.k_w = filter_dims->w;
    g.dil_h = conv_params->dilation.h;
    g.dil_w = conv_params->dilation.w;
    g.input_offset = conv_params->input_offset;

    const int32_t src_h = input_dims->h >> g.y_shift;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t *mult = quant_params->multiplier;
    const int32_t *shift = quant_params->shift;
    const int32_t out_offset = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *input = input_data + (int64_t)b * src_h * g.src_w * in_c;
        int8_t *out = output_data + (int64_t)b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy)
        {
            const int32_t base_y = oy * conv_params->stride.h - conv_params->padding.h;
            for (int32_t ox = 0; ox < out_w; ++ox)
            {
                const int32_t base_x = ox * conv_params->stride.w - conv_params->padding.w;
                for (int32_t grp = 0; grp < groups; ++grp)
                {
                    const int32_t first = grp * out_per_group;
                    const int32_t end = first + out_per_group;
                    for (int32_t oc = first; oc < end; oc += 2)
                    {
                        const int32_t oc1 = (oc + 1 < end) ? oc + 1 : oc;
                        int32_t acc0 = bias_data != NULL ? bias_data[oc] : 0;
                        int32_t acc1 = bias_data != NULL ? bias_data[oc1] : 0;
                        conv_pixel2(&g, input, filter_data, base_y, base_x, grp, oc, oc1, &acc0, &acc1);
                        out[oc] = tinyc_requantize_to_s8(acc0, mult[oc], shift[oc], out_offset, act_min, act_max);
                        if (oc1 != oc)
                        {
                            out[oc1] = tinyc_requantize_to_s8(acc1, mult[oc1], shift[oc1], out_offset, act_min, act_max);
                        }
                    }
                }
                out += out_c;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_convolve_s8_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx,
                                            const cmsis_nn_conv_params *conv_params,
                                            const cmsis_nn_per_channel_quant_params *quant_params,
                                            const cmsis_nn_dims *input_dims,
                                            const int8_t *input_data,
                                            const cmsis_nn_dims *filter_dims,
                                            const int8_t *filter_data,
                                            const cmsis_nn_dims *bias_dims,
                                            const int32_t *bias_data,
                                            const cmsis_nn_dims *output_dims,
                                            int8_t *output_data)
{
    return arm_convolve_s8(ctx,
                           conv_params,
                           quant_params,
                           input_dims,
                           input_data,
                           filter_dims,
                           filter_data,
                           bias_dims,
                           bias_data,
                           NULL,
                           output_dims,
                           output_data);
}

int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims,
                                                const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims)
{
    (void)conv_params;
    (void)output_dims;
    return arm_convolve_s8_get_buffer_size(input_dims, filter_dims);
}
