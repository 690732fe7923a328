/*
 * tinyc runtime: CMSIS-NN's int8 transpose (tinyc's own implementation).
 *
 * Output axis i is input axis permutations[i] (NumPy's transpose). A tensor of
 * num_dims axes (1 to 4) has its sizes in the first num_dims fields of the dims
 * (n, h, w, c in that order). The output must not overlap the input.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "arm_nnfunctions.h"

arm_cmsis_nn_status arm_transpose_s8(const int8_t *input,
                                     int8_t *const output,
                                     const cmsis_nn_dims *const input_dims,
                                     const cmsis_nn_dims *const output_dims,
                                     const cmsis_nn_transpose_params *const transpose_params)
{
    const int32_t rank = transpose_params->num_dims;
    if (rank < 1 || rank > 4)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t in_all[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    int32_t in_dims[4] = {1, 1, 1, 1};
    int32_t in_strides[4];
    int32_t stride = 1;
    for (int32_t k = rank - 1; k >= 0; --k)
    {
        in_dims[k] = in_all[k];
        in_strides[k] = stride;
        stride *= in_all[k];
    }
    /* Output axis k walks input axis perm[k]; pad to four axes with size 1 at the front. */
    int32_t dims[4] = {1, 1, 1, 1};
    int32_t strides[4] = {0, 0, 0, 0};
    const int32_t pad = 4 - rank;
    uint32_t seen = 0u;
    for (int32_t k = 0; k < rank; ++k)
    {
        const uint32_t p = transpose_params->permutations[k];
        if (p >= (uint32_t)rank || (seen & (1u << p)) != 0u)
        {
            return ARM_CMSIS_NN_ARG_ERROR;
        }
        seen |= 1u << p;
        dims[pad + k] = in_dims[p];
        strides[pad + k] = in_strides[p];
    }
    (void)output_dims; /* implied by the input dims and the permutation */
    int8_t *out = output;
    if (strides[3] == 1)
    {
        for (int32_t i0 = 0; i0 < dims[0]; ++i0)
        {
            for (int32_t i1 = 0; i1 < dims[1]; ++i1)
            {
                for (int32_t i2 = 0; i2 < dims[2]; ++i2)
                {
                    memcpy(out, input + i0 * strides[0] + i1 * strides[1] + i2 * strides[2], (size_t)dims[3]);
                    out += dims[3];
                }
            }
        }
        return ARM_CMSIS_NN_SUCCESS;
    }
    for (int32_t i0 = 0; i0 < dims[0]; ++i0)
    {
        for (int32_t i1 = 0; i1 < dims[1]; ++i1)
        {
            for (int32_t i2 = 0; i2 < dims[2]; ++i2)
            {
                const int8_t *src = input + i0 * strides[0] + i1 * strides[1] + i2 * strides[2];
                for (int32_t i3 = 0; i3 < dims[3]; ++i3)
                {
                    *out++ = src[i3 * strides[3]];
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
