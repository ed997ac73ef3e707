#ifndef THINKLENS_OPS_H
#define THINKLENS_OPS_H

#include <stdint.h>

// Row-wise operations of the Qwen2 block. Each output depends only on its own row, computed in
// a fixed order, so results do not depend on how rows are batched. `path` is TL_PATH_*
// (kernel_path.h), resolved once per call; every path gives the portable path's bits.

// y[i] = (x[i] · 1/sqrt(mean(x²) + eps)) · weight[i], as Hugging Face's Qwen2RMSNorm (float32).
// x, y: [n]; weight: [n]. y may alias x.
void tl_rms_norm(const float *x, const float *weight, int64_t n, float eps, float *y, int path);

// In place, rotate-half rotary embedding on `heads` vectors of head_dim at x[h * head_dim]:
// for i < head_dim/2: (a, b) = (x[i], x[i + half]) → (a·cos[i] − b·sin[i], b·cos[i] + a·sin[i]).
void tl_rope(float *x, int heads, int head_dim, const float *cos_row, const float *sin_row);

// Causal grouped-query attention for one query row.
// q: [heads, head_dim]; keys/values: [kv_heads, capacity, head_dim] (this sequence and layer);
// attends to positions 0 ..< length. scores: scratch of `length` floats; out: [heads, head_dim].
void tl_attention_row(const float *q, const float *keys, const float *values,
                      int64_t capacity, int heads, int kv_heads, int head_dim,
                      int64_t length, float scale, float *scores, float *out, int path);

// One query row of a batch for tl_attention: q [heads, head_dim]; keys/values [kv_heads,
// capacity, head_dim] of its sequence and layer; attends to positions 0 ..< length; out
// [heads, head_dim].
// keys/values are float32 or bfloat16 bits (tl_attention's kv_dtype).
typedef struct {
    const float *q;
    const void *keys;
    const void *values;
    int64_t length;
    float *out;
} tl_attention_query;

// tl_attention_row for every query, spread over the thread pool by (rows, KV head) units of
// about equal cost. Consecutive queries with the same keys and values (a prompt's rows in one
// prefill step) may be attended together, each key and value row loaded once for all of them;
// every output is still computed exactly as tl_attention_row computes it, whatever the batch,
// blocking and thread count. The softmax's exp is tl_expf (tl_exp.h) on every path.
// kv_dtype: TL_DTYPE_F32, or TL_DTYPE_BF16 for a bfloat16 cache, whose entries are widened to
// float32 exactly before use, so every path still gives the same bits (those of
// tl_attention_row on the widened cache).
void tl_attention(const tl_attention_query *queries, int64_t query_count, int64_t capacity, int heads,
                  int kv_heads, int head_dim, float scale, int kv_dtype, int path);

// The bfloat16 a cache stores for x: round to nearest, ties to even; NaN stays a quiet NaN.
uint16_t tl_bf16_from_f32(float x);
// n floats to bfloat16 with tl_bf16_from_f32.
void tl_bf16_from_f32_array(const float *x, int64_t n, uint16_t *out);

// out[i] = silu(gate[i]) · up[i] with silu(g) = g / (1 + exp(−g)). out may alias gate or up.
void tl_swiglu(const float *gate, const float *up, int64_t n, float *out);

#endif
