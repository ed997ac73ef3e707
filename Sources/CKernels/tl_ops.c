#include "tl_ops.h"
#include "tl_exp.h"
#include "sae_kernels.h"
#include "tl_linear.h"
#include "tl_threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

// Keep multiplications and additions separately rounded, as PyTorch computes these ops.
#pragma clang fp contract(off)

void tl_rms_norm(const float *x, const float *weight, int64_t n, float eps, float *y, int path) {
    float mean_square = tl_dot(x, x, n, path) / (float)n;
    float inverse = 1.0f / sqrtf(mean_square + eps);
    for (int64_t i = 0; i < n; i++) {
        float normed = x[i] * inverse;
        y[i] = weight[i] * normed;
    }
}

void tl_rope(float *x, int heads, int head_dim, const float *cos_row, const float *sin_row) {
    int half = head_dim / 2;
    for (int h = 0; h < heads; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            float c = cos_row[i], s = sin_row[i];
            float ac = a * c, bs = b * s, bc = b * c, as = a * s;
            v[i] = ac - bs;
            v[i + half] = bc + as;
        }
    }
}

// One query head against its KV head: softmax(q·kᵀ·scale)·v over positions 0 ..< length.
// The value sum runs over t in order for every output lane d, so vectorising across d (AVX2)
// gives the same bits as the scalar loop.
typedef void (*head_values_fn)(const float *scores, const float *values, int64_t length, int head_dim,
                               float total, float *out);

