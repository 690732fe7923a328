/*
 * tinyc runtime: s8 convolution (CMSIS-NN v7 API), TFLite ConvPerChannel semantics.
 *
 * With the scratch arm_convolve_wrapper_s8_get_buffer_size() asks for (a
 * column pair: two output pixels' receptive fields as int16, see
 * below), output pixels go in pairs: their inputs are copied
 * into the pair once per group (for a 1x1 filter without padding: the two
 * input pixels widened; otherwise an im2col with 0 over the padding), then
 * every two output channels take one pass over it (tinyc_mm2x2_pair: each
 * load serves two multiply-accumulates). Without scratch, a direct loop over
 * the filter taps inside the input. Both give the same bits.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tinyc_nn_internal.h"

typedef struct
{
    int32_t in_h, in_w;        /* (upscaled) input size the filter slides over */
    int32_t src_w;             /* stored input width (row stride in pixels) */
    int32_t in_c, k_c;         /* input channels; filter depth (per group) */
    int32_t k_h, k_w;
    int32_t y_shift, x_shift;  /* 1 when the input is read upscaled 2x along that axis */
    int32_t dil_h, dil_w;
    int32_t input_offset;
} tinyc_conv_geom;

/* Accumulate one output pixel for output channels oc0 and oc1 (oc1 may equal oc0) of group g. */
static void conv_pixel2(const tinyc_conv_geom *g,
                        const int8_t *input,
                        const int8_t *filter,
                        int32_t base_y,
                        int32_t base_x,
                        int32_t group,
                        int32_t oc0,
                        int32_t oc1,
                        int32_t *acc0,
                        int32_t *acc1)
{
    const int32_t row_len = g->k_w * g->k_c;
    const int32_t filt_size = g->k_h * row_len;
    const int8_t *f0 = filter + oc0 * filt_size;
    const int8_t *f1 = filter + oc1 * filt_size;
    const int contiguous_rows = g->dil_w == 1 && g->k_c == g->in_c && g->x_shift == 0 && base_x >= 0 && base_x + g->k_w <= g->in_w;

    for (int32_t ky = 0; ky < g->k_h; ++ky)
    {
        const int32_t y = base_y + ky * g->dil_h;
        if (y < 0 || y >= g->in_h)
        {
            continue;
        }
        const int8_t *in_row = input + (int64_t)(y >> g->y_shift) * g->src_w * g->in_c + group * g->k_c;
        const int8_t *f0_row = f0 + ky * row_len;
        const int8_t *f1_row = f1 + ky * row_len;
        if (contiguous_rows)
        {
            tinyc_dot2_s8(in_row + base_x * g->in_c, f0_row, f1_row, row_len, g->input_offset, acc0, acc1);
            continue;
        }
        for (int32_t kx = 0; kx < g->k_w; ++kx)
        {
            const int32_t x = base_x + kx * g->dil_w;
            if (x < 0 || x >= g->in_w)
            {
                continue;
            }
            const int8_t *in_px = in_row + (x >> g->x_shift) * g->in_c;
            tinyc_dot2_s8(in_px, f0_row + kx * g->k_c, f1_row + kx * g->k_c, g->k_c, g->input_offset, acc0, acc1);
        }
    }
}

/*
 * A column pair: the k values two output pixels a and b read (input plus
 * offset as int16, 0 where the filter hangs over the padding), interleaved so
 * that one pass over it meets two filter rows with every load used twice.
 * Per full group of four values: a0 a2 a1 a3 b0 b2 b1 b3 (the lane order
 * SXTB16 gives the weights: one 32-bit word of column meets one SXTB16 of
 * filter in SMLAD); then the k % 4 remaining values as a b pairs. The buffer
 * holds 2 * k int16 and starts 4-byte aligned.
 */

