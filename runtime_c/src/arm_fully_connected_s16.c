/*
 * tinyc runtime: s16 fully connected (CMSIS-NN v7 API), TFLite's 16x8 FullyConnected.
 *
 * acc[c] = bias[c] + sum_i x[i] * w[c][i] in 64 bits (int16 input, zero point
 * 0; int8 filter [C_OUT, N]), requantized per tensor or per output channel by
 * the 64-bit scheme of tinyc_nn_s16.h. SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>

#include "arm_nnfunctions.h"
#include "tinyc_nn_s16.h"

static arm_cmsis_nn_status fully_connected(const cmsis_nn_fc_params *fc_params,
                                           const int32_t *mult,
                                           const int32_t *shift,
                                           int32_t per_channel,
                                           const cmsis_nn_dims *input_dims,
                                           const int16_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const int64_t *bias_data,
                                           const cmsis_nn_dims *output_dims,
                                           int16_t *output_data)
{
    const int32_t depth = filter_dims->n;
    const int32_t out_c = output_dims->c;
    const int32_t act_min = fc_params->activation.min;
    const int32_t act_max = fc_params->activation.max;
    if (depth <= 0 || out_c <= 0 || !tinyc_s16_shifts_ok(shift, per_channel ? out_c : 1))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int16_t *x = input_data + (int64_t)b * depth;
        int16_t *out = output_data + (int64_t)b * out_c;
        for (int32_t c = 0; c < out_c; ++c)
        {
            int64_t acc = tinyc_dot_s16_s8(x, filter_data + (int64_t)c * depth, depth);
            if (bias_data != NULL)
            {
                acc = tinyc_add_s64(acc, bias_data[c]);
            }
            const int32_t k = per_channel ? c : 0;
            out[c] = tinyc_output_s16(acc, mult[k], shift[k], act_min, act_max);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_fully_connected_s16(const cmsis_nn_context *ctx,
                                            const cmsis_nn_fc_params *fc_params,
                                            const cmsis_nn_per_tensor_quant_params *quant_params,
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
    return fully_connected(fc_params, &quant_params->multiplier, &quant_params->shift, 0, input_dims, input_data, filter_dims, filter_data, bias_data, output_dims, output_data);
}

arm_cmsis_nn_status arm_fully_connected_per_channel_s16(const cmsis_nn_context *ctx,
                                                        const cmsis_nn_fc_params *fc_params,
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
    return fully_connected(fc_params, quant_params->multiplier, quant_params->shift, 1, input_dims, input_data, filter_dims, filter_data, bias_data, output_dims, output_data);
}

int32_t arm_fully_connected_s16_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

int32_t arm_fully_connected_per_channel_s16_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}
