/* tinyc_llm.c: kernels, sampler and BPE tokenizer of tinyc's transformer decode loop.
 * See tinyc_llm.h. No allocation, no I/O, C99. Part of tinyc (Apache-2.0).
 */
#include "tinyc_llm.h"

#include <math.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(TINYC_LLM_NO_DSP)
#include <arm_acle.h>
#define TINYC_LLM_DSP 1
#else
#define TINYC_LLM_DSP 0
#endif

/* ============================================================================
 * int8 matmul
 * ========================================================================== */

#if TINYC_LLM_DSP
static uint32_t load_word(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* LDR: unaligned access is allowed on v7-M */
    return v;
}

/* bytes 1 and 3 sign-extended to halfwords (SXTB16 with its built-in rotation) */
static uint32_t sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* two rows at once: a0 = w0 . x, a1 = w1 . x over n values (a multiple of 4), the activations
 * pre-split into halfword pairs (x0,x2), (x1,x3), ... so each weight word needs two SXTB16 */
static void dot2_pairs(const int8_t *w0, const int8_t *w1, const uint32_t *xp, int32_t n, int32_t *a0, int32_t *a1)
{
    int32_t s0 = 0, s1 = 0;
    const int8_t *end = w0 + n;
    while (w0 < end) {
        uint32_t x02 = xp[0], x13 = xp[1];
        uint32_t u = load_word(w0), v = load_word(w1);
        s0 = (int32_t)__smlad(__sxtb16(u), x02, s0);
        s1 = (int32_t)__smlad(__sxtb16(v), x02, s1);
        s0 = (int32_t)__smlad(sxtb16_ror8(u), x13, s0);
        s1 = (int32_t)__smlad(sxtb16_ror8(v), x13, s1);
        w0 += 4;
        w1 += 4;
        xp += 2;
    }
    *a0 = s0;
    *a1 = s1;
}
#endif

int32_t tinyc_llm_dot_q8(const int8_t *a, const int8_t *b, int32_t n)
{
    int32_t acc = 0;
    int32_t k;
    for (k = 0; k < n; k++) {
        acc += (int32_t)a[k] * (int32_t)b[k];
    }
    return acc;
}

void tinyc_llm_matmul_f32(float *out, const float *x, const float *w, int32_t n, int32_t d)
{
    int32_t i, j;
    for (i = 0; i < d; i++) {
        const float *row = w + (size_t)i * (size_t)n;
        float val = 0.0f;
        for (j = 0; j < n; j++) {
            val += row[j] * x[j];
        }
        out[i] = val;
    }
}

void tinyc_llm_quantize(int8_t *q, float *s, const float *x, int32_t n, int32_t group_size)
{
    int32_t lo, i, g = 0;
    for (lo = 0; lo < n; lo += group_size, g++) {
        int32_t hi = lo + group_size < n ? lo + group_size : n;
        float amax = 0.0f;
        for (i = lo; i < hi; i++) {
            float a = fabsf(x[i]);
            if (a > amax) {
                amax = a;
            }
        }
        if (amax > 0.0f) {
            float inv = 127.0f / amax;
            for (i = lo; i < hi; i++) {
                float r = roundf(x[i] * inv);
                r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
                q[i] = (int8_t)(r == r ? r : 0.0f); /* NaN (a diverged model) becomes 0, not undefined behaviour */
            }
            s[g] = amax / 127.0f;
        } else {
            for (i = lo; i < hi; i++) {
                q[i] = 0;
            }
            s[g] = 0.0f;
        }
    }
}

void tinyc_llm_matmul_q8(float *out, const int8_t *xq, const float *xs, const tinyc_llm_q8 *w, int32_t n, int32_t d,
                         uint32_t *scratch)
{
    const int32_t gs = w->group_size;
    const int32_t ng = (n + gs - 1) / gs;
    int32_t i, g;
#if TINYC_LLM_DSP
    if (n % 4 == 0 && gs % 4 == 0) {
        /* split the activations once into halfword pairs matching SXTB16 of the weight words */
        for (i = 0; i < n; i += 4) {
            uint32_t x4 = load_word(xq + i);
            scratch[i / 2] = __sxtb16(x4);
            scratch[i / 2 + 1] = sxtb16_ror8(x4);
        }
        for (i = 0; i < d; i += 2) {
            /* an odd last row is paired with itself */
            const int32_t i1 = i + 1 < d ? i + 1 : i;
            const int8_t *r0 = w->q + (size_t)i * (size_t)n, *r1 = w->q + (size_t)i1 * (size_t)n;
            const float *s0 = w->s + (size_t)i * (size_t)ng, *s1 = w->s + (size_t)i1 * (size_t)ng;
            float v0 = 0.0f, v1 = 0.0f;
            int32_t lo = 0;
            for (g = 0; g < ng; g++, lo += gs) {
                int32_t a0, a1;
                dot2_pairs(r0 + lo, r1 + lo, scratch + lo / 2, n - lo < gs ? n - lo : gs, &a0, &a1);
                v0 += ((float)a0 * s0[g]) * xs[g];
                v1 += ((float)a1 * s1[g]) * xs[g];
            }
            out[i] = v0;
            out[i1] = v1;
        }
        return;
    }
#endif
    (void)scratch;
    for (i = 0; i < d; i++) {
        const int8_t *row = w->q + (size_t)i * (size_t)n;
        const float *rs = w->s + (size_t)i * (size_t)ng;
        float val = 0.0f;
        for (g = 0; g < ng; g++) {
            int32_t lo = g * gs;
            int32_t len = lo + gs < n ? gs : n - lo;
            int32_t acc = tinyc_llm_dot_q8(row + lo, xq + lo, len);
            val += ((float)acc * rs[g]) * xs[g];
        }
        out[i] = val;
    }
}