/** Where value j (0 <= j < k) of pixel `which` (0: a, 1: b) goes in a column pair of k values. */
static inline int32_t tinyc_pair_pos(int32_t j, int32_t k, int32_t which)
{
    const int32_t k4 = k & ~3;
    if (j < k4)
    {
        return ((j >> 2) << 3) + (which << 2) + ((j & 1) << 1) + ((j >> 1) & 1);
    }
    return (k4 << 1) + ((j - k4) << 1) + which;
}

#if TINYC_USE_DSP && defined(__GNUC__)
/* Two 32-bit words of column, pointer advanced by 8 bytes: one LDRD (GCC does not pair the loads by itself). */
#define TINYC_LDRD_POST(lo, hi, p) __asm__ volatile("ldrd %0, %1, [%2], #8" : "=r"(lo), "=r"(hi), "+r"(p) : : "memory")
#else
#define TINYC_LDRD_POST(lo, hi, p) \
    do \
    { \
        memcpy(&(lo), (p), 4); \
        memcpy(&(hi), (p) + 2, 4); \
        (p) += 4; \
    } while (0)
#endif

/**
 * 2x2 block: column pair (pixels a, b) times filter rows w0, w1 of k int8 each:
 * acc[0] += a.w0, acc[1] += a.w1, acc[2] += b.w0, acc[3] += b.w1.
 * Per group of four values: the two filter words widened (four registers),
 * then each pixel's two column words in one LDRD and four SMLADs; two groups
 * per iteration. That needs 14 registers in the loop (4 accumulators, 4
 * widened weights, 2 column words, 3 pointers and the end), all r0-r12 and lr:
 * four output channels per pass would need 8 accumulators and spill.
 */
static TINYC_ALWAYS_INLINE void tinyc_mm2x2_body(const int16_t *pair, const int8_t *w0, const int8_t *w1, int32_t k, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], b0 = acc[2], b1 = acc[3];
    const int16_t *c = pair;
#if TINYC_USE_DSP
#define TINYC_MM2X2_GROUP() \
    do \
    { \
        const uint32_t v0 = tinyc_read_u32(w0); \
        const uint32_t v1 = tinyc_read_u32(w1); \
        w0 += 4; \
        w1 += 4; \
        const int32_t w0e = __sxtb16((int32_t)v0), w0o = tinyc_sxtb16_ror8(v0); \
        const int32_t w1e = __sxtb16((int32_t)v1), w1o = tinyc_sxtb16_ror8(v1); \
        int32_t x02, x13; \
        TINYC_LDRD_POST(x02, x13, c); \
        a0 = __smlad(x02, w0e, a0); \
        a1 = __smlad(x02, w1e, a1); \
        a0 = __smlad(x13, w0o, a0); \
        a1 = __smlad(x13, w1o, a1); \
        TINYC_LDRD_POST(x02, x13, c); \
        b0 = __smlad(x02, w0e, b0); \
        b1 = __smlad(x02, w1e, b1); \
        b0 = __smlad(x13, w0o, b0); \
        b1 = __smlad(x13, w1o, b1); \
    } while (0)
    for (int32_t g = k >> 3; g > 0; --g)
    {
        TINYC_MM2X2_GROUP();
        TINYC_MM2X2_GROUP();
    }
    if (k & 4)
    {
        TINYC_MM2X2_GROUP();
    }
#undef TINYC_MM2X2_GROUP
#else
    for (int32_t g = k >> 2; g > 0; --g)
    {
        for (int32_t r = 0; r < 4; ++r)
        {
            const int32_t pos = ((r & 1) << 1) + (r >> 1);
            a0 += (int32_t)c[pos] * (int32_t)w0[r];
            a1 += (int32_t)c[pos] * (int32_t)w1[r];
            b0 += (int32_t)c[4 + pos] * (int32_t)w0[r];
            b1 += (int32_t)c[4 + pos] * (int32_t)w1[r];
        }
        c += 8;
        w0 += 4;
        w1 += 4;
    }
