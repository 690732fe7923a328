/*
 * tinyc runtime: CMSIS-NN's int8 concatenation functions (tinyc's own implementation).
 *
 * A tensor is seen as [w][z][y][x] with x innermost; each call copies one input into
 * its slot of the output along one axis, at an offset counted in elements of that
 * axis. No arithmetic: inputs must already have the output's quantization.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "arm_nnfunctions.h"

void arm_concatenation_s8_x(const int8_t *input,
                            const uint16_t input_x,
                            const uint16_t input_y,
                            const uint16_t input_z,
                            const uint16_t input_w,
                            int8_t *output,
                            const uint16_t output_x,
                            const uint32_t offset_x)
{
    const uint32_t rows = (uint32_t)input_y * input_z * input_w;
    output += offset_x;
    for (uint32_t r = 0; r < rows; ++r)
    {
        memcpy(output, input, input_x);
        input += input_x;
        output += output_x;
    }
}

void arm_concatenation_s8_y(const int8_t *input,
                            const uint16_t input_x,
                            const uint16_t input_y,
                            const uint16_t input_z,
                            const uint16_t input_w,
                            int8_t *output,
                            const uint16_t output_y,
                            const uint32_t offset_y)
{
    const uint32_t planes = (uint32_t)input_z * input_w;
    const uint32_t block = (uint32_t)input_x * input_y;
    const uint32_t out_block = (uint32_t)input_x * output_y;
    output += offset_y * input_x;
    for (uint32_t p = 0; p < planes; ++p)
    {
        memcpy(output, input, block);
        input += block;
        output += out_block;
    }
}

void arm_concatenation_s8_z(const int8_t *input,
                            const uint16_t input_x,
                            const uint16_t input_y,
                            const uint16_t input_z,
                            const uint16_t input_w,
                            int8_t *output,
                            const uint16_t output_z,
                            const uint32_t offset_z)
{
    const uint32_t plane = (uint32_t)input_x * input_y;
    const uint32_t block = plane * input_z;
    const uint32_t out_block = plane * output_z;
    output += offset_z * plane;
    for (uint32_t b = 0; b < input_w; ++b)
    {
        memcpy(output, input, block);
        input += block;
        output += out_block;
    }
}

void arm_concatenation_s8_w(const int8_t *input,
                            const uint16_t input_x,
                            const uint16_t input_y,
                            const uint16_t input_z,
                            const uint16_t input_w,
                            int8_t *output,
                            const uint32_t offset_w)
{
    const uint32_t volume = (uint32_t)input_x * input_y * input_z;
    memcpy(output + offset_w * volume, input, volume * input_w);
}