static void head_values_portable(const float *scores, const float *values, int64_t length, int head_dim,
                                 float total, float *out) {
    for (int d = 0; d < head_dim; d++) out[d] = 0;
    for (int64_t t = 0; t < length; t++) {
        float weight = scores[t] / total;
        const float *vt = values + t * head_dim;
        for (int d = 0; d < head_dim; d++) out[d] = fmaf(weight, vt[d], out[d]);
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
__attribute__((target("avx2,fma")))
static void head_values_avx2(const float *scores, const float *values, int64_t length, int head_dim,
                             float total, float *out) {
    int d8 = head_dim & ~7;
    for (int d = 0; d < head_dim; d++) out[d] = 0;
    for (int64_t t = 0; t < length; t++) {
        float weight = scores[t] / total;
        const float *vt = values + t * head_dim;
        __m256 w = _mm256_set1_ps(weight);
        for (int d = 0; d < d8; d += 8)
            _mm256_storeu_ps(out + d, _mm256_fmadd_ps(w, _mm256_loadu_ps(vt + d), _mm256_loadu_ps(out + d)));
        for (int d = d8; d < head_dim; d++) out[d] = fmaf(weight, vt[d], out[d]);
    }
}
#endif

// For a resolved path. AVX-512 takes the AVX2 value sums and NEON the portable loop (no code of
// their own yet; a 16- or 4-lane version would give the same bits, one fma chain per lane). The
// scores use the path itself, through tl_dot.
static head_values_fn head_values_for(int path) {
#if defined(__x86_64__) || defined(__i386__)
    if (path == TL_PATH_AVX2 || path == TL_PATH_AVX512) return head_values_avx2;
#endif
    return head_values_portable;
}

// The query heads that share one KV head (grouped-query attention), together: each key and
// value row is read once for all of them instead of once per head, which is what long contexts
// are limited by. Per head every operation is the one attention_head does, in the same order
// (the dot products, the running maximum over t, the exp sum over t, the value sum over t per
// lane), so the bits are the same. q and out hold the group's heads consecutively; scores has
// room for group × length.
enum { TL_ATTENTION_MAX_GROUP = 64 };

static void attention_group(const float *q, const float *kh, const float *vh, int group, int head_dim, int64_t length,
                            float scale, float *scores, float *out, int path) {
    float maximum[TL_ATTENTION_MAX_GROUP], total[TL_ATTENTION_MAX_GROUP];
    for (int g = 0; g < group; g++) maximum[g] = -INFINITY;
    for (int64_t t = 0; t < length; t++) {
        const float *kt = kh + t * head_dim;
        for (int g = 0; g < group; g++) {
            float s = tl_dot(q + (int64_t)g * head_dim, kt, head_dim, path) * scale;
            scores[g * length + t] = s;
            if (s > maximum[g]) maximum[g] = s;
        }
    }
    for (int g = 0; g < group; g++) {
        float *sg = scores + g * length;
        tl_exp_shifted(sg, length, maximum[g], path);
        float sum = 0;
        for (int64_t t = 0; t < length; t++) sum += sg[t];
        total[g] = sum;
        float *og = out + (int64_t)g * head_dim;
        for (int d = 0; d < head_dim; d++) og[d] = 0;
    }
    for (int64_t t = 0; t < length; t++) {
        const float *vt = vh + t * head_dim;
        for (int g = 0; g < group; g++) {
            float weight = scores[g * length + t] / total[g];
            float *og = out + (int64_t)g * head_dim;
            for (int d = 0; d < head_dim; d++) og[d] = fmaf(weight, vt[d], og[d]);
        }
    }
}

static void attention_head(const float *qh, const float *kh, const float *vh, int head_dim, int64_t length,
                           float scale, float *scores, float *oh, int path, head_values_fn values_fn) {
    float maximum = -INFINITY;
    for (int64_t t = 0; t < length; t++) {
        float s = tl_dot(qh, kh + t * head_dim, head_dim, path) * scale;
        scores[t] = s;
        if (s > maximum) maximum = s;
    }
    tl_exp_shifted(scores, length, maximum, path);
    float total = 0;
    for (int64_t t = 0; t < length; t++) total += scores[t];
    values_fn(scores, vh, length, head_dim, total, oh);
}

void tl_attention_row(const float *q, const float *keys, const float *values,
                      int64_t capacity, int heads, int kv_heads, int head_dim,
                      int64_t length, float scale, float *scores, float *out, int path) {
    int group = heads / kv_heads;
    path = tl_kernel_path(path);
    head_values_fn values_fn = head_values_for(path);
    for (int h = 0; h < heads; h++)
        attention_head(q + (int64_t)h * head_dim, keys + (int64_t)(h / group) * capacity * head_dim,
                       values + (int64_t)(h / group) * capacity * head_dim, head_dim, length, scale, scores,
                       out + (int64_t)h * head_dim, path, values_fn);
}

// ---------------------------------------------------------------------------------------------
// Attention in blocks. A unit is a block of query rows that read the same keys and values (a
// prompt's rows in a prefill step, or one decoding row) with one KV head: up to
// TL_ATTENTION_BLOCK_ROWS × group query vectors. Each key row is loaded once for several of them
// and each value row once per chunk of output lanes, and per query vector every operation is
// still the portable one in the same order:
//   score  = (canonical 8-lane dot: lanes l = 0..7 chain over k ≡ l mod 8, the tree
//            ((s0+s4)+(s2+s6))+((s1+s5)+(s3+s7)), then the tail in order) · scale;
//   maximum over t (exact, so its order does not matter), then e_t = tl_expf(score_t − maximum)
//   and total = Σ e_t in t order;
//   out[d] = fma(e_t / total, v_t[d], out[d]) for t in order, for every lane d.

// The dot product's tail (head_dim not a multiple of 8), in order, then the scale.
static inline float attention_finish(float r, const float *q, const float *k, int d8, int head_dim, float scale) {
    for (int d = d8; d < head_dim; d++) r = fmaf(q[d], k[d], r);
    return r * scale;
}

// Scores of n query vectors against key rows t .. t+rows−1 (rows ≤ 4; the rows are kh + (t − kt0)
// · head_dim on), stored only where t + i < length[j].
typedef void (*attention_scores_fn)(const float *const *q, const int64_t *length, const float *kh, int64_t kt0,
                                    int head_dim, int64_t t, int rows, float scale, float *const *score);
// Value sums of n query vectors over positions t0 ..< t1 (rows vh + (t − vt0) · head_dim) for
// lanes d0 ..< d0 + lanes, added to out[j] in t order; positions at or past length[j] skipped.
typedef void (*attention_values_fn)(const float *const *weight, const int64_t *length, const float *vh, int64_t vt0,
                                    int head_dim, int64_t t0, int64_t t1, int d0, int lanes, float *const *out);

enum { ATTENTION_KERNEL_MAX_QV = 6 };

// One path's kernels for attention_vectors.
typedef struct {
    int qv;     // query vectors per kernel call (≤ ATTENTION_KERNEL_MAX_QV)
    int lanes;  // output lanes per value-kernel call
    attention_scores_fn scores[ATTENTION_KERNEL_MAX_QV];  // [n − 1] for n query vectors
    attention_values_fn values[ATTENTION_KERNEL_MAX_QV];
    float (*maximum)(const float *s, int64_t length);
    void (*normalise)(float *s, int64_t length, float total);
    int path;   // for tl_exp_shifted and the bf16 widening
} attention_kernel_set;

// Positions per pass: 64 rows of keys or values (32 KB at head_dim 128) stay in L1 while every
// query vector of the unit uses them; a bf16 cache is widened a block at a time into that room.
enum { ATTENTION_BLOCK = 64 };

// ---------------------------------------------------------------------------------------------
// AVX-512 kernels for the blocks above: 6 query vectors per key load, 64 output lanes per value
// call.
// Two key rows share one 16-lane register (lanes 0–7 row t, 8–15 row t+1), as tl_linear's
// AVX-512 tiles pair weight rows, so each 8-lane half is exactly one canonical chain.
#if defined(__x86_64__) || defined(__i386__)
#define TL_ATTENTION_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))

// Query vectors that share each key load: 6 × 2 key pairs = 12 independent FMA chains.
enum { ATTENTION_QV = 6 };

TL_ATTENTION_AVX512 static inline __m512 attention_pair(const float *a, const float *b) {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(a))),
                                               _mm256_castps_pd(_mm256_loadu_ps(b)), 1));
}

TL_ATTENTION_AVX512 static inline __m512 attention_broadcast8(const float *p) {
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(p))));
}

// The canonical tree on each 8-lane half: lane 0 gets half 0's sum, lane 8 half 1's. Each add
// keeps the canonical operand order (s0 + s4, then (s0+s4) + (s2+s6), then that + the odd side).
TL_ATTENTION_AVX512 static inline __m512 attention_tree(__m512 a) {
    a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, _MM_SHUFFLE(2, 3, 0, 1)));
    a = _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(2, 3, 0, 1)));
}