#endif
    for (int32_t r = k & 3; r > 0; --r)
    {
        const int32_t xa = c[0];
        const int32_t xb = c[1];
        c += 2;
        a0 += xa * (int32_t)*w0;
        b0 += xb * (int32_t)*w0++;
        a1 += xa * (int32_t)*w1;
        b1 += xb * (int32_t)*w1++;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

/* tinyc_mm2x2_body() out of line, so that the loop has the registers to itself. */
static TINYC_NOINLINE void tinyc_mm2x2_pair(const int16_t *pair, const int8_t *w0, const int8_t *w1, int32_t k, int32_t acc[4])
{
    tinyc_mm2x2_body(pair, w0, w1, k, acc);
}

/** Column pair of two contiguous int8 vectors of k values (a 1x1 convolution's input pixels) plus x_offset. */
static inline void tinyc_pair_from_s8(const int8_t *a, const int8_t *b, int32_t k, int32_t x_offset, int16_t *pair)
{
    int32_t j = 0;
#if TINYC_USE_DSP
    const int32_t off2 = tinyc_dup16(x_offset);
    int16_t *c = pair;
    for (; j + 4 <= k; j += 4)
    {
        const uint32_t av = tinyc_read_u32(a + j);
        const uint32_t bv = tinyc_read_u32(b + j);
        const int32_t words[4] = {__sxtab16(off2, (int32_t)av), tinyc_sxtab16_ror8(off2, av), __sxtab16(off2, (int32_t)bv), tinyc_sxtab16_ror8(off2, bv)};
        memcpy(c, words, sizeof(words));
        c += 8;
    }
#endif
    for (; j < k; ++j)
    {
        pair[tinyc_pair_pos(j, k, 0)] = (int16_t)(a[j] + x_offset);
        pair[tinyc_pair_pos(j, k, 1)] = (int16_t)(b[j] + x_offset);
    }
}

/* Per-call constants of the requantization and clamp. */
typedef struct
{
    const int32_t *mult, *shift;
    int32_t out_offset, act_min, act_max;
    int full_range; /* [act_min, act_max] = [-128, 127] */
} tinyc_conv_out;

/* One requantized output; kind-1 channels (what quantized models have) without the branches. */
static inline int8_t conv_out1(const tinyc_conv_out *q, const tinyc_rq *r, int32_t acc)
{
#if TINYC_USE_DSP && defined(__ARM_FEATURE_SAT)
    if (r->kind == 1 && q->full_range)
    {
        return (int8_t)__ssat(tinyc_rq_value1(r, acc) + q->out_offset, 8);
    }
#endif
    if (r->kind == 1)
    {
        return tinyc_rq_apply1(r, acc, q->out_offset, q->act_min, q->act_max);
    }
    return tinyc_rq_apply(r, acc, q->out_offset, q->act_min, q->act_max);
}

/* Requantizes a 2x2 block: acc[0], acc[1] to out_a[oc], out_a[oc1]; acc[2], acc[3] to out_b (NULL: none); oc1 == oc: one channel. */
static inline void store2x2(const tinyc_conv_out *q, const int32_t acc[4], int8_t *out_a, int8_t *out_b, int32_t oc, int32_t oc1)
{
    const tinyc_rq r0 = tinyc_rq_make(q->mult[oc], q->shift[oc]);
    out_a[oc] = conv_out1(q, &r0, acc[0]);
    if (out_b != NULL)
    {
        out_b[oc] = conv_out1(q, &r0, acc[2]);
    }
    if (oc1 != oc)
    {
        const tinyc_rq r1 = tinyc_rq_make(q->mult[oc1], q->shift[oc1]);
        out_a[oc1] = conv_out1(q, &r1, acc[1]);
        if (out_b != NULL)
        {
            out_b[oc1] = conv_out1(q, &r1, acc[3]);
        }
    }
}

/* One channel's outputs for pixels a and b (xa to *out_a, xb to *out_b), any requantization and clamp; out of
   line so that the usual case below keeps the registers. */
static TINYC_NOINLINE void store_pointwise_any(const tinyc_conv_out *q, int32_t mult, int32_t shift, int32_t xa, int32_t xb, int8_t *out_a, int8_t *out_b)
{
    const tinyc_rq rq = tinyc_rq_make(mult, shift);
    *out_b = conv_out1(q, &rq, xb);
    *out_a = conv_out1(q, &rq, xa);
}

/* The same; tinyc_rq1 when the clamp is the int8 range (fast != 0) and the channel allows it. Pixel b goes first:
   for an odd last pixel out_b == out_a and xb == xa. */
static TINYC_ALWAYS_INLINE void store_pointwise(const tinyc_conv_out *q, int fast, int32_t mult, int32_t shift, int32_t xa, int32_t xb, int8_t *out_a, int8_t *out_b)
{
    if (fast && TINYC_RQ1_OK(mult, shift))
    {
        const tinyc_rq1 r = tinyc_rq1_make(mult, shift);
        *out_b = tinyc_rq1_s8(&r, xb, q->out_offset);
        *out_a = tinyc_rq1_s8(&r, xa, q->out_offset);
    }
    else
    {
        store_pointwise_any(q, mult, shift, xa, xb, out_a, out_b);
    }
}

/*
 * A 1x1 convolution, stride 1, one group, as many output pixels as input
 * pixels (what a banded pointwise layer calls with two pixels at a time):
 * pixel p reads input pixel p, so no geometry per pixel; the 2x2 blocks are
 * inlined and requantized right after (tinyc_rq1 for the usual channels). An
 * odd last pixel is computed twice over the same input into the same place.
 */
static TINYC_NOINLINE void conv_pointwise(const tinyc_conv_out *q, int32_t pixels, int32_t k, int32_t out_c, int32_t input_offset, const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output, int16_t *pair)
{
    const int fast = q->full_range;
    for (int32_t p = 0; p < pixels; p += 2)
    {
        const int8_t *in_a = input + (int64_t)p * k;
        int8_t *out_a = output + (int64_t)p * out_c;
        const int two = p + 1 < pixels;
        int8_t *out_b = two ? out_a + out_c : out_a;
        tinyc_pair_from_s8(in_a, two ? in_a + k : in_a, k, input_offset, pair);
        const int8_t *w = filter;
        int32_t oc = 0;
        for (; oc + 2 <= out_c; oc += 2, w += 2 * k)
        {
            const int32_t b0 = bias != NULL ? bias[oc] : 0;
            const int32_t b1 = bias != NULL ? bias[oc + 1] : 0;
            int32_t acc[4] = {b0, b1, b0, b1};
            tinyc_mm2x2_body(pair, w, w + k, k, acc);
            store_pointwise(q, fast, q->mult[oc], q->shift[oc], acc[0], acc[2], out_a + oc, out_b + oc);
            store_pointwise(q, fast, q->mult[oc + 1], q->shift[oc + 1], acc[1], acc[3], out_a + oc + 1, out_b + oc + 1);
        }
        if (oc < out_c)
        {
            const int32_t b0 = bias != NULL ? bias[oc] : 0;
            int32_t acc[4] = {b0, b0, b0, b0};
            tinyc_mm2x2_body(pair, w, w, k, acc);
            store_pointwise(q, fast, q->mult[oc], q->shift[oc], acc[0], acc[2], out_a + oc, out_b + oc);
        }
    }
}

/* Output pixel p (counted over batch, rows, columns) -> batch, row, column. */
static inline void pixel_at(int32_t p, int32_t out_h, int32_t out_w, int32_t *b, int32_t *oy, int32_t *ox)
{
    const int32_t per_image = out_h * out_w;
    *b = p / per_image;
    const int32_t r = p - *b * per_image;
    *oy = r / out_w;
    *ox = r - *oy * out_w;
}

/* Fills pixel `which` of a column pair: the receptive field of the output pixel whose window starts at
   (base_y, base_x) in image `input`, filter depth slice of group grp. */
static void im2col_pair(const tinyc_conv_geom *g, const int8_t *input, int32_t base_y, int32_t base_x, int32_t grp, int16_t *pair, int32_t which)
{
    const int32_t k_len = g->k_h * g->k_w * g->k_c;
    int32_t j = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky)
    {
        const int32_t y = base_y + ky * g->dil_h;
        const int row_in = y >= 0 && y < g->in_h;
        const int8_t *in_row = input + (int64_t)(row_in ? y >> g->y_shift : 0) * g->src_w * g->in_c + grp * g->k_c;
        for (int32_t kx = 0; kx < g->k_w; ++kx)
        {
            const int32_t x = base_x + kx * g->dil_w;
            if (row_in && x >= 0 && x < g->in_w)
            {
                const int8_t *src = in_row + (x >> g->x_shift) * g->in_c;
                for (int32_t c = 0; c < g->k_c; ++c, ++j)
                {
                    pair[tinyc_pair_pos(j, k_len, which)] = (int16_t)(src[c] + g->input_offset);
                }
            }
            else
            {
                for (int32_t c = 0; c < g->k_c; ++c, ++j)
                {
                    pair[tinyc_pair_pos(j, k_len, which)] = 0; /* padding contributes nothing */
                }
            }
        }
    }
}

