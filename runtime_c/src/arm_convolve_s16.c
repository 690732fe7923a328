/*
 * tinyc runtime: s16 convolution (CMSIS-NN v7 API), TFLite's 16x8 ConvPerChannel semantics.
 *
 * int16 input (zero point 0), int8 filter [C_OUT, KH, KW, C_IN / groups], an
 * int64 (or, flagged, int32) bias; each output is the int64 sum of the
 * products under the window (padding reads 0), plus the bias, requantized per
 * output channel by the 64-bit scheme of tinyc_nn_s16.h and clamped.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>

#include "arm_nnfunctions.h"
#include "tinyc_nn_s16.h"

static int64_t bias_at(const cmsis_nn_bias_data *bias, int32_t c)
{
    if (bias == NULL || bias->data == NULL)
    {
        return 0;
    }
    return bias->is_int32_bias ? (int64_t)((const int32_t *)bias->data)[c] : ((const int64_t *)bias->data)[c];
}

arm_cmsis_nn_status arm_convolve_s16(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *conv_params,
                                     const cmsis_nn_per_channel_quant_params *quant_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int16_t *input_data,
                                     const cmsis_nn_dims *filter_dims,
                                     const int8_t *filter_data,
                                     const cmsis_nn_dims *bias_dims,
                                     const cmsis_nn_bias_data *bias_data,
                                     const cmsis_nn_dims *output_dims,
                                     int16_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, k_c = filter_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t stride_h = conv_params->stride.h, stride_w = conv_params->stride.w;
    const int32_t pad_h = conv_params->padding.h, pad_w = conv_params->padding.w;
    const int32_t dil_h = conv_params->dilation.h, dil_w = conv_params->dilation.w;
    const int32_t act_min = conv_params->activation.min, act_max = conv_params->activation.max;
    if (k_c <= 0 || in_c % k_c != 0 || out_c % (in_c / k_c) != 0 || !tinyc_s16_shifts_ok(quant_params->shift, out_c))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t groups = in_c / k_c;
    const int32_t per_group = out_c / groups;
    const int32_t filter_size = k_h * k_w * k_c;

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int16_t *in = input_data + (int64_t)b * in_h * in_w * in_c;
        int16_t *out = output_data + (int64_t)b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy)
        {
            const int32_t base_y = oy * stride_h - pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox)
            {
                const int32_t base_x = ox * stride_w - pad_w;
                for (int32_t oc = 0; oc < out_c; ++oc)
                {
                    const int32_t first_in = (oc / per_group) * k_c;
                    const int8_t *w = filter_data + (int64_t)oc * filter_size;
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < k_h; ++ky)
                    {
                        const int32_t y = base_y + ky * dil_h;
                        if (y < 0 || y >= in_h)
                        {
                            continue;
                        }
                        for (int32_t kx = 0; kx < k_w; ++kx)
                        {
                            const int32_t x = base_x + kx * dil_w;
                            if (x < 0 || x >= in_w)
                            {
                                continue;
                            }
                            const int16_t *px = in + ((int64_t)y * in_w + x) * in_c + first_in;
                            const int8_t *wk = w + (ky * k_w + kx) * k_c;
                            acc += tinyc_dot_s16_s8(px, wk, k_c);
                        }
                    }
                    acc = tinyc_add_s64(acc, bias_at(bias_data, oc));
                    out[((int64_t)oy * out_w + ox) * out_c + oc] =
                        tinyc_output_s16(acc, quant_params->multiplier[oc], quant_params->shift[oc], act_min, act_max);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_convolve_wrapper_s16(const cmsis_nn_context *ctx,
                                             const cmsis_nn_conv_params *conv_params,
                                             const cmsis_nn_per_channel_quant_params *quant_params,
                                             const cmsis_nn_dims *input_dims,
                                             const int16_t *input_data,
                                             const cmsis_nn_dims *filter_dims,
                                             const int8_t *filter_data,
                                             const cmsis_nn_dims *bias_dims,
                                             const cmsis_nn_bias_data *bias_data,
                                             const cmsis_nn_dims *output_dims,
                                             int16_t *output_data)
{
    return arm_convolve_s16(ctx, conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_dims, bias_data, output_dims, output_data);
}

int32_t arm_convolve_s16_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

int32_t arm_convolve_wrapper_s16_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                 const cmsis_nn_dims *input_dims,
                                                 const cmsis_nn_dims *filter_dims,
                                                 const cmsis_nn_dims *output_dims)
{
    (void)conv_params;
    (void)output_dims;
    return arm_convolve_s16_get_buffer_size(input_dims, filter_dims);
}