TL_ATTENTION_AVX512 static inline float attention_lane8(__m512 a) {
    return _mm_cvtss_f32(_mm512_extractf32x4_ps(a, 2));
}


// Scores of QV query vectors (compile-time count, so the accumulators stay in registers) against
// key rows t .. t+3 (or t, t+1 when pairs == 1; a missing second row of a pair re-reads the
// first and its result is dropped). Stores score[j][t + i] only where t + i < length[j].
#define ATTENTION_SCORES_KERNEL(QV)                                                                   \
    TL_ATTENTION_AVX512 static void attention_scores_##QV(const float *const *q, const int64_t *length, \
                                                          const float *kh, int64_t kt0, int head_dim,     \
                                                          int64_t t, int rows, float scale,               \
                                                          float *const *score) {                          \
        int d8 = head_dim & ~7;                                                                       \
        const float *k[4];                                                                            \
        for (int i = 0; i < 4; i++) k[i] = kh + (t - kt0 + (i < rows ? i : rows - 1)) * head_dim;      \
        __m512 acc[QV][2];                                                                            \
        for (int j = 0; j < QV; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();                     \
        if (rows > 2) {                                                                               \
            for (int d = 0; d < d8; d += 8) {                                                         \
                __m512 k01 = attention_pair(k[0] + d, k[1] + d), k23 = attention_pair(k[2] + d, k[3] + d); \
                for (int j = 0; j < QV; j++) {                                                        \
                    __m512 qb = attention_broadcast8(q[j] + d);                                       \
                    acc[j][0] = _mm512_fmadd_ps(qb, k01, acc[j][0]);                                  \
                    acc[j][1] = _mm512_fmadd_ps(qb, k23, acc[j][1]);                                  \
                }                                                                                     \
            }                                                                                         \
        } else {                                                                                      \
            for (int d = 0; d < d8; d += 8) {                                                         \
                __m512 k01 = attention_pair(k[0] + d, k[1] + d);                                      \
                for (int j = 0; j < QV; j++)                                                          \
                    acc[j][0] = _mm512_fmadd_ps(attention_broadcast8(q[j] + d), k01, acc[j][0]);      \
            }                                                                                         \
        }                                                                                             \
        for (int j = 0; j < QV; j++) {                                                                \
            float r[4];                                                                               \
            __m512 a = attention_tree(acc[j][0]);                                                     \
            r[0] = _mm512_cvtss_f32(a);                                                               \
            r[1] = attention_lane8(a);                                                                \
            if (rows > 2) {                                                                           \
                __m512 b = attention_tree(acc[j][1]);                                                 \
                r[2] = _mm512_cvtss_f32(b);                                                           \
                r[3] = attention_lane8(b);                                                            \
            }                                                                                         \
            for (int i = 0; i < rows && t + i < length[j]; i++)                                       \
                score[j][t + i] = attention_finish(r[i], q[j], k[i], d8, head_dim, scale);           \
        }                                                                                             \
    }

ATTENTION_SCORES_KERNEL(1)
ATTENTION_SCORES_KERNEL(2)
ATTENTION_SCORES_KERNEL(3)
ATTENTION_SCORES_KERNEL(4)
ATTENTION_SCORES_KERNEL(5)
ATTENTION_SCORES_KERNEL(6)

static const attention_scores_fn avx512_scores_kernels[ATTENTION_QV] = {
    attention_scores_1, attention_scores_2, attention_scores_3, attention_scores_4, attention_scores_5, attention_scores_6 };

// Value sums of QV query vectors over positions t0 ..< t1 for lanes d0 ..< d0 + 64 (fewer at the
// end of the head: `lanes`), added to out[j] in t order, one fma chain per lane. weight[j][t] is
// e_t / total already. Positions at or past length[j] are skipped for that vector only.
#define ATTENTION_VALUES_KERNEL(QV)                                                                   \
    TL_ATTENTION_AVX512 static void attention_values_##QV(const float *const *weight, const int64_t *length, \
                                                          const float *vh, int64_t vt0, int head_dim,     \
                                                          int64_t t0, int64_t t1, int d0, int lanes,      \
                                                          float *const *out) {                            \
        enum { Z = 4 };                                                                               \
        __mmask16 mask[Z];                                                                            \
        int zs = (lanes + 15) / 16;                                                                   \
        for (int z = 0; z < Z; z++) {                                                                 \
            int left = lanes - 16 * z;                                                                \
            mask[z] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;  \
        }                                                                                             \
        __m512 acc[QV][Z];                                                                            \
        int64_t common = t1;                                                                          \
        for (int j = 0; j < QV; j++) {                                                                \
            if (length[j] < common) common = length[j];                                               \
            for (int z = 0; z < Z; z++) acc[j][z] = _mm512_maskz_loadu_ps(mask[z], out[j] + d0 + 16 * z); \
        }                                                                                             \
        if (common < t0) common = t0;                                                                 \
        if (zs == Z) {                                                                                \
            for (int64_t t = t0; t < common; t++) {                                                   \
                const float *vt = vh + (t - vt0) * head_dim + d0;                                             \
                __m512 v0 = _mm512_loadu_ps(vt), v1 = _mm512_loadu_ps(vt + 16);                       \
                __m512 v2 = _mm512_loadu_ps(vt + 32), v3 = _mm512_loadu_ps(vt + 48);                  \
                for (int j = 0; j < QV; j++) {                                                        \
                    __m512 w = _mm512_set1_ps(weight[j][t]);                                          \
                    acc[j][0] = _mm512_fmadd_ps(w, v0, acc[j][0]);                                    \
                    acc[j][1] = _mm512_fmadd_ps(w, v1, acc[j][1]);                                    \
                    acc[j][2] = _mm512_fmadd_ps(w, v2, acc[j][2]);                                    \
                    acc[j][3] = _mm512_fmadd_ps(w, v3, acc[j][3]);                                    \
                }                                                                                     \
            }                                                                                         \
        } else {                                                                                      \
            for (int64_t t = t0; t < common; t++) {                                                   \
                const float *vt = vh + (t - vt0) * head_dim + d0;                                             \
                __m512 v[Z];                                                                          \
                for (int z = 0; z < Z; z++) v[z] = _mm512_maskz_loadu_ps(mask[z], vt + 16 * z);      \
                for (int j = 0; j < QV; j++) {                                                        \
                    __m512 w = _mm512_set1_ps(weight[j][t]);                                          \
                    for (int z = 0; z < Z; z++) acc[j][z] = _mm512_fmadd_ps(w, v[z], acc[j][z]);      \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
        for (int64_t t = common; t < t1; t++) {                                                       \
            const float *vt = vh + (t - vt0) * head_dim + d0;                                                 \
            __m512 v[Z];                                                                              \
            for (int z = 0; z < Z; z++) v[z] = _mm512_maskz_loadu_ps(mask[z], vt + 16 * z);          \
            for (int j = 0; j < QV; j++) {                                                            \
                if (t >= length[j]) continue;                                                         \
                __m512 w = _mm512_set1_ps(weight[j][t]);                                              \
                for (int z = 0; z < Z; z++) acc[j][z] = _mm512_fmadd_ps(w, v[z], acc[j][z]);          \
            }                                                                                         \
        }                                                                                             \
        for (int j = 0; j < QV; j++)                                                                  \
            for (int z = 0; z < Z; z++) _mm512_mask_storeu_ps(out[j] + d0 + 16 * z, mask[z], acc[j][z]); \
    }

ATTENTION_VALUES_KERNEL(1)
ATTENTION_VALUES_KERNEL(2)
ATTENTION_VALUES_KERNEL(3)
ATTENTION_VALUES_KERNEL(4)
ATTENTION_VALUES_KERNEL(5)
ATTENTION_VALUES_KERNEL(6)

static const attention_values_fn avx512_values_kernels[ATTENTION_QV] = {
    attention_values_1, attention_values_2, attention_values_3, attention_values_4, attention_values_5, attention_values_6 };

// The largest score, exactly (max is order-free). Like the portable `if (s > maximum)`, a NaN
// score is never taken: _mm512_max_ps(s, m) returns m when s is NaN.
TL_ATTENTION_AVX512 static float avx512_maximum(const float *s, int64_t length) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int64_t t = 0;
    for (; t + 16 <= length; t += 16) m = _mm512_max_ps(_mm512_loadu_ps(s + t), m);
    float lanes[16], maximum = -INFINITY;
    _mm512_storeu_ps(lanes, m);
    for (int i = 0; i < 16; i++)
        if (lanes[i] > maximum) maximum = lanes[i];
    for (; t < length; t++)
        if (s[t] > maximum) maximum = s[t];
    return maximum;
}

// e_t / total for every t: a division is correctly rounded, so 16 at a time are the scalar bits.
TL_ATTENTION_AVX512 static void avx512_normalise(float *s, int64_t length, float total) {
    __m512 divisor = _mm512_set1_ps(total);
    int64_t t = 0;
    for (; t + 16 <= length; t += 16) _mm512_storeu_ps(s + t, _mm512_div_ps(_mm512_loadu_ps(s + t), divisor));
    for (; t < length; t++) s[t] = s[t] / total;
}

static const attention_kernel_set avx512_kernels = {
    ATTENTION_QV, 64,
    { attention_scores_1, attention_scores_2, attention_scores_3, attention_scores_4, attention_scores_5, attention_scores_6 },
    { attention_values_1, attention_values_2, attention_values_3, attention_values_4, attention_values_5, attention_values_6 },
    avx512_maximum, avx512_normalise, TL_PATH_AVX512 };
#endif

// ---------------------------------------------------------------------------------------------
// AVX2 and NEON: the same blocks with 8-lane vectors, one canonical chain per register (AVX2)
// or per pair of registers (NEON: lanes 0–3 and 4–7). Two query vectors × four key rows per
// scores call and two query vectors × 32 lanes per value call fit AVX2's 16 registers.
#if defined(__x86_64__) || defined(__i386__)
#define TL_V8 __attribute__((target("avx2,fma")))
#define TL_HAVE_V8 1
#define TL_V8_PATH TL_PATH_AVX2
typedef __m256 v8;
TL_V8 static inline v8 v8_zero(void) { return _mm256_setzero_ps(); }
TL_V8 static inline v8 v8_load(const float *p) { return _mm256_loadu_ps(p); }
TL_V8 static inline void v8_store(float *p, v8 a) { _mm256_storeu_ps(p, a); }
TL_V8 static inline v8 v8_splat(float x) { return _mm256_set1_ps(x); }
TL_V8 static inline v8 v8_fma(v8 a, v8 b, v8 c) { return _mm256_fmadd_ps(a, b, c); }
// ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7))
TL_V8 static inline float v8_tree(v8 a) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));
    return _mm_cvtss_f32(_mm_add_ss(u, _mm_shuffle_ps(u, u, 1)));
}
#elif defined(__aarch64__)
#include <arm_neon.h>
#define TL_V8
#define TL_HAVE_V8 1
#define TL_V8_PATH TL_PATH_NEON
typedef struct { float32x4_t lo, hi; } v8;
static inline v8 v8_zero(void) { v8 r = { vdupq_n_f32(0), vdupq_n_f32(0) }; return r; }
static inline v8 v8_load(const float *p) { v8 r = { vld1q_f32(p), vld1q_f32(p + 4) }; return r; }
static inline void v8_store(float *p, v8 a) { vst1q_f32(p, a.lo); vst1q_f32(p + 4, a.hi); }
static inline v8 v8_splat(float x) { v8 r = { vdupq_n_f32(x), vdupq_n_f32(x) }; return r; }
static inline v8 v8_fma(v8 a, v8 b, v8 c) { v8 r = { vfmaq_f32(c.lo, a.lo, b.lo), vfmaq_f32(c.hi, a.hi, b.hi) }; return r; }
static inline float v8_tree(v8 a) {
    float32x4_t t = vaddq_f32(a.lo, a.hi);
    float32x2_t u = vadd_f32(vget_low_f32(t), vget_high_f32(t));
    return vget_lane_f32(u, 0) + vget_lane_f32(u, 1);
}
#endif

