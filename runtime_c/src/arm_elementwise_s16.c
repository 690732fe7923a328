/*
 * tinyc runtime: s16 elementwise add and multiply (CMSIS-NN v7 API), TFLite's int16 Add / Mul.
 *
 * Add: TFLite's general scheme with left_shift 15: each input (plus its
 * offset, 0 for int16) is shifted left, rescaled to the common scale, the sum
 * rescaled to the output. Mul: the product is rescaled once with the 32-bit
 * requantization. Sums wrap modulo 2^32 as the reference's int32 arithmetic.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

static int16_t finish(int32_t v, int32_t out_offset, int32_t lo, int32_t hi)
{
    v = (int32_t)((uint32_t)v + (uint32_t)out_offset);
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int16_t)v;
}

arm_cmsis_nn_status arm_elementwise_add_s16(const int16_t *input_1_vect,
                                            const int16_t *input_2_vect,
                                            const int32_t input_1_offset,
                                            const int32_t input_1_mult,
                                            const int32_t input_1_shift,
                                            const int32_t input_2_offset,
                                            const int32_t input_2_mult,
                                            const int32_t input_2_shift,
                                            const int32_t left_shift,
                                            int16_t *output,
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
        const uint32_t sum = (uint32_t)arm_nn_requantize(a, input_1_mult, input_1_shift) + (uint32_t)arm_nn_requantize(b, input_2_mult, input_2_shift);
        output[i] = finish(arm_nn_requantize((int32_t)sum, out_mult, out_shift), out_offset, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_elementwise_mul_s16(const int16_t *input_1_vect,
                                            const int16_t *input_2_vect,
                                            const int32_t input_1_offset,
                                            const int32_t input_2_offset,
                                            int16_t *output,
                                            const int32_t out_offset,
                                            const int32_t out_mult,
                                            const int32_t out_shift,
                                            const int32_t out_activation_min,
                                            const int32_t out_activation_max,
                                            const int32_t block_size)
{
    for (int32_t i = 0; i < block_size; ++i)
    {
        const int64_t prod = ((int64_t)input_1_vect[i] + input_1_offset) * ((int64_t)input_2_vect[i] + input_2_offset);
        output[i] = finish(arm_nn_requantize((int32_t)(uint32_t)(uint64_t)prod, out_mult, out_shift), out_offset, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}
