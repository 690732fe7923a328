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
#define TINYC_DW_CHUNK 16       /* output pixels whose four accumulators wait on the stack for requantization (256 B) */

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

/* One tap of four channels: input word xv (plus offset) times the cached weight pair w[0], w[1]. */
#define TINYC_DW4_TAP(xv, w)                          \
    do                                                \
    {                                                 \
        const int32_t lo_ = __sxtab16(off2, (int32_t)(xv)); \
        const int32_t hi_ = tinyc_sxtab16_ror8(off2, (xv)); \
        a0 = __smlabb(lo_, (w)[0], a0);               \
        a2 = __smlatt(lo_, (w)[0], a2);               \
        a1 = __smlabb(hi_, (w)[1], a1);               \
        a3 = __smlatt(hi_, (w)[1], a3);               \
    } while (0)

/* acc[0..3] += four channels' taps over `rows` rows (y_step apart) of `taps` (2 or 3) input words (x_step
   apart) times the cached weights (2 * k_w words per filter row); three full rows of three unrolled. */
static inline void dw4_rows_short(const int8_t *ip, int32_t rows, int32_t taps, int32_t k_w, int32_t x_step, int32_t y_step, int32_t off2, const int32_t *w, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    if (taps == 3 && rows == 3 && k_w == 3)
    {
        const int8_t *ip1 = ip + y_step;
        const int8_t *ip2 = ip1 + y_step;
        TINYC_DW4_TAP(tinyc_read_u32(ip), w);
        TINYC_DW4_TAP(tinyc_read_u32(ip + x_step), w + 2);
        TINYC_DW4_TAP(tinyc_read_u32(ip + 2 * x_step), w + 4);
        TINYC_DW4_TAP(tinyc_read_u32(ip1), w + 6);
        TINYC_DW4_TAP(tinyc_read_u32(ip1 + x_step), w + 8);
        TINYC_DW4_TAP(tinyc_read_u32(ip1 + 2 * x_step), w + 10);
        TINYC_DW4_TAP(tinyc_read_u32(ip2), w + 12);
        TINYC_DW4_TAP(tinyc_read_u32(ip2 + x_step), w + 14);
        TINYC_DW4_TAP(tinyc_read_u32(ip2 + 2 * x_step), w + 16);
    }
    else if (taps == 3)
    {
        for (; rows > 0; --rows, ip += y_step, w += 2 * k_w)
        {
            TINYC_DW4_TAP(tinyc_read_u32(ip), w);
            TINYC_DW4_TAP(tinyc_read_u32(ip + x_step), w + 2);
            TINYC_DW4_TAP(tinyc_read_u32(ip + 2 * x_step), w + 4);
        }
    }
    else
    {
        for (; rows > 0; --rows, ip += y_step, w += 2 * k_w)
        {
            TINYC_DW4_TAP(tinyc_read_u32(ip), w);
            TINYC_DW4_TAP(tinyc_read_u32(ip + x_step), w + 2);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Per-call constants of the four-channel path. */
typedef struct
{
    const int8_t *filter;
    int32_t in_h, in_w, in_c, k_h, k_w;
    int32_t dil_h, dil_w;
    int32_t x_step, y_step, off2;
    int cached;
    int full_range; /* the clamp is [-128, 127] */
    int32_t out_offset, act_min, act_max;
} dw4_geom;

/* One chunk of an output row, shared by every group of four channels. */
typedef struct
{
    const int8_t *in_y;   /* input row of the first filter row inside the input, at column 0 of channel 0 */
    const int8_t *f_y;    /* filter at the first filter row inside the input, channel 0 */
    int32_t n, rows;      /* pixels in the chunk; filter rows inside the input (> 0) */
    int32_t k_w, in_c, x_step, y_step, off2;
    int cached;
    int full_range; /* the clamp is [-128, 127] */
    int32_t out_offset, act_min, act_max;
    int32_t px_off[TINYC_DW_CHUNK]; /* input offset of each pixel's first tap inside the input */
    int32_t kx0[TINYC_DW_CHUNK];    /* its filter column */
    int32_t taps[TINYC_DW_CHUNK];   /* filter columns inside the input (0: none) */
} dw4_chunk;

/* Output channels c..c+3 of the chunk: the filter rows inside the input widened once (filters up to 5x5), then
   per pixel four accumulators (2- and 3-wide windows unrolled) requantized at once. */
static TINYC_NOINLINE void dw4_chunk_run(const dw4_chunk *ch, int32_t c, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out)
{
    int32_t wcache[2 * TINYC_DW_CACHED_TAPS];
    const int32_t k_w = ch->k_w;
    if (ch->cached)
    {
        const int8_t *fp = ch->f_y + c;
        int32_t *wc = wcache;
        for (int32_t t = ch->rows * k_w; t > 0; --t, fp += ch->in_c, wc += 2)
        {
            const uint32_t wv = tinyc_read_u32(fp);
            wc[0] = __sxtb16((int32_t)wv);
            wc[1] = tinyc_sxtb16_ror8(wv);
        }
    }
    tinyc_rq rq[4];
    int fast = ch->full_range;
    for (int32_t j = 0; j < 4; ++j)
    {
        rq[j] = tinyc_rq_make(mult[j], shift[j]);
        fast &= rq[j].kind == 1;
    }
    int32_t b4[4] = {0, 0, 0, 0};
    if (bias != NULL)
    {
        memcpy(b4, bias, sizeof(b4));
    }
    const int8_t *in_y = ch->in_y + c;
    for (int32_t k = 0; k < ch->n; ++k, out += ch->in_c)
    {
        int32_t acc[4] = {b4[0], b4[1], b4[2], b4[3]};
        const int32_t taps = ch->taps[k];
        const int8_t *in_px = in_y + ch->px_off[k];
        if (taps <= 0)
        {
        }
        else if ((taps == 2 || taps == 3) && ch->cached)
        {
            dw4_rows_short(in_px, ch->rows, taps, k_w, ch->x_step, ch->y_step, ch->off2, wcache + 2 * ch->kx0[k], acc);
        }
        else if (ch->cached)
        {
            dw4_window(in_px, ch->rows, taps, ch->x_step, ch->y_step, ch->off2, wcache + 2 * ch->kx0[k], k_w, acc);
        }
        else
        {
            dw4_window_flash(in_px, ch->rows, taps, ch->x_step, ch->y_step, ch->off2, ch->f_y + c + ch->kx0[k] * ch->in_c, k_w, ch->in_c, acc);
        }
        if (fast)
        {
            out[0] = (int8_t)__ssat(tinyc_rq_value1(&rq[0], acc[0]) + ch->out_offset, 8);
            out[1] = (int8_t)__ssat(tinyc_rq_value1(&rq[1], acc[1]) + ch->out_offset, 8);
            out[2] = (int8_t)__ssat(tinyc_rq_value1(&rq[2], acc[2]) + ch->out_offset, 8);
            out[3] = (int8_t)__ssat(tinyc_rq_value1(&rq[3], acc[3]) + ch->out_offset, 8);
        }
        else
        {
            for (int32_t j = 0; j < 4; ++j)
            {
                out[j] = tinyc_rq_apply(&rq[j], acc[j], ch->out_offset, ch->act_min, ch->act_max);
            }
        }
    }
}

/*
 * ch_mult == 1, four channels at a time; returns how many channels it did (a multiple of four).
 * Per output row, in chunks of up to TINYC_DW_CHUNK pixels: where each pixel's window starts and which filter
 * columns lie inside the input, once for all channels; then per group of four channels the filter rows inside
 * the input widened once (up to 5x5 filters), every pixel's four accumulators (3-wide windows unrolled) and
 * each channel's requantization over the chunk with its constants in registers (dw4_requantize).
 */
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
    const int32_t c4 = in_c & ~3;
    dw4_chunk ch;
    ch.k_w = k_w;
    ch.in_c = in_c;
    ch.x_step = dil_w * in_c;
    ch.y_step = dil_h * in_w * in_c;
    ch.off2 = tinyc_dup16(dp->input_offset);
    ch.cached = k_h * k_w <= TINYC_DW_CACHED_TAPS;
    ch.out_offset = dp->output_offset;
    ch.act_min = dp->activation.min;
    ch.act_max = dp->activation.max;
    ch.full_range = ch.act_min == -128 && ch.act_max == 127;
    for (int32_t oy = 0; oy < out_h; ++oy)
    {
        const int32_t base_y = oy * dp->stride.h - dp->padding.h;
        const int32_t ky0 = first_tap(base_y, dil_h);
        ch.rows = end_tap(base_y, in_h, k_h, dil_h) - ky0;
        ch.in_y = input + (int64_t)(base_y + ky0 * dil_h) * in_w * in_c;
        ch.f_y = filter + ky0 * k_w * in_c;
        for (int32_t ox0 = 0; ox0 < out_w; ox0 += TINYC_DW_CHUNK)
        {
            ch.n = TINYC_MIN(TINYC_DW_CHUNK, out_w - ox0);
            for (int32_t k = 0; k < ch.n; ++k)
            {
                const int32_t base_x = (ox0 + k) * dp->stride.w - dp->padding.w;
                const int32_t kx0 = first_tap(base_x, dil_w);
                ch.kx0[k] = kx0;
                ch.taps[k] = ch.rows > 0 ? TINYC_MAX(end_tap(base_x, in_w, k_w, dil_w) - kx0, 0) : 0;
                ch.px_off[k] = (base_x + kx0 * dil_w) * in_c;
            }
            int8_t *out = output + ((int64_t)oy * out_w + ox0) * in_c;
            for (int32_t c = 0; c < c4; c += 4)
            {
                dw4_chunk_run(&ch, c, bias != NULL ? bias + c : NULL, mult + c, shift + c, out + c);
            }
        }
    }
    return c4;
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