#ifdef TL_HAVE_V8
enum { V8_QV = 2, V8_LANES = 32 };

#define V8_SCORES_KERNEL(QV)                                                                          \
    TL_V8 static void v8_scores_##QV(const float *const *q, const int64_t *length, const float *kh,  \
                                     int64_t kt0, int head_dim, int64_t t, int rows, float scale,     \
                                     float *const *score) {                                           \
        int d8 = head_dim & ~7;                                                                       \
        const float *k[4];                                                                            \
        for (int i = 0; i < 4; i++) k[i] = kh + (t - kt0 + (i < rows ? i : rows - 1)) * head_dim;      \
        v8 acc[QV][4];                                                                                \
        for (int j = 0; j < QV; j++)                                                                  \
            for (int i = 0; i < 4; i++) acc[j][i] = v8_zero();                                        \
        for (int d = 0; d < d8; d += 8) {                                                             \
            v8 kv[4];                                                                                 \
            for (int i = 0; i < 4; i++) kv[i] = v8_load(k[i] + d);                                    \
            for (int j = 0; j < QV; j++) {                                                            \
                v8 qv = v8_load(q[j] + d);                                                            \
                for (int i = 0; i < 4; i++) acc[j][i] = v8_fma(qv, kv[i], acc[j][i]);                 \
            }                                                                                         \
        }                                                                                             \
        for (int j = 0; j < QV; j++)                                                                  \
            for (int i = 0; i < rows && t + i < length[j]; i++)                                       \
                score[j][t + i] = attention_finish(v8_tree(acc[j][i]), q[j], k[i], d8, head_dim, scale); \
    }

