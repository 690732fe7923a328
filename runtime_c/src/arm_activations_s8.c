/*
 * tinyc runtime: in-place int8 activations (CMSIS-NN v7 API).
 *
 * These act on raw int8 values. A quantized ReLU / ReLU6 with a scale and a
 * zero point is a clamp to the activation range, which the kernels above
 * apply through their activation.min / activation.max.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"

void arm_relu6_s8(int8_t *data, uint16_t size)
{
    for (uint16_t i = 0; i < size; ++i)
    {
        const int8_t v = data[i];
        data[i] = v < 0 ? 0 : (v > 6 ? 6 : v);
    }
}

void arm_relu_q7(int8_t *data, uint16_t size)
{
    for (uint16_t i = 0; i < size; ++i)
    {
        if (data[i] < 0)
        {
            data[i] = 0;
        }
    }
}