void tinyc_llm_dequantize_row(float *out, const tinyc_llm_q8 *w, int32_t row, int32_t n)
{
    const int32_t gs = w->group_size;
    const int32_t ng = (n + gs - 1) / gs;
    const int8_t *q = w->q + (size_t)row * (size_t)n;
    const float *s = w->s + (size_t)row * (size_t)ng;
    int32_t j;
    for (j = 0; j < n; j++) {
        out[j] = (float)q[j] * s[j / gs];
    }
}

/* ============================================================================
 * transformer kernels
 * ========================================================================== */

void tinyc_llm_rmsnorm(float *out, const float *x, const float *w, int32_t n, float eps)
{
    float ss = 0.0f;
    int32_t j;
    for (j = 0; j < n; j++) {
        ss += x[j] * x[j];
    }
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (j = 0; j < n; j++) {
        out[j] = w[j] * (ss * x[j]);
    }
}

void tinyc_llm_rope_table(float *cos_sin, const float *freqs, int32_t half, int32_t pos)
{
    int32_t j;
    for (j = 0; j < half; j++) {
        float angle = (float)pos * freqs[j];
        cos_sin[2 * j] = cosf(angle);
        cos_sin[2 * j + 1] = sinf(angle);
    }
}

void tinyc_llm_rope(float *vec, int32_t n_heads, int32_t head_size, const float *cos_sin)
{
    int32_t h, i;
    for (h = 0; h < n_heads; h++) {
        float *v = vec + (size_t)h * (size_t)head_size;
        for (i = 0; i < head_size; i += 2) {
            float c = cos_sin[i], s = cos_sin[i + 1];
            float v0 = v[i], v1 = v[i + 1];
            v[i] = v0 * c - v1 * s;
            v[i + 1] = v0 * s + v1 * c;
        }
    }
}

void tinyc_llm_softmax(float *x, int32_t n)
{
    float max = x[0], sum = 0.0f;
    int32_t i;
    for (i = 1; i < n; i++) {
        if (x[i] > max) {
            max = x[i];
        }
    }
    for (i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (i = 0; i < n; i++) {
        x[i] /= sum;
    }
}

void tinyc_llm_swiglu(float *hb, const float *hb2, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        float val = hb[i];
        val *= 1.0f / (1.0f + expf(-val));
        hb[i] = val * hb2[i];
    }
}

void tinyc_llm_add(float *x, const float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        x[i] += y[i];
    }
}

void tinyc_llm_attention_f32(float *out, float *att, const float *q, const float *k, const float *v,
                             int32_t pos, int32_t head_size, int32_t stride)
{
    const float scale = sqrtf((float)head_size);
    int32_t t, i;
    for (t = 0; t <= pos; t++) {
        const float *kt = k + (size_t)t * (size_t)stride;
        float score = 0.0f;
        for (i = 0; i < head_size; i++) {
            score += q[i] * kt[i];
        }
        att[t] = score / scale;
    }
    tinyc_llm_softmax(att, pos + 1);
    for (i = 0; i < head_size; i++) {
        out[i] = 0.0f;
    }
    for (t = 0; t <= pos; t++) {
        const float *vt = v + (size_t)t * (size_t)stride;
        const float a = att[t];
        for (i = 0; i < head_size; i++) {
            out[i] += a * vt[i];
        }
    }
}