V8_SCORES_KERNEL(1)
V8_SCORES_KERNEL(2)

// Z 8-lane vectors of lanes d0 .. for QV query vectors over positions t0 ..< t1.
#define V8_VALUES_CHUNK(QV, Z)                                                                        \
    TL_V8 static void v8_values_chunk_##QV##_##Z(const float *const *weight, const int64_t *length,  \
                                                 const float *vh, int64_t vt0, int head_dim, int64_t t0, \
                                                 int64_t t1, int d0, float *const *out) {             \
        v8 acc[QV][Z];                                                                                \
        int64_t common = t1;                                                                          \
        for (int j = 0; j < QV; j++) {                                                                \
            if (length[j] < common) common = length[j];                                               \
            for (int z = 0; z < Z; z++) acc[j][z] = v8_load(out[j] + d0 + 8 * z);                     \
        }                                                                                             \
        if (common < t0) common = t0;                                                                 \
        for (int64_t t = t0; t < common; t++) {                                                       \
            const float *vt = vh + (t - vt0) * head_dim + d0;                                         \
            v8 v[Z];                                                                                  \
            for (int z = 0; z < Z; z++) v[z] = v8_load(vt + 8 * z);                                   \
            for (int j = 0; j < QV; j++) {                                                            \
                v8 w = v8_splat(weight[j][t]);                                                        \
                for (int z = 0; z < Z; z++) acc[j][z] = v8_fma(w, v[z], acc[j][z]);                   \
            }                                                                                         \
        }                                                                                             \
        for (int64_t t = common; t < t1; t++) {                                                       \
            const float *vt = vh + (t - vt0) * head_dim + d0;                                         \
            for (int j = 0; j < QV; j++) {                                                            \
                if (t >= length[j]) continue;                                                         \
                v8 w = v8_splat(weight[j][t]);                                                        \
                for (int z = 0; z < Z; z++) acc[j][z] = v8_fma(w, v8_load(vt + 8 * z), acc[j][z]);    \
            }                                                                                         \
        }                                                                                             \
        for (int j = 0; j < QV; j++)                                                                  \
            for (int z = 0; z < Z; z++) v8_store(out[j] + d0 + 8 * z, acc[j][z]);                     \
    }

