/*
 * tinyc runtime: the CMSIS-NN v7 public types used by tinyc's generated code.
 *
 * Same names, members and meaning as CMSIS-NN's arm_nn_types.h (v7), written
 * for tinyc from the documented API, so that generated code compiles against
 * either this portable runtime or a real CMSIS-NN checkout
 * (TINYC_CMSIS_NN_DIR). SPDX-License-Identifier: Apache-2.0
 */
#ifndef ARM_NN_TYPES_H
#define ARM_NN_TYPES_H

#include <stdbool.h>
#include <stdint.h>

/** Return codes of the kernels. */
typedef enum
{
    ARM_CMSIS_NN_SUCCESS = 0,        /* no error */
    ARM_CMSIS_NN_ARG_ERROR = -1,     /* an argument is out of the supported range */
    ARM_CMSIS_NN_NO_IMPL_ERROR = -2, /* no implementation for these arguments */
    ARM_CMSIS_NN_FAILURE = -3        /* logical error */
} arm_cmsis_nn_status;

/** A width and a height (strides, paddings, dilations). */
typedef struct
{
    int32_t w;
    int32_t h;
} cmsis_nn_tile;

/** Scratch memory handed to a kernel; its size comes from the matching *_get_buffer_size(). */
typedef struct
{
    void *buf;
    int32_t size;
} cmsis_nn_context;

/** Tensor dimensions. n is the batch (or, for filters, the output channels / accumulation depth). */
typedef struct
{
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} cmsis_nn_dims;

/** Per-output-channel requantization: multiplier[c] * 2^(shift[c] - 31). */
typedef struct
{
    int32_t *multiplier;
    int32_t *shift;
} cmsis_nn_per_channel_quant_params;

/** Per-tensor requantization. */
typedef struct
{
    int32_t multiplier;
    int32_t shift;
} cmsis_nn_per_tensor_quant_params;

/** Requantization that is either per tensor or per channel. */
typedef struct
{
    int32_t *multiplier;
    int32_t *shift;
    int32_t is_per_channel;
} cmsis_nn_quant_params;

/** Output clamp (the quantized fused activation). */
typedef struct
{
    int32_t min;
    int32_t max;
} cmsis_nn_activation;

/** Convolution parameters. input_offset = -input zero point, output_offset = +output zero point. */
typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    cmsis_nn_tile stride;
    cmsis_nn_tile padding;
    cmsis_nn_tile dilation;
    cmsis_nn_activation activation;
} cmsis_nn_conv_params;

/** Depthwise convolution parameters; ch_mult * input channels = output channels. */
typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    int32_t ch_mult;
    cmsis_nn_tile stride;
    cmsis_nn_tile padding;
    cmsis_nn_tile dilation;
    cmsis_nn_activation activation;
} cmsis_nn_dw_conv_params;

/** Pooling parameters. */
typedef struct
{
    cmsis_nn_tile stride;
    cmsis_nn_tile padding;
    cmsis_nn_activation activation;
} cmsis_nn_pool_params;

/** Fully-connected parameters; filter_offset = -filter zero point (0 for TFLite int8). */
typedef struct
{
    int32_t input_offset;
    int32_t filter_offset;
    int32_t output_offset;
    cmsis_nn_activation activation;
} cmsis_nn_fc_params;

/**
 * Bias of an s16 convolution: int64_t values, or int32_t ones when is_int32_bias
 * (CMSIS-NN v6+; TFLite's 16x8 bias is int64).
 */
typedef struct
{
    const void *data;
    const bool is_int32_bias;
} cmsis_nn_bias_data;

/** Transpose parameters: output axis i is input axis permutations[i]; num_dims in [1, 4]. */
typedef struct
{
    const int32_t num_dims;
    const uint32_t *permutations;
} cmsis_nn_transpose_params;

/** Per-tensor scaling of a pair (multiplier, shift). */
typedef struct
{
    int32_t multiplier;
    int32_t shift;
} cmsis_nn_scaling;

#endif /* ARM_NN_TYPES_H */