#define TINYC_IM2COL_STAGE 256 /* receptive fields up to this many values are gathered as int8 first (2 x 256 B of stack) */

/* Gathers the receptive field of the output pixel whose window starts at (base_y, base_x) into dst (k_h * k_w *
   k_c int8): contiguous runs copied, the padding as pad (the value that plus the input offset gives 0). */
static void im2col_s8(const tinyc_conv_geom *g, const int8_t *input, int32_t base_y, int32_t base_x, int32_t grp, int8_t pad, int8_t *dst)
{
    const int32_t row_len = g->k_w * g->k_c;
    const int contiguous = g->dil_w == 1 && g->x_shift == 0 && g->k_c == g->in_c;
    for (int32_t ky = 0; ky < g->k_h; ++ky, dst += row_len)
    {
        const int32_t y = base_y + ky * g->dil_h;
        if (y < 0 || y >= g->in_h)
        {
            memset(dst, pad, (size_t)row_len);
            continue;
        }
        const int8_t *in_row = input + (int64_t)(y >> g->y_shift) * g->src_w * g->in_c + grp * g->k_c;
        if (contiguous)
        {
            /* filter columns [kx0, kx1) are inside the input */
            const int32_t kx0 = TINYC_MIN(TINYC_MAX(-base_x, 0), g->k_w);
            const int32_t kx1 = TINYC_MAX(TINYC_MIN(g->in_w - base_x, g->k_w), kx0);
            memset(dst, pad, (size_t)(kx0 * g->k_c));
            memcpy(dst + kx0 * g->k_c, in_row + (base_x + kx0) * g->in_c, (size_t)((kx1 - kx0) * g->k_c));
            memset(dst + kx1 * g->k_c, pad, (size_t)((g->k_w - kx1) * g->k_c));
            continue;
        }
        for (int32_t kx = 0; kx < g->k_w; ++kx)
        {
            const int32_t x = base_x + kx * g->dil_w;
            if (x >= 0 && x < g->in_w)
            {
                memcpy(dst + kx * g->k_c, in_row + (x >> g->x_shift) * g->in_c, (size_t)g->k_c);
            }
            else
            {
                memset(dst + kx * g->k_c, pad, (size_t)g->k_c);
            }
        }
    }
}