void tinyc_llm_attention_q8(float *out, float *att, const float *q, const int8_t *k, const float *ks,
                            const int8_t *v, const float *vs, int32_t pos, int32_t head_size, int32_t kv_dim,
                            int32_t offset, int32_t group_size)
{
    const float scale = sqrtf((float)head_size);
    const int32_t ng = kv_dim / group_size;
    /* the head spans whole groups (group_size <= head_size) or sits inside one */
    const int32_t chunk = group_size < head_size ? group_size : head_size;
    const int32_t first = offset / group_size;
    int32_t t, i, c0, c;
    for (t = 0; t <= pos; t++) {
        const int8_t *kt = k + (size_t)t * (size_t)kv_dim + offset;
        const float *st = ks + (size_t)t * (size_t)ng + first;
        float score = 0.0f;
        for (c0 = 0, c = 0; c0 < head_size; c0 += chunk, c++) {
            float dot = 0.0f;
            for (i = c0; i < c0 + chunk; i++) {
                dot += q[i] * (float)kt[i];
            }
            score += dot * st[c];
        }
        att[t] = score / scale;
    }
    tinyc_llm_softmax(att, pos + 1);
    for (i = 0; i < head_size; i++) {
        out[i] = 0.0f;
    }
    for (t = 0; t <= pos; t++) {
        const int8_t *vt = v + (size_t)t * (size_t)kv_dim + offset;
        const float *st = vs + (size_t)t * (size_t)ng + first;
        for (c0 = 0, c = 0; c0 < head_size; c0 += chunk, c++) {
            const float a = att[t] * st[c];
            for (i = c0; i < c0 + chunk; i++) {
                out[i] += a * (float)vt[i];
            }
        }
    }
}

/* ============================================================================
 * sampler: xorshift64*, greedy / temperature / top-p
 * ========================================================================== */

void tinyc_llm_sampler_init(tinyc_llm_sampler *s, float temperature, float topp, uint64_t seed)
{
    s->temperature = temperature;
    s->topp = topp;
    s->state = seed != 0 ? seed : 0x9E3779B97F4A7C15ULL; /* an all-zero state never changes */
}

uint32_t tinyc_llm_random_u32(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1DULL) >> 32);
}

float tinyc_llm_random_f32(uint64_t *state)
{
    return (float)(tinyc_llm_random_u32(state) >> 8) / 16777216.0f;
}

int32_t tinyc_llm_argmax(const float *x, int32_t n)
{
    int32_t i, best = 0;
    for (i = 1; i < n; i++) {
        if (x[i] > x[best]) {
            best = i;
        }
    }
    return best;
}

/* a comes before b: higher probability first, then lower id (a total order: sorting is deterministic) */
static int before(const tinyc_llm_prob_index *a, const tinyc_llm_prob_index *b)
{
    return a->prob > b->prob || (a->prob == b->prob && a->index < b->index);
}

static void sift_down(tinyc_llm_prob_index *h, int32_t root, int32_t n)
{
    for (;;) {
        int32_t child = 2 * root + 1;
        tinyc_llm_prob_index tmp;
        if (child >= n) {
            return;
        }
        if (child + 1 < n && before(&h[child], &h[child + 1])) {
            child++;
        }
        if (!before(&h[root], &h[child])) {
            return;
        }
        tmp = h[root];
        h[root] = h[child];
        h[child] = tmp;
        root = child;
    }
}

/* heapsort into "before" order (no recursion, no allocation) */
static void sort_probs(tinyc_llm_prob_index *h, int32_t n)
{
    int32_t i;
    for (i = n / 2 - 1; i >= 0; i--) {
        sift_down(h, i, n);
    }
    for (i = n - 1; i > 0; i--) {
        tinyc_llm_prob_index tmp = h[0];
        h[0] = h[i];
        h[i] = tmp;
        sift_down(h, 0, i);
    }
}

static int32_t sample_cdf(const float *probs, int32_t n, float coin)
{
    float cdf = 0.0f;
    int32_t i;
    for (i = 0; i < n; i++) {
        cdf += probs[i];
        if (coin < cdf) {
            return i;
        }
    }
    return n - 1;
}

static int32_t sample_topp(const float *probs, int32_t n, float topp, tinyc_llm_prob_index *cand, float coin)
{
    float cutoff, cum = 0.0f, r, cdf = 0.0f;
    int32_t i, m = 0, last;
    if (n < 2) {
        return 0;
    }
    cutoff = (1.0f - topp) / (float)(n - 1);
    for (i = 0; i < n; i++) {
        if (probs[i] >= cutoff) {
            cand[m].index = i;
            cand[m].prob = probs[i];
            m++;
        }
    }
    if (m == 0) {
        return tinyc_llm_argmax(probs, n);
    }
    sort_probs(cand, m);
    last = m - 1;
    for (i = 0; i < m; i++) {
        cum += cand[i].prob;
        if (cum > topp) {
            last = i;
            break;
        }
    }
    r = coin * cum;
    for (i = 0; i <= last; i++) {
        cdf += cand[i].prob;
        if (r < cdf) {
            return cand[i].index;
        }
    }
    return cand[last].index;
}

