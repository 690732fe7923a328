/*
 * tinyc runtime: s8 depthwise convolution (CMSIS-NN v7 API), TFLite DepthwiseConvPerChannel semantics.
 *
 * Output channel c * ch_mult + m reads input channel c. With the DSP
 * extension and ch_mult == 1, four neighbouring channels at a time (NHWC
 * keeps them contiguous): their requantization is prepared once, then every
 * output pixel takes one 32-bit load of input and one of filter per tap, two
 * SXTAB16 / SXTB16 and four SMLABB / SMLATT. The plain path handles the rest.
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

#if TINYC_USE_DSP
#define TINYC_DW_CACHED_TAPS 25 /* filters up to 5x5 keep four channels' widened weights on the stack (200 B) */

/* acc[0..3] += four channels' taps: `rows` rows of `taps` input words (x_step apart, rows y_step apart) times
   cached weights, two SXTB16 words per tap (2 * k_w per filter row). */
static inline void dw4_window(const int8_t *in_row, int32_t rows, int32_t taps, int32_t x_step, int32_t y_step, int32_t off2, const int32_t *wc, int32_t k_w, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; rows > 0; --rows, in_row += y_step, wc += 2 * k_w)
    {
        const int8_t *ip = in_row;
        const int32_t *w = wc;
        for (int32_t t = taps; t > 0; --t, ip += x_step, w += 2)
        {
            const uint32_t xv = tinyc_read_u32(ip);
            const int32_t x02 = __sxtab16(off2, (int32_t)xv);
            const int32_t x13 = tinyc_sxtab16_ror8(off2, xv);
            a0 = __smlabb(x02, w[0], a0);
            a2 = __smlatt(x02, w[0], a2);
            a1 = __smlabb(x13, w[1], a1);
            a3 = __smlatt(x13, w[1], a3);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* As dw4_window with the weights read from the filter (w, out_c apart per tap). */
static inline void dw4_window_flash(const int8_t *in_row, int32_t rows, int32_t taps, int32_t x_step, int32_t y_step, int32_t off2, const int8_t *wf, int32_t k_w, int32_t out_c, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; rows > 0; --rows, in_row += y_step, wf += k_w * out_c)
    {
        const int8_t *ip = in_row;
        const int8_t *wp = wf;
        for (int32_t t = taps; t > 0; --t, ip += x_step, wp += out_c)
        {
            const uint32_t xv = tinyc_read_u32(ip);
            const uint32_t wv = tinyc_read_u32(wp);
            const int32_t x02 = __sxtab16(off2, (int32_t)xv);
            const int32_t x13 = tinyc_sxtab16_ror8(off2, xv);
            const int32_t w02 = __sxtb16((int32_t)wv);
            const int32_t w13 = tinyc_sxtb16_ror8(wv);
            a0 = __smlabb(x02, w02, a0);
            a2 = __smlatt(x02, w02, a2);
            a1 = __smlabb(x13, w13, a1);
            a3 = __smlatt(x13, w13, a3);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* First filter tap inside the input for a window starting at base (per axis), and one past the last. */
static inline int32_t first_tap(int32_t base, int32_t dil)
{
    return base >= 0 ? 0 : (-base + dil - 1) / dil;
}

static inline int32_t end_tap(int32_t base, int32_t size, int32_t k, int32_t dil)
{
    return base >= size ? 0 : TINYC_MIN(k, (size - base + dil - 1) / dil);
}

/* ch_mult == 1, four channels at a time; returns how many channels it did (a multiple of four). */
static int32_t dw4_s8(const cmsis_nn_dw_conv_params *dp,
                      const int32_t *mult,
                      const int32_t *shift,
                      int32_t in_h,
                      int32_t in_w,
                      int32_t in_c,
                      const int8_t *input,
                      const int8_t *filter,
                      int32_t k_h,
                      int32_t k_w,
                      const int32_t *bias,
                      int32_t out_h,
                      int32_t out_w,
                      int8_t *output)
{
    const int32_t dil_h = dp->dilation.h;
    const int32_t dil_w = dp->dilation.w;
    const int32_t off2 = tinyc_dup16(dp->input_offset);
    const int32_t x_step = dil_w * in_c;
    const int32_t y_step = dil_h * in_w * in_c;
    const int cached = k_h * k_w <= TINYC_DW_CACHED_TAPS;
    int32_t wcache[2 * TINYC_DW_CACHED_TAPS];
    int32_t c = 0;
    for (; c + 4 <= in_c; c += 4)
    {
        if (cached)
        {
            for (int32_t t = 0; t < k_h * k_w; ++t)
            {
                const uint32_t wv = tinyc_read_u32(filter + t * in_c + c);
                wcache[2 * t] = __sxtb16((int32_t)wv);
                wcache[2 * t + 1] = tinyc_sxtb16_ror8(wv);
            }
        }
        const tinyc_rq r0 = tinyc_rq_make(mult[c], shift[c]);
        const tinyc_rq r1 = tinyc_rq_make(mult[c + 1], shift[c + 1]);
        const tinyc_rq r2 = tinyc_rq_make(mult[c + 2], shift[c + 2]);
        const tinyc_rq r3 = tinyc_rq_make(mult[c + 3], shift[c + 3]);
        int32_t b4[4] = {0, 0, 0, 0};
        if (bias != NULL)
        {
            memcpy(b4, bias + c, sizeof(b4));
        }
        int8_t *out = output + c;
        for (int32_t oy = 0; oy < out_h; ++oy)
        {
            const int32_t base_y = oy * dp->stride.h - dp->padding.h;
            const int32_t ky0 = first_tap(base_y, dil_h);
            const int32_t rows = end_tap(base_y, in_h, k_h, dil_h) - ky0;
            const int8_t *in_row = input + (int64_t)(base_y + ky0 * dil_h) * in_w * in_c + c;
            for (int32_t ox = 0; ox < out_w; ++ox, out += in_c)
            {
                const int32_t base_x = ox * dp->stride.w - dp->padding.w;
                const int32_t kx0 = first_tap(base_x, dil_w);
                const int32_t taps = end_tap(base_x, in_w, k_w, dil_w) - kx0;
                int32_t acc[4] = {b4[0], b4[1], b4[2], b4[3]};
                if (rows > 0 && taps > 0)
                {
                    const int8_t *in_px = in_row + (int64_t)(base_x + kx0 * dil_w) * in_c;
                    const int32_t tap0 = ky0 * k_w + kx0;
                    if (cached)
                    {
                        dw4_window(in_px, rows, taps, x_step, y_step, off2, wcache + 2 * tap0, k_w, acc);
                    }
                    else
                    {
                        dw4_window_flash(in_px, rows, taps, x_step, y_step, off2, filter + tap0 * in_c + c, k_w, in_c, acc);
                    }
                }
                out[0] = tinyc_rq_apply(&r0, acc[0], dp->output_offset, dp->activation.min, dp->activation.max);
                out[1] = tinyc_rq_apply(&r1, acc[1], dp->output_offset, dp->activation.min, dp->activation.max);
                out[2] = tinyc_rq_apply(&r2, acc[2], dp->output_offset, dp->activation.min, dp->activation.max);
                out[3] = tinyc_rq_apply(&r3, acc[3], dp->output_offset, dp->activation.min, dp->activation.max);
            }
        }
    }
    return c;
}
#endif

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

    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *input = input_data + (int64_t)b * in_h * in_w * in_c;
        int8_t *output = output_data + (int64_t)b * out_h * out_w * out_c;
        int32_t c_done = 0;
#if TINYC_USE_DSP
        if (ch_mult == 1)
        {
            c_done = dw4_s8(dw_conv_params, mult, shift, in_h, in_w, in_c, input, filter_data, k_h, k_w, bias_data, out_h, out_w, output);
        }
#endif
        if (c_done == in_c)
        {
            continue;
        }
        int8_t *out = output;
        for (int32_t oy = 0; oy < out_h; ++oy)
        {
            const int32_t base_y = oy * dw_conv_params->stride.h - dw_conv_params->padding.h;
            for (int32_t ox = 0; ox < out_w; ++ox, out += out_c)
            {
                const int32_t base_x = ox * dw_conv_params->stride.w - dw_conv_params->padding.w;
                const tinyc_window win = dw_window(base_y, base_x, in_h, in_w, k_h, k_w, dil_h, dil_w);
                for (int32_t c = c_done; c < in_c; ++c)
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
