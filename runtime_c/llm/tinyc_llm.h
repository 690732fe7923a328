/* tinyc_llm.h: kernels, sampler and BPE tokenizer of tinyc's transformer decode loop.
 *
 * Portable C99 with no allocation and no I/O: every buffer comes from the
 * caller (the generated model keeps them in static arenas). On Cortex-M with
 * the DSP extension the int8 dot products use SMLAD; elsewhere plain C gives
 * the same integers. Part of tinyc (Apache-2.0).
 */
#ifndef TINYC_LLM_H
#define TINYC_LLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TINYC_LLM_BOS 1
#define TINYC_LLM_EOS 2

/* ---- int8 group-quantized matrices ------------------------------------------ */

/* rows x cols int8 values, row-major; each row split into groups of
 * group_size columns (the last one may be shorter), one float scale per group */
typedef struct {
    const int8_t *q;
    const float *s;
    int32_t group_size;
} tinyc_llm_q8;

/* out[d] = W[d][n] . x[n], float32, accumulated in index order */
void tinyc_llm_matmul_f32(float *out, const float *x, const float *w, int32_t n, int32_t d);
/* quantize x[n] per group: q = roundf(x * 127 / max|x|), s = max|x| / 127 */
void tinyc_llm_quantize(int8_t *q, float *s, const float *x, int32_t n, int32_t group_size);
/* out[d] = sum over groups of (int32 dot of the group) * w scale * x scale;
 * scratch holds n / 2 + 1 words (the DSP path splits the activations into halfword pairs there) */
void tinyc_llm_matmul_q8(float *out, const int8_t *xq, const float *xs, const tinyc_llm_q8 *w, int32_t n, int32_t d,
                         uint32_t *scratch);
/* one row of a quantized matrix back to float: out[j] = q[j] * s[group of j] */
void tinyc_llm_dequantize_row(float *out, const tinyc_llm_q8 *w, int32_t row, int32_t n);
int32_t tinyc_llm_dot_q8(const int8_t *a, const int8_t *b, int32_t n);

/* ---- transformer kernels --------------------------------------------------------- */

void tinyc_llm_rmsnorm(float *out, const float *x, const float *w, int32_t n, float eps);
/* cos_sin[2j], cos_sin[2j+1] = cos, sin of pos * freqs[j], j < half */
void tinyc_llm_rope_table(float *cos_sin, const float *freqs, int32_t half, int32_t pos);
/* rotate the pairs (2j, 2j+1) of each head by the table's angles */
void tinyc_llm_rope(float *vec, int32_t n_heads, int32_t head_size, const float *cos_sin);
void tinyc_llm_softmax(float *x, int32_t n);
/* hb[i] = silu(hb[i]) * hb2[i] */
void tinyc_llm_swiglu(float *hb, const float *hb2, int32_t n);
void tinyc_llm_add(float *x, const float *y, int32_t n);
/* one head: softmax(q . k_t / sqrt(head_size)) over t = 0..pos, then the weighted sum of v_t.
 * k and v point at the head's slice of position 0; stride is the cache row length (kv_dim). */
void tinyc_llm_attention_f32(float *out, float *att, const float *q, const float *k, const float *v,
                             int32_t pos, int32_t head_size, int32_t stride);
/* the same over an int8 cache with one scale per group of group_size values of each row;
 * offset is the head's first column in the row */
void tinyc_llm_attention_q8(float *out, float *att, const float *q, const int8_t *k, const float *ks,
                            const int8_t *v, const float *vs, int32_t pos, int32_t head_size, int32_t kv_dim,
                            int32_t offset, int32_t group_size);

/* ---- sampler ---------------------------------------------------------------------- */

typedef struct {
    float prob;
    int32_t index;
} tinyc_llm_prob_index;

typedef struct {
    float temperature; /* 0: greedy */
    float topp;        /* in (0, 1): nucleus sampling; otherwise the whole distribution */
    uint64_t state;    /* xorshift64* state */
} tinyc_llm_sampler;

void tinyc_llm_sampler_init(tinyc_llm_sampler *s, float temperature, float topp, uint64_t seed);
uint32_t tinyc_llm_random_u32(uint64_t *state);
float tinyc_llm_random_f32(uint64_t *state);
/* picks a token; may overwrite logits (scaled, soft-maxed); scratch holds n entries */
int32_t tinyc_llm_sample(tinyc_llm_sampler *s, float *logits, int32_t n, tinyc_llm_prob_index *scratch);
int32_t tinyc_llm_argmax(const float *x, int32_t n);

/* ---- BPE tokenizer ---------------------------------------------------------------- */

typedef struct {
    int32_t vocab_size;
    int32_t max_token_length;
    const char *text;            /* every piece, NUL-terminated, back to back */
    const uint32_t *offsets;     /* piece i starts at text + offsets[i] */
    const float *scores;         /* merge priority of each piece */
    const int32_t *sorted;       /* ids ordered by their pieces' bytes (then id) */
    const int32_t *byte_tokens;  /* id of <0xXX> for each byte value */
    int32_t space_token;         /* the dummy prefix " " */
} tinyc_llm_vocab;

/* bytes a merge buffer needs for this vocabulary */
#define TINYC_LLM_MERGE_BUFFER(max_token_length) (2 * (max_token_length) + 8)

int32_t tinyc_llm_lookup(const tinyc_llm_vocab *v, const char *piece);
/* BPE-encode text into tokens (capacity entries; buf holds TINYC_LLM_MERGE_BUFFER bytes).
 * Returns the token count, or -1 when the tokens do not fit. */
int32_t tinyc_llm_encode(const tinyc_llm_vocab *v, const char *text, int bos, int eos, int32_t *tokens,
                         int32_t capacity, char *buf);
/* the text of token after prev (leading space stripped after BOS, <0xXX> as that byte) */
const char *tinyc_llm_decode(const tinyc_llm_vocab *v, int32_t prev, int32_t token, char byte_piece[2]);
/* 0 for an empty piece or a lone byte that is neither printable nor white space */
int tinyc_llm_printable(const char *piece);

#ifdef __cplusplus
}
#endif

#endif /* TINYC_LLM_H */
