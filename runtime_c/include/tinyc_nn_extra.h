/*
 * tinyc runtime: int8 kernels that CMSIS-NN (v7) does not have.
 *
 * Each follows TFLite's reference int8 arithmetic bit for bit (what tinyc's
 * integer reference interpreter computes): logistic and tanh in gemmlowp fixed
 * point, hard-swish on 16-bit fixed point, MEAN, QUANTIZE between int8
 * parameters, and ADD / MUL with broadcasting. They live in runtime_c/src/tinyc_*.c
 * and are built in both runtime modes: with tinyc's own kernels and with Arm's
 * CMSIS-NN swapped in (TINYC_CMSIS_NN_DIR), so this header uses plain C types only
 * and does not include any arm_*.h header.
 *
 * Element-wise functions may run in place (output == input); in the broadcasting
 * ones only the full-shape input may share the output's bytes.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TINYC_NN_EXTRA_H
#define TINYC_NN_EXTRA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * int8 logistic (TFLite / TFLM LOGISTIC): output scale 1/256, zero point -128.
 * input_multiplier, input_left_shift: the input scale times 2^27 as a Q31 value and
 * its exponent (frexp, no fix-up); input_range_radius: |x - zp| at and beyond which
 * the result saturates.
 */
void tinyc_logistic_s8(const int8_t *input,
                       int8_t *output,
                       int32_t size,
                       int32_t input_zero_point,
                       int32_t input_range_radius,
                       int32_t input_multiplier,
                       int32_t input_left_shift);

/** int8 tanh (TFLite / TFLM TANH): output scale 1/128, zero point 0; parameters as tinyc_logistic_s8(). */
void tinyc_tanh_s8(const int8_t *input,
                   int8_t *output,
                   int32_t size,
                   int32_t input_zero_point,
                   int32_t input_range_radius,
                   int32_t input_multiplier,
                   int32_t input_left_shift);

/**
 * int8 hard-swish, x * relu6(x + 3) / 6 (TFLite's reference HARD_SWISH): the two
 * multipliers are Q15 values with their exponents, as TFLite's HardSwishParams.
 */
void tinyc_hard_swish_s8(const int8_t *input,
                         int8_t *output,
                         int32_t size,
                         int32_t input_zero_point,
                         int32_t output_zero_point,
                         int16_t reluish_multiplier,
                         int32_t reluish_exponent,
                         int16_t output_multiplier,
                         int32_t output_exponent);

/** output[i] = table[input[i] + 128]: any int8 -> int8 function of one value, tabulated (in place-safe). */
void tinyc_lut_s8(const int8_t *input, int8_t *output, int32_t size, const int8_t table[256]);

/**
 * int8 MEAN over the middle axis of an [outer, reduce, inner] tensor (TFLite's
 * integer MEAN: the int32 sum of x - input_zero_point, requantized by a multiplier
 * that includes 1 / reduce, plus output_zero_point, saturated). Output [outer, inner].
 */
void tinyc_mean_s8(const int8_t *input,
                   int8_t *output,
                   int32_t outer,
                   int32_t reduce,
                   int32_t inner,
                   int32_t input_zero_point,
                   int32_t multiplier,
                   int32_t shift,
                   int32_t output_zero_point);

/**
 * TFLite's QUANTIZE between int8 parameters on blocks: rows rows of row_size values
 * from input (contiguous) to output rows of output_row_size values starting at
 * column offset (a concatenation slot; row_size == output_row_size and offset 0
 * is a plain requantize). Each value: (x - input_zero_point) * multiplier / 2^(31 - shift),
 * rounded as TFLite, plus output_zero_point, saturated to int8.
 */
void tinyc_requantize_rows_s8(const int8_t *input,
                              int32_t rows,
                              int32_t row_size,
                              int8_t *output,
                              int32_t output_row_size,
                              int32_t offset,
                              int32_t input_zero_point,
                              int32_t multiplier,
                              int32_t shift,
                              int32_t output_zero_point);

/**
 * Broadcast shapes of up to TINYC_BCAST_DIMS axes: output dims, and for each input
 * the element stride of every output axis (0 where that input is broadcast).
 */
#define TINYC_BCAST_DIMS 4
typedef struct
{
    int32_t dims[TINYC_BCAST_DIMS];
    int32_t stride_1[TINYC_BCAST_DIMS];
    int32_t stride_2[TINYC_BCAST_DIMS];
} tinyc_broadcast_shape;

/** int8 ADD with broadcasting; the parameters are arm_elementwise_add_s8()'s (TFLite's ADD). */
void tinyc_broadcast_add_s8(const int8_t *input_1,
                            const int8_t *input_2,
                            const tinyc_broadcast_shape *shape,
                            int32_t input_1_offset,
                            int32_t input_1_mult,
                            int32_t input_1_shift,
                            int32_t input_2_offset,
                            int32_t input_2_mult,
                            int32_t input_2_shift,
                            int32_t left_shift,
                            int8_t *output,
                            int32_t out_offset,
                            int32_t out_mult,
                            int32_t out_shift,
                            int32_t out_activation_min,
                            int32_t out_activation_max);

/** int8 MUL with broadcasting; the parameters are arm_elementwise_mul_s8()'s (TFLite's MUL). */
void tinyc_broadcast_mul_s8(const int8_t *input_1,
                            const int8_t *input_2,
                            const tinyc_broadcast_shape *shape,
                            int32_t input_1_offset,
                            int32_t input_2_offset,
                            int8_t *output,
                            int32_t out_offset,
                            int32_t out_mult,
                            int32_t out_shift,
                            int32_t out_activation_min,
                            int32_t out_activation_max);

#ifdef __cplusplus
}
#endif

#endif /* TINYC_NN_EXTRA_H */
