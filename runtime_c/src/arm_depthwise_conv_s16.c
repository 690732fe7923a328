/*
 * tinyc runtime: s16 depthwise convolution (CMSIS-NN v7 API), TFLite's 16x8 DepthwiseConvPerChannel.
 *
 * Output channel c * ch_mult + m reads input channel c through filter
 * [1, KH, KW, C_OUT]; int64 accumulator and bias, 64-bit requantization per
 * output channel (tinyc_nn_s16.h). SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>

#include "arm_nnfunctions.h"
#include "tinyc_nn_s16.h"

arm_cmsis_nn_status arm_depthwise_conv_s16(const cmsis_nn_context *ctx,
                                           const cmsis_nn_dw_conv_params *dw_conv_params,
                                           const cmsis_nn_per_channel_quant_params *quant_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int16_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const cmsis_nn_dims *bias_dims,
                                           const int64_t *bias_data,
                                           const cmsis_nn_dims *output_dims,
                                           int16_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t mult = dw_conv_params->ch_mult;
    const int32_t stride_h = dw_conv_params->stride.h, stride_w = dw_conv_params->stride.w;
    const int32_t pad_h = dw_conv_params->padding.h, pad_w = dw_conv_params->padding.w;
    const int32_t dil_h = dw_conv_params->dilation.h, dil_w = dw_conv_params->dilation.w;
    const int32_t act_min = dw_conv_params->activation.min, act_max = dw_conv_params->activation.max;
    if (mult <= 0 || in_c * mult != out_c || !tinyc_s16_shifts_ok(quant_params->shift, out_c))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }

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
                int16_t *dst = out + ((int64_t)oy * out_w + ox) * out_c;
                for (int32_t oc = 0; oc < out_c; ++oc)
                {
                    const int32_t ic = oc / mult;
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < k_h; ++ky)
                    {
                        const int32_t y = base_y + ky * dil_h;
                        if (y < 0 || y >= in_h)
                        {
                            continue;
                        }
                        const int16_t *row = in + (int64_t)y * in_w * in_c + ic;
                        const int8_t *w = filter_data + (int64_t)ky * k_w * out_c + oc;
                        int32_t sum = 0; /* at most KW products of 2^22 per row */
                        for (int32_t kx = 0; kx < k_w; ++kx)
                        {
                            const int32_t x = base_x + kx * dil_w;
                            if (x >= 0 && x < in_w)
                            {
                                sum += (int32_t)row[(int64_t)x * in_c] * (int32_t)w[(int64_t)kx * out_c];
                            }
                            if ((kx & 255) == 255)
                            {
                                acc += sum;
                                sum = 0;
                            }
                        }
                        acc += sum;
                    }
                    if (bias_data != NULL)
                    {
                        acc = tinyc_add_s64(acc, bias_data[oc]);
                    }
                    dst[oc] = tinyc_output_s16(acc, quant_params->multiplier[oc], quant_params->shift[oc], act_min, act_max);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_depthwise_conv_wrapper_s16(const cmsis_nn_context *ctx,
                                                   const cmsis_nn_dw_conv_params *dw_conv_params,
                                                   const cmsis_nn_per_channel_quant_params *quant_params,
                                                   const cmsis_nn_dims *input_dims,
                                                   const int16_t *input_data,
                                                   const cmsis_nn_dims *filter_dims,
                                                   const int8_t *filter_data,
                                                   const cmsis_nn_dims *bias_dims,
                                                   const int64_t *bias_data,
                                                   const cmsis_nn_dims *output_dims,
                                                   int16_t *output_data)
{
    return arm_depthwise_conv_s16(ctx, dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_dims, bias_data, output_dims, output_data);
}

int32_t arm_depthwise_conv_wrapper_s16_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                       const cmsis_nn_dims *input_dims,
                                                       const cmsis_nn_dims *filter_dims,
                                                       const cmsis_nn_dims *output_dims)
{
    (void)dw_conv_params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}