V8_VALUES_CHUNK(1, 4)
V8_VALUES_CHUNK(1, 1)
V8_VALUES_CHUNK(2, 4)
V8_VALUES_CHUNK(2, 1)

// Lanes d0 ..< d0 + lanes: 32-lane chunks, then 8-lane ones, then the lanes past the last
// multiple of 8 one at a time (each still one fma chain over t in order).
#define V8_VALUES_KERNEL(QV)                                                                          \
    static void v8_values_##QV(const float *const *weight, const int64_t *length, const float *vh,   \
                               int64_t vt0, int head_dim, int64_t t0, int64_t t1, int d0, int lanes,  \
                               float *const *out) {                                                   \
        int end = d0 + lanes, end8 = d0 + (lanes & ~7), d = d0;                                       \
        for (; d + 32 <= end8; d += 32) v8_values_chunk_##QV##_4(weight, length, vh, vt0, head_dim, t0, t1, d, out); \
        for (; d + 8 <= end8; d += 8) v8_values_chunk_##QV##_1(weight, length, vh, vt0, head_dim, t0, t1, d, out);   \
        for (; d < end; d++)                                                                          \
            for (int j = 0; j < QV; j++)                                                              \
                for (int64_t t = t0; t < t1 && t < length[j]; t++)                                    \
                    out[j][d] = fmaf(weight[j][t], vh[(t - vt0) * head_dim + d], out[j][d]);          \
    }

V8_VALUES_KERNEL(1)
V8_VALUES_KERNEL(2)

static float scalar_maximum(const float *s, int64_t length) {
    float maximum = -INFINITY;
    for (int64_t t = 0; t < length; t++)
        if (s[t] > maximum) maximum = s[t];
    return maximum;
}

static void scalar_normalise(float *s, int64_t length, float total) {
    for (int64_t t = 0; t < length; t++) s[t] = s[t] / total;
}

static const attention_kernel_set v8_kernels = {
    V8_QV, V8_LANES,
    { v8_scores_1, v8_scores_2 },
    { v8_values_1, v8_values_2 },
    scalar_maximum, scalar_normalise, TL_V8_PATH };
#endif

// Rows t0 ..< t1 of one KV head's keys or values as float32: the cache itself, or for a bf16
// cache the rows widened (exactly, so every path sees the same floats) into `room`.
static const float *attention_rows(const void *head, int kv_dtype, int head_dim, int64_t t0, int64_t t1, float *room,
                                   int path) {
    if (kv_dtype == TL_DTYPE_F32) return (const float *)head + t0 * head_dim;
    tl_sae_bf16_to_f32((const uint16_t *)head + t0 * head_dim, room, (size_t)((t1 - t0) * head_dim), path);
    return room;
}