/* Every geometry, output pixels in pairs through the column pair `pair` (4-byte aligned, 2 * k_len int16). */
static void conv_pairs(const tinyc_conv_out *q,
                       const tinyc_conv_geom *g,
                       const cmsis_nn_conv_params *cp,
                       int32_t batches,
                       int32_t src_h,
                       const int8_t *input_data,
                       const int8_t *filter_data,
                       const int32_t *bias_data,
                       const cmsis_nn_dims *output_dims,
                       int8_t *output_data,
                       int16_t *pair)
{
    const int32_t out_c = output_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t pixels = batches * out_h * out_w;
    const int32_t groups = g->in_c / g->k_c;
    const int32_t out_per_group = out_c / groups;
    const int32_t k_len = g->k_h * g->k_w * g->k_c;
    /* 1x1 without padding, one group, read as stored: a pixel's inputs are one contiguous vector */
    const int pointwise = k_len == g->in_c && g->k_h == 1 && g->k_w == 1 && g->x_shift == 0 && g->y_shift == 0 && cp->padding.h == 0 && cp->padding.w == 0;
    /* other geometries: gathered as int8 (padding = -input_offset, an int8 for offsets in [-127, 128]), widened four at a time */
    const int staged = !pointwise && k_len <= TINYC_IM2COL_STAGE && g->input_offset >= -127 && g->input_offset <= 128;
    const int8_t pad = (int8_t)(staged ? -g->input_offset : 0);
    if (pointwise && groups == 1 && cp->stride.h == 1 && cp->stride.w == 1 && out_h == g->in_h && out_w == g->in_w && g->src_w == out_w)
    {
        conv_pointwise(q, pixels, k_len, out_c, g->input_offset, input_data, filter_data, bias_data, output_data, pair);
        return;
    }
    int8_t stage[2][TINYC_IM2COL_STAGE];
    for (int32_t p = 0; p < pixels; p += 2)
    {
        const int32_t count = p + 1 < pixels ? 2 : 1;
        int32_t by[2], bx[2];
        const int8_t *img[2];
        for (int32_t k = 0; k < 2; ++k)
        {
            int32_t b, oy, ox;
            pixel_at(k < count ? p + k : p, out_h, out_w, &b, &oy, &ox);
            by[k] = oy * cp->stride.h - cp->padding.h;
            bx[k] = ox * cp->stride.w - cp->padding.w;
            img[k] = input_data + (int64_t)b * src_h * g->src_w * g->in_c;
        }
        int8_t *out_a = output_data + (int64_t)p * out_c;
        int8_t *out_b = count == 2 ? out_a + out_c : NULL;
        for (int32_t grp = 0; grp < groups; ++grp)
        {
            if (pointwise && by[0] < g->in_h && bx[0] < g->in_w && by[1] < g->in_h && bx[1] < g->in_w)
            {
                tinyc_pair_from_s8(img[0] + ((int64_t)by[0] * g->src_w + bx[0]) * g->in_c,
                                   img[1] + ((int64_t)by[1] * g->src_w + bx[1]) * g->in_c,
                                   k_len,
                                   g->input_offset,
                                   pair);
            }
            else if (staged)
            {
                im2col_s8(g, img[0], by[0], bx[0], grp, pad, stage[0]);
                im2col_s8(g, img[1], by[1], bx[1], grp, pad, stage[1]);
                tinyc_pair_from_s8(stage[0], stage[1], k_len, g->input_offset, pair);
            }
            else
            {
                im2col_pair(g, img[0], by[0], bx[0], grp, pair, 0);
                im2col_pair(g, img[1], by[1], bx[1], grp, pair, 1);
            }
            const int32_t first = grp * out_per_group;
            const int32_t end = first + out_per_group;
            for (int32_t oc = first; oc < end; oc += 2)
            {
                const int32_t oc1 = oc + 1 < end ? oc + 1 : oc;
                const int32_t b0 = bias_data != NULL ? bias_data[oc] : 0;
                const int32_t b1 = bias_data != NULL ? bias_data[oc1] : 0;
                int32_t acc[4] = {b0, b1, b0, b1};
                tinyc_mm2x2_pair(pair, filter_data + (int64_t)oc * k_len, filter_data + (int64_t)oc1 * k_len, k_len, acc);
                store2x2(q, acc, out_a, out_b, oc, oc1);
            }
        }
    }
}

