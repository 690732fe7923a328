/*
 * tinyc runtime: s8 elementwise add and multiply (CMSIS-NN v7 API), TFLite Add / Mul semantics.
 *
 * Add: each input gets its offset, is shifted left by left_shift (20 for int8
 * in TFLite), rescaled to the common scale 2 * max(s1, s2); the sum is
 * rescaled to the output. Mul: the product of the offset inputs is rescaled
 * once. Shapes must already match (block_size values each); broadcasting is
 * the caller's loop. SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tinyc_nn_internal.h"

arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_1_mult,
                                           const int32_t input_1_shift,
                                           const int32_t input_2_offset,
                                           const int32_t input_2_mult,
                                           const int32_t input_2_shift,
                                           const int32_t left_shift,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    for (int32_t i = 0; i < block_size; ++i)
    {
        const int32_t a = (int32_t)((uint32_t)((int32_t)input_1_vect[i] + input_1_offset) << left_shift);
        const int32_t b = (int32_t)((uint32_t)((int32_t)input_2_vect[i] + input_2_offset) << left_shift);
        const int32_t sum = arm_nn_requantize(a, input_1_mult, input_1_shift) + arm_nn_requantize(b, input_2_mult, input_2_shift);
        output[i] = tinyc_requantize_to_s8(sum, out_mult, out_shift, out_offset, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_elementwise_mul_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_2_offset,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    for (int32_t i = 0; i < block_size; ++i)
    {
        const int32_t prod = ((int32_t)input_1_vect[i] + input_1_offset) * ((int32_t)input_2_vect[i] + input_2_offset);
        output[i] = tinyc_requantize_to_s8(prod, out_mult, out_shift, out_offset, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}