// nq query vectors q[j] with lengths length[j] against one KV head (kh, vh in kv_dtype), out[j]
// written, with one path's kernels. score[j] has room for length[j] floats; room for
// ATTENTION_BLOCK × head_dim (a bf16 cache's widened rows).
static void attention_vectors(const attention_kernel_set *ks, const float *const *q, const int64_t *length,
                              float *const *out, int nq, const void *kh, const void *vh, int kv_dtype, int head_dim,
                              float scale, float *const *score, float *room) {
    int64_t longest = 0;
    for (int j = 0; j < nq; j++)
        if (length[j] > longest) longest = length[j];
    for (int64_t t0 = 0; t0 < longest; t0 += ATTENTION_BLOCK) {
        int64_t t1 = longest - t0 < ATTENTION_BLOCK ? longest : t0 + ATTENTION_BLOCK;
        const float *keys = attention_rows(kh, kv_dtype, head_dim, t0, t1, room, ks->path);
        for (int j0 = 0; j0 < nq; j0 += ks->qv) {
            int n = nq - j0 < ks->qv ? nq - j0 : ks->qv;
            int64_t reach = 0;
            for (int j = j0; j < j0 + n; j++)
                if (length[j] > reach) reach = length[j];
            if (reach > t1) reach = t1;
            for (int64_t t = t0; t < reach; t += 4) {
                int rows = reach - t < 4 ? (int)(reach - t) : 4;
                ks->scores[n - 1](q + j0, length + j0, keys, t0, head_dim, t, rows, scale, score + j0);
            }
        }
    }
    // The exps a vector at a time; each total is still summed in t order, several vectors'
    // sums interleaved so that their dependency chains overlap.
    for (int j = 0; j < nq; j++) tl_exp_shifted(score[j], length[j], ks->maximum(score[j], length[j]), ks->path);
    for (int j0 = 0; j0 < nq; j0 += ATTENTION_KERNEL_MAX_QV) {
        int n = nq - j0 < ATTENTION_KERNEL_MAX_QV ? nq - j0 : ATTENTION_KERNEL_MAX_QV;
        float total[ATTENTION_KERNEL_MAX_QV] = {0, 0, 0, 0, 0, 0};
        int64_t common = length[j0];
        for (int j = j0; j < j0 + n; j++)
            if (length[j] < common) common = length[j];
        for (int64_t t = 0; t < common; t++)
            for (int j = 0; j < n; j++) total[j] += score[j0 + j][t];
        for (int j = 0; j < n; j++) {
            for (int64_t t = common; t < length[j0 + j]; t++) total[j] += score[j0 + j][t];
            ks->normalise(score[j0 + j], length[j0 + j], total[j]);
            for (int d = 0; d < head_dim; d++) out[j0 + j][d] = 0;
        }
    }
    for (int64_t t0 = 0; t0 < longest; t0 += ATTENTION_BLOCK) {
        int64_t t1 = longest - t0 < ATTENTION_BLOCK ? longest : t0 + ATTENTION_BLOCK;
        const float *values = attention_rows(vh, kv_dtype, head_dim, t0, t1, room, ks->path);
        for (int j0 = 0; j0 < nq; j0 += ks->qv) {
            int n = nq - j0 < ks->qv ? nq - j0 : ks->qv;
            for (int d0 = 0; d0 < head_dim; d0 += ks->lanes)
                ks->values[n - 1]((const float *const *)score + j0, length + j0, values, t0, head_dim, t0, t1, d0,
                                  head_dim - d0 < ks->lanes ? head_dim - d0 : ks->lanes, out + j0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The batch: units of work and how they are shared out.

// Rows of one sequence attended together (a prefill step's rows share their keys and values).
enum { TL_ATTENTION_BLOCK_ROWS = 8 };

typedef struct {
    const tl_attention_query *queries;
    int64_t query_count, capacity, max_length;
    int heads, kv_heads, head_dim;
    float scale;
    int path;
    head_values_fn values_fn;
    int grouped;      // the heads that share a KV head together (groups up to TL_ATTENTION_MAX_GROUP), else one at a time
    int kv_dtype;     // TL_DTYPE_F32 or TL_DTYPE_BF16
    int64_t scratch;  // score floats per thread
    float *scores;    // [threads, scratch]
    int64_t work;     // Σ over units of their cost
} attention_job;

// The block kernels of the job's path, or NULL where the portable per-row code runs (the
// portable path itself, and groups of more than TL_ATTENTION_MAX_GROUP heads per KV head).
static const attention_kernel_set *attention_kernels_for(const attention_job *job) {
    if (!job->grouped) return 0;
#if defined(__x86_64__) || defined(__i386__)
    if (job->path == TL_PATH_AVX512) return &avx512_kernels;
#endif
#ifdef TL_HAVE_V8
    if (job->path == TL_V8_PATH) return &v8_kernels;
#endif
    return 0;
}

// The rows that start at `first` and attend together: up to TL_ATTENTION_BLOCK_ROWS consecutive
// queries with the same keys and values. Only the AVX-512 path shares loads between rows; the
// others take them one at a time, so for them a block is one row.
static int64_t attention_block_end(const attention_job *job, int64_t first) {
    int64_t end = first + 1;
    if (!attention_kernels_for(job)) return end;
    const tl_attention_query *a = &job->queries[first];
    while (end < job->query_count && end - first < TL_ATTENTION_BLOCK_ROWS && job->queries[end].keys == a->keys &&
           job->queries[end].values == a->values)
        end++;
    return end;
}

static void out_of_memory(const char *what, int64_t floats) {
    fprintf(stderr, "thinklens: out of memory allocating %lld floats of %s; free memory or lower --batch\n",
            (long long)floats, what);
    abort();
}

// A (block, KV head) unit: every query head of the block's rows that reads KV head j.
static void attention_unit(const attention_job *job, int64_t first, int64_t end, int j, float *scores) {
    int group = job->heads / job->kv_heads;
    size_t element = job->kv_dtype == TL_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    size_t kv_offset = (size_t)j * (size_t)job->capacity * (size_t)job->head_dim * element;
    int64_t q_offset = (int64_t)j * group * job->head_dim;
    const tl_attention_query *qr = &job->queries[first];
    const void *kh = (const char *)qr->keys + kv_offset, *vh = (const char *)qr->values + kv_offset;
    const attention_kernel_set *kernels = attention_kernels_for(job);
    if (kernels) {
        const float *q[TL_ATTENTION_BLOCK_ROWS * TL_ATTENTION_MAX_GROUP];
        int64_t length[TL_ATTENTION_BLOCK_ROWS * TL_ATTENTION_MAX_GROUP];
        float *out[TL_ATTENTION_BLOCK_ROWS * TL_ATTENTION_MAX_GROUP];
        float *score[TL_ATTENTION_BLOCK_ROWS * TL_ATTENTION_MAX_GROUP];
        int nq = 0;
        for (int64_t i = first; i < end; i++) {
            const tl_attention_query *row = &job->queries[i];
            for (int g = 0; g < group; g++, nq++) {
                q[nq] = row->q + q_offset + (int64_t)g * job->head_dim;
                out[nq] = row->out + q_offset + (int64_t)g * job->head_dim;
                length[nq] = row->length;
                score[nq] = scores + (int64_t)nq * job->max_length;
            }
        }
        float *room = 0;
        if (job->kv_dtype != TL_DTYPE_F32) {
            room = tl_thread_scratch(TL_SCRATCH_ATTENTION_KV, (int64_t)ATTENTION_BLOCK * job->head_dim);
            if (!room) out_of_memory("widened keys and values", (int64_t)ATTENTION_BLOCK * job->head_dim);
        }
        attention_vectors(kernels, q, length, out, nq, kh, vh, job->kv_dtype, job->head_dim, job->scale, score, room);
        return;
    }
    // The portable path takes the block's rows one at a time (its blocks are single rows); a
    // bf16 cache is widened for the row first.
    const float *keys = (const float *)kh, *values = (const float *)vh;
    if (job->kv_dtype != TL_DTYPE_F32) {
        int64_t floats = 2 * qr->length * job->head_dim;
        float *room = tl_thread_scratch(TL_SCRATCH_ATTENTION_KV, floats);
        if (!room) out_of_memory("widened keys and values", floats);
        keys = attention_rows(kh, job->kv_dtype, job->head_dim, 0, qr->length, room, job->path);
        values = attention_rows(vh, job->kv_dtype, job->head_dim, 0, qr->length, room + qr->length * job->head_dim, job->path);
    }
    if (job->grouped) {
        attention_group(qr->q + q_offset, keys, values, group, job->head_dim, qr->length, job->scale, scores,
                        qr->out + q_offset, job->path);
        return;
    }
    for (int g = 0; g < group; g++) {
        int64_t h = (int64_t)j * group + g;
        attention_head(qr->q + h * job->head_dim, keys, values, job->head_dim, qr->length, job->scale, scores,
                       qr->out + h * job->head_dim, job->path, job->values_fn);
    }
}

static int64_t attention_block_cost(const attention_job *job, int64_t first, int64_t end) {
    int64_t cost = 0;
    for (int64_t i = first; i < end; i++) cost += job->queries[i].length + 16;  // + the per-row overhead
    return cost;
}

// Units go to threads in order, each to the thread whose share of the total cost holds the
// unit's midpoint, so a prefill step's long rows do not all land on one thread. Every unit is
// computed the same way whichever thread takes it, so the split never changes a bit.
static void attention_task(void *context, int index, int count) {
    const attention_job *job = (const attention_job *)context;
    float *scores = job->scores + (int64_t)index * job->scratch;
    int64_t before = 0;
    for (int64_t first = 0; first < job->query_count;) {
        int64_t end = attention_block_end(job, first);
        int64_t cost = attention_block_cost(job, first, end);
        for (int j = 0; j < job->kv_heads; j++, before += cost) {
            int owner = (int)(((2 * before + cost) * (int64_t)count) / (2 * job->work));
            if (owner >= count) owner = count - 1;
            if (owner == index) attention_unit(job, first, end, j, scores);
        }
        first = end;
    }
}

void tl_attention(const tl_attention_query *queries, int64_t query_count, int64_t capacity, int heads,
                  int kv_heads, int head_dim, float scale, int kv_dtype, int path) {
    if (query_count <= 0) return;
    if (kv_dtype != TL_DTYPE_F32 && kv_dtype != TL_DTYPE_BF16) {
        fprintf(stderr, "thinklens: tl_attention: KV cache dtype %d is neither float32 nor bfloat16\n", kv_dtype);
        abort();
    }
    path = tl_kernel_path(path);  // once, here: the pool threads run what the caller resolved
    int group = heads / kv_heads;
    attention_job job = { queries, query_count, capacity, 1, heads, kv_heads, head_dim, scale, path,
                          head_values_for(path), group <= TL_ATTENTION_MAX_GROUP,
                          kv_dtype, 0, 0, 0 };
    int64_t work = 0;
    for (int64_t i = 0; i < query_count; i++) {
        if (queries[i].length > job.max_length) job.max_length = queries[i].length;
        work += queries[i].length;
    }
    for (int64_t first = 0; first < query_count;) {
        int64_t end = attention_block_end(&job, first);
        job.work += attention_block_cost(&job, first, end) * kv_heads;
        first = end;
    }
    // Short contexts are cheaper than waking the pool.
    int parallel = work * heads * head_dim >= (1 << 16) && tl_threads() > 1;
    int rows = attention_kernels_for(&job) ? TL_ATTENTION_BLOCK_ROWS : 1;
    job.scratch = job.max_length * (job.grouped ? group : 1) * rows;
    int64_t needed = job.scratch * (parallel ? tl_threads() : 1);
    // Scores for every pool thread, in the calling thread's scratch.
    job.scores = tl_thread_scratch(TL_SCRATCH_ATTENTION_SCORES, needed);
    if (!job.scores) out_of_memory("attention scores", needed);
    if (parallel) tl_parallel(attention_task, &job);
    else attention_task(&job, 0, 1);
}

uint16_t tl_bf16_from_f32(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);  // NaN: keep it quiet
    bits += 0x7fffu + ((bits >> 16) & 1);
    return (uint16_t)(bits >> 16);
}

void tl_bf16_from_f32_array(const float *x, int64_t n, uint16_t *out) {
    for (int64_t i = 0; i < n; i++) out[i] = tl_bf16_from_f32(x[i]);
}

void tl_swiglu(const float *gate, const float *up, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        float silu = g / (1.0f + expf(-g));
        out[i] = silu * up[i];
    }
}
