/*
 * tinyc runtime: s8 depthwise convolution (CMSIS-NN v7 API), TFLite DepthwiseConvPerChannel semantics.
 *
 * Output channel c * ch_mult + m reads input channel c. With the DSP
 * extension and ch_mult == 1, four neighbouring channels are accumulated at
 * once (one 32-bit load of input and of filter per tap, SMLABB / SMLATT per
 * channel); the plain path handles everything else.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tinyc_nn_internal.h"

/* Taps of the output pixel whose window starts at (base_y, base_x) that fall inside the input. */
typedef struct
{
    int32_t ky0, ky1, kx0, kx1;
} tinyc_window;

static tinyc_window dw_window(int32_t base_y, int32_t base_x, int32_t in_h, int32_t in_w, int32_t k_h, int32_t k_w, int32_t dil_h, int32_t dil_w)
{
    tinyc_window win;
    win.ky0 = 0;
    win.ky1 = k_h;
    win.kx0 = 0;
    win.kx1 = k_w;
    while (win.ky0 < k_h && base_y + win.ky0 * dil_h < 0)
    {
        win.ky0++;
    }
    while (win.ky1 > win.ky0 && base_y + (win.ky1 - 1) * dil_h >= in_h)
    {
        win.ky1--;
    }
    while (win.kx0 < k_w && base_x + win.kx0 * dil_w < 0)
    {
        win.kx0++;
    }
    while (win.kx1 > win.kx0 && base_x + (win.kx1 - 1) * dil_w >= in_w)
    {
        win.kx1--;
    }
    return win;
}

arm_cmsis_nn_status arm_depthwise_conv_s8(const cmsis_nn_context *ctx,
                                          const cmsis_nn_dw_conv_params *dw_conv_params,
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
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t ch_mult = dw_conv_params->ch_mult;
    const int32_t out_c = output_dims->c;
    if (ch_mult <= 0 || out_c != in_c * ch_mult || filter_dims->c != out_c)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t dil_h = dw_conv_params->dilation.h;
    const int32_t dil_w = dw_conv_params->dilation.w;
    const int32_t in_off = dw_conv_params->input_offset;
    const int32_t out_off = dw_conv_params->output_offset;
    const int32_t act_min = dw_conv_params->activation.min;
    const int32_t act_max = dw_conv_params->activation.max;
    const int32_t *mult = quant_params->multiplier;
    const int32_t *shift = quant_params->shift;

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *input = input_data + (int64_t)b * in_h * in_w * in_c;
        int8_t *out = output_data + (int64_t)b * output_dims->h * output_dims->w * out_c;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            const int32_t base_y = oy * dw_conv_params->stride.h - dw_conv_params->padding.h;
            for (int32_t ox = 0; ox < output_dims->w; ++ox)
            {
                const int32_t base_x = ox * dw_conv_params->stride.w - dw_conv_params->padding.w;
                const tinyc_window win = dw_window(base_y, base_x, in_h, in_w, k_h, k_w, dil_h, dil_w);
                int32_t c = 0;
#if TINYC_USE_DSP
                if (ch_mult == 1)
                {
                    const int32_t off2 = tinyc_dup16(in_off);
                    for (; c + 4 <= in_c; c += 4)
                    {
                        int32_t a0 = bias_data != NULL ? bias_data[c] : 0;
                        int32_t a1 = bias_data != NULL ? bias_data[c + 1] : 0;
                        int32_t a2 = bias_data != NULL ? bias_data[c + 2] : 0;
                        int32_t a3 = bias_data != NULL ? bias_data[c + 3] : 0;
                        for (int32_t ky = win.ky0; ky < win.ky1; ++ky)
                        {
                            const int32_t y = base_y + ky * dil_h;
                            for (int32_t kx = win.kx0; kx < win.kx1; ++kx)
                            {
                                const int32_t x = base_x + kx * dil_w;
                                const uint32_t xv = tinyc_read_u32(input + ((int64_t)y * in_w + x) * in_c + c);
                                const uint32_t wv = tinyc_read_u32(filter_data + (ky * k_w + kx) * out_c + c);
                                const int32_t x02 = __sxtab16(off2, (int32_t)xv);
                                const int32_t x13 = __sxtab16(off2, (int32_t)tinyc_ror8(xv));
                                const int32_t w02 = __sxtb16((int32_t)wv);
                                const int32_t w13 = __sxtb16((int32_t)tinyc_ror8(wv));
                                a0 = __smlabb(x02, w02, a0);
                                a2 = __smlatt(x02, w02, a2);
                                a1 = __smlabb(x13, w13, a1);
                                a3 = __smlatt(x13, w13, a3);
                            }
                        }
                        out[c] = tinyc_requantize_to_s8(a0, mult[c], shift[c], out_off, act_min, act_max);
                        out[c + 1] = tinyc_requantize_to_s8(a1, mult[c + 1], shift[c + 1], out_off, act_min, act_max);
                        out[c + 2] = tinyc_requantize_to_s8(a2, mult[c + 2], shift[c + 2], out_off, act_min, act_max);
                        out[c + 3] = tinyc_requantize_to_s8(a3, mult[c + 3], shift[c + 3], out_off, act_min, act_max);
                    }
                }
#endif
                for (; c < in_c; ++c)
                {
                    for (int32_t m = 0; m < ch_mult; ++m)
                    {
                        const int32_t oc = c * ch_mult + m;
                        int32_t acc = bias_data != NULL ? bias_data[oc] : 0;
                        for (int32_t ky = win.ky0; ky < win.ky1; ++ky)
                        {
                            const int32_t y = base_y + ky * dil_h;
                            for (int32_t kx = win.kx0; kx < win.kx1; ++kx)
                            {
                                const int32_t x = base_x + kx * dil_w;
                                const int32_t xi = (int32_t)input[((int64_t)y * in_w + x) * in_c + c] + in_off;
                                acc += xi * (int32_t)filter_data[(ky * k_w + kx) * out_c + oc];
                            }
                        }
                        out[oc] = tinyc_requantize_to_s8(acc, mult[oc], shift[oc], out_off, act_min, act_max);
                    }
                }
                out += out_c;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_depthwise_conv_wrapper_s8(const cmsis_nn_context *ctx,
                                                  const cmsis_nn_dw_conv_params *dw_conv_params,
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
    return arm_depthwise_conv_s8(ctx,
                                 dw_conv_params,
                                 quant_params,
                                 input_dims,
                                 input_data,
                                 filter_dims,
                                 filter_data,
                                 bias_dims,
                                 bias_data,
                                 output_dims,
                                 output_data);
}

int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
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