int32_t tinyc_llm_sample(tinyc_llm_sampler *s, float *logits, int32_t n, tinyc_llm_prob_index *scratch)
{
    float coin;
    int32_t i;
    if (s->temperature == 0.0f) {
        return tinyc_llm_argmax(logits, n);
    }
    for (i = 0; i < n; i++) {
        logits[i] /= s->temperature;
    }
    tinyc_llm_softmax(logits, n);
    coin = tinyc_llm_random_f32(&s->state);
    if (s->topp <= 0.0f || s->topp >= 1.0f) {
        return sample_cdf(logits, n, coin);
    }
    return sample_topp(logits, n, s->topp, scratch, coin);
}

/* ============================================================================
 * BPE tokenizer
 * ========================================================================== */

static const char *piece_of(const tinyc_llm_vocab *v, int32_t id)
{
    return v->text + v->offsets[id];
}

int32_t tinyc_llm_lookup(const tinyc_llm_vocab *v, const char *piece)
{
    /* lower bound in the sorted ids: the smallest id among equal pieces */
    int32_t lo = 0, hi = v->vocab_size;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (strcmp(piece_of(v, v->sorted[mid]), piece) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < v->vocab_size && strcmp(piece_of(v, v->sorted[lo]), piece) == 0) {
        return v->sorted[lo];
    }
    return -1;
}

int32_t tinyc_llm_encode(const tinyc_llm_vocab *v, const char *text, int bos, int eos, int32_t *tokens,
                         int32_t capacity, char *buf)
{
    int32_t n = 0;
    size_t len = 0;
    const unsigned char *c;
#define TINYC_PUSH(id)              \
    do {                            \
        if (n >= capacity) {        \
            return -1;              \
        }                           \
        tokens[n++] = (id);         \
    } while (0)
    if (bos) {
        TINYC_PUSH(TINYC_LLM_BOS);
    }
    if (text[0] != '\0') {
        TINYC_PUSH(v->space_token);
    }
    /* one token per UTF-8 code point, or per byte when the code point is not in the vocabulary */
    for (c = (const unsigned char *)text; *c != '\0'; c++) {
        int32_t id;
        if ((*c & 0xC0) != 0x80) {
            len = 0;
        }
        buf[len++] = (char)*c;
        buf[len] = '\0';
        if ((c[1] & 0xC0) == 0x80 && len < 4) {
            continue;
        }
        id = tinyc_llm_lookup(v, buf);
        if (id >= 0) {
            TINYC_PUSH(id);
        } else {
            size_t i;
            for (i = 0; i < len; i++) {
                TINYC_PUSH(v->byte_tokens[(unsigned char)buf[i]]);
            }
        }
        len = 0;
    }
    /* merge the best-scoring adjacent pair until none is in the vocabulary */
    for (;;) {
        float best_score = 0.0f;
        int32_t best_id = -1, best_at = -1, i;
        for (i = 0; i + 1 < n; i++) {
            const char *a = piece_of(v, tokens[i]);
            const char *b = piece_of(v, tokens[i + 1]);
            size_t la = strlen(a), lb = strlen(b);
            int32_t id;
            memcpy(buf, a, la);
            memcpy(buf + la, b, lb + 1);
            id = tinyc_llm_lookup(v, buf);
            if (id >= 0 && (best_at < 0 || v->scores[id] > best_score)) {
                best_score = v->scores[id];
                best_id = id;
                best_at = i;
            }
        }
        if (best_at < 0) {
            break;
        }
        tokens[best_at] = best_id;
        for (i = best_at + 1; i + 1 < n; i++) {
            tokens[i] = tokens[i + 1];
        }
        n--;
    }
    if (eos) {
        TINYC_PUSH(TINYC_LLM_EOS);
    }
#undef TINYC_PUSH
    return n;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

const char *tinyc_llm_decode(const tinyc_llm_vocab *v, int32_t prev, int32_t token, char byte_piece[2])
{
    const char *piece;
    if (token < 0 || token >= v->vocab_size) {
        return "";
    }
    piece = piece_of(v, token);
    if (prev == TINYC_LLM_BOS && piece[0] == ' ') {
        piece++;
    }
    if (piece[0] == '<' && piece[1] == '0' && piece[2] == 'x' && hex_value(piece[3]) >= 0 &&
        hex_value(piece[4]) >= 0 && piece[5] == '>' && piece[6] == '\0') {
        byte_piece[0] = (char)(hex_value(piece[3]) * 16 + hex_value(piece[4]));
        byte_piece[1] = '\0';
        return byte_piece;
    }
    return piece;
}

int tinyc_llm_printable(const char *piece)
{
    unsigned char b;
    if (piece == NULL || piece[0] == '\0') {
        return 0;
    }
    if (piece[1] != '\0') {
        return 1;
    }
    b = (unsigned char)piece[0];
    return (b >= 0x20 && b <= 0x7E) || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r';
}