/* Scratch of the column pair: 2 * (filter size rounded up to a multiple of four) int16. */
static int32_t pair_bytes(const cmsis_nn_dims *filter_dims)
{
    const int32_t k_len = filter_dims->h * filter_dims->w * filter_dims->c;
    return 2 * ((k_len + 3) / 4 * 4) * (int32_t)sizeof(int16_t);
}

arm_cmsis_nn_status arm_convolve_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_conv_params *conv_params,
                                    const cmsis_nn_per_channel_quant_params *quant_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const int8_t *filter_data,
                                    const cmsis_nn_dims *bias_dims,
                                    const int32_t *bias_data,
                                    const cmsis_nn_dims *upscale_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)bias_dims;

    const int32_t in_c = input_dims->c;
    const int32_t k_c = filter_dims->c;
    const int32_t out_c = output_dims->c;
    if (k_c <= 0 || in_c % k_c != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t groups = in_c / k_c;
    if (out_c % groups != 0 || filter_dims->n != out_c)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t out_per_group = out_c / groups;

    tinyc_conv_geom g;
    g.y_shift = (upscale_dims != NULL && upscale_dims->h == 2) ? 1 : 0;
    g.x_shift = (upscale_dims != NULL && upscale_dims->w == 2) ? 1 : 0;
    g.in_h = input_dims->h;
    g.in_w = input_dims->w;
    g.src_w = input_dims->w >> g.x_shift;
    g.in_c = in_c;
    g.k_c = k_c;
    g.k_h = filter_dims->h;
    g.k_w = filter_dims->w;
    g.dil_h = conv_params->dilation.h;
    g.dil_w = conv_params->dilation.w;
    g.input_offset = conv_params->input_offset;

    const int32_t src_h = input_dims->h >> g.y_shift;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    tinyc_conv_out q;
    q.mult = quant_params->multiplier;
    q.shift = quant_params->shift;
    q.out_offset = conv_params->output_offset;
    q.act_min = conv_params->activation.min;
    q.act_max = conv_params->activation.max;
    q.full_range = q.act_min == -128 && q.act_max == 127;

    if (ctx != NULL && ctx->buf != NULL && ((uintptr_t)ctx->buf & 3u) == 0 && ctx->size >= pair_bytes(filter_dims))
    {
        conv_pairs(&q, &g, conv_params, input_dims->n, src_h, input_data, filter_data, bias_data, output_dims, output_data, (int16_t *)ctx->buf);
        return ARM_CMSIS_NN_SUCCESS;
    }

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *input = input_data + (int64_t)b * src_h * g.src_w * in_c;
        int8_t *out = output_data + (int64_t)b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy)
        {
            const int32_t base_y = oy * conv_params->stride.h - conv_params->padding.h;
            for (int32_t ox = 0; ox < out_w; ++ox)
            {
                const int32_t base_x = ox * conv_params->stride.w - conv_params->padding.w;
                for (int32_t grp = 0; grp < groups; ++grp)
                {
                    const int32_t first = grp * out_per_group;
                    const int32_t end = first + out_per_group;
                    for (int32_t oc = first; oc < end; oc += 2)
                    {
                        const int32_t oc1 = (oc + 1 < end) ? oc + 1 : oc;
                        int32_t acc[4];
                        acc[0] = bias_data != NULL ? bias_data[oc] : 0;
                        acc[1] = bias_data != NULL ? bias_data[oc1] : 0;
                        conv_pixel2(&g, input, filter_data, base_y, base_x, grp, oc, oc1, &acc[0], &acc[1]);
                        acc[2] = acc[0];
                        acc[3] = acc[1];
                        store2x2(&q, acc, out, NULL, oc, oc1);
                    }
                }
                out += out_c;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_convolve_s8_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
    (void)input_dims;
    return pair_bytes(filter_dims);
}

arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx,
                                            const cmsis_nn_conv_params *conv_params,
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
    return arm_convolve_s8(ctx,
                           conv_params,
                           quant_params,
                           input_dims,
                           input_data,
                           filter_dims,
                           filter_data,
                           bias_dims,
                           bias_data,
                           NULL,
                           output_dims,
                           output_data);
}

int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims,
                                                const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims)
{
    (void)conv_params;
    (void)output_dims;
    return arm_convolve_s8_get_buffer_size(input_dims, filter_dims);
}
