/*
 * tinyc runtime: s8 fully connected (CMSIS-NN v7 API), TFLite FullyConnected semantics.
 *
 * acc[c] = bias[c] + sum_i (x[i] + input_offset) * (w[c][i] + filter_offset),
 * then requantized per tensor or per output channel. Two output rows share
 * each pass over the input; the requantization of a per-tensor layer is
 * prepared once. SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tinyc_nn_internal.h"

static arm_cmsis_nn_status fully_connected(const cmsis_nn_fc_params *fc_params,
                                           const int32_t *mult,
                                           const int32_t *shift,
                                           int32_t per_channel,
                                           const cmsis_nn_dims *input_dims,
                                           const int8_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const int32_t *bias_data,
                                           const cmsis_nn_dims *output_dims,
                                           int8_t *output_data)
{
    const int32_t depth = filter_dims->n;
    const int32_t out_c = output_dims->c;
    const int32_t in_off = fc_params->input_offset;
    const int32_t filt_off = fc_params->filter_offset;
    const int32_t out_off = fc_params->output_offset;
    const int32_t act_min = fc_params->activation.min;
    const int32_t act_max = fc_params->activation.max;
    if (depth <= 0 || out_c <= 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *x = input_data + (int64_t)b * depth;
        int8_t *out = output_data + (int64_t)b * out_c;
        /* (w + filter_offset) . (x + input_offset) = w . (x + input_offset) + filter_offset * sum(x + input_offset) */
        const int32_t x_term = filt_off != 0 ? filt_off * tinyc_sum_s8(x, depth, in_off) : 0;
        const tinyc_rq shared = tinyc_rq_make(mult[0], shift[0]);
        int32_t c = 0;
        for (; c + 2 <= out_c; c += 2)
        {
            int32_t acc0 = (bias_data != NULL ? bias_data[c] : 0) + x_term;
            int32_t acc1 = (bias_data != NULL ? bias_data[c + 1] : 0) + x_term;
            tinyc_dot2_s8(x, filter_data + (int64_t)c * depth, filter_data + (int64_t)(c + 1) * depth, depth, in_off, &acc0, &acc1);
            const tinyc_rq r0 = per_channel ? tinyc_rq_make(mult[c], shift[c]) : shared;
            const tinyc_rq r1 = per_channel ? tinyc_rq_make(mult[c + 1], shift[c + 1]) : shared;
            out[c] = tinyc_rq_apply(&r0, acc0, out_off, act_min, act_max);
            out[c + 1] = tinyc_rq_apply(&r1, acc1, out_off, act_min, act_max);
        }
        for (; c < out_c; ++c)
        {
            const int32_t acc = tinyc_dot_s8(x, filter_data + (int64_t)c * depth, depth, in_off, (bias_data != NULL ? bias_data[c] : 0) + x_term);
            const tinyc_rq r = per_channel ? tinyc_rq_make(mult[c], shift[c]) : shared;
            out[c] = tinyc_rq_apply(&r, acc, out_off, act_min, act_max);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_fully_connected_s8(const cmsis_nn_context *ctx,
                                           const cmsis_nn_fc_params *fc_params,
                                           const cmsis_nn_per_tensor_quant_params *quant_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int8_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const cmsis_nn_dims *bias_dims,
                                           const int32_t *bias_data,
                                           const cmsis_nn_dims *output_dims,
                                           int8_t *output_data)
{
    (void)ctx; /* kernel sums in ctx (arm_vector_sum_s8) are not needed here */
    (void)bias_dims;
    return fully_connected(fc_params,
                           &quant_params->multiplier,
                           &quant_params->shift,
                           0,
                           input_dims,
                           input_data,
                           filter_dims,
                           filter_data,
                           bias_data,
                           output_dims,
                           output_data);
}

arm_cmsis_nn_status arm_fully_connected_per_channel_s8(const cmsis_nn_context *ctx,
                                                       const cmsis_nn_fc_params *fc_params,
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
    (void)ctx;
    (void)bias_dims;
    return fully_connected(fc_params,
                           quant_params->multiplier,
                           quant_params->shift,
                           1,
                           input_dims,
                           input_data,
                           filter_dims,
                           filter_data,
                           bias_data,
                           output_dims,
                           output_data);
}

int32_t arm_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

arm_cmsis_nn_status arm_vector_sum_s8(int32_t *vector_sum_buf,
                                      const int32_t vector_cols,
                                      const int32_t vector_rows,
                                      const int8_t *vector_data,
                                      const int32_t lhs_offset,
                                      const int32_t rhs_offset,
                                      const int32_t *bias_data)
{
    for (int32_t r = 0; r < vector_rows; ++r)
    {
        const int32_t row_sum = tinyc_sum_s8(vector_data + (int64_t)r * vector_cols, vector_cols, rhs_offset);
        vector_sum_buf[r] = (bias_data != NULL ? bias_data[r] : 0) + lhs_offset * row_sum;
    }
    return ARM_CMSIS_NN_SUCCESS;
}
