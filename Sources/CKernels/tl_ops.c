#include "tl_ops.h"
#include "tl_linear.h"
#include "tl_threads.h"

#include <stdio.h>
#include <stdlib.h>

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

// One step of a value sum, out[d] = fma(weight, v[d], out[d]) for every lane d: the inner loop
// of head_values_* above, so summing t in order with it gives the same bits.
typedef void (*values_step_fn)(float weight, const float *v, int head_dim, float *out);

static void values_step_portable(float weight, const float *v, int head_dim, float *out) {
    for (int d = 0; d < head_dim; d++) out[d] = fmaf(weight, v[d], out[d]);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma")))
static void values_step_avx2(float weight, const float *v, int head_dim, float *out) {
    int d8 = head_dim & ~7;
    __m256 w = _mm256_set1_ps(weight);
    for (int d = 0; d < d8; d += 8)
        _mm256_storeu_ps(out + d, _mm256_fmadd_ps(w, _mm256_loadu_ps(v + d), _mm256_loadu_ps(out + d)));
    for (int d = d8; d < head_dim; d++) out[d] = fmaf(weight, v[d], out[d]);
}
#endif

static values_step_fn values_step_for(int path) {
#if defined(__x86_64__) || defined(__i386__)
    if (path == TL_PATH_AVX2 || path == TL_PATH_AVX512) return values_step_avx2;
#endif
    return values_step_portable;
}

// The query heads that share one KV head (grouped-query attention), together: each key and
// value row is read once for all of them instead of once per head, which is what long contexts
// are limited by. Per head every operation is the one attention_head does, in the same order
// (the dot products, the running maximum over t, the exp sum over t, the value sum over t per
// lane), so the bits are the same. q and out hold the group's heads consecutively; scores has
// room for group × length.
enum { TL_ATTENTION_MAX_GROUP = 64 };

static void attention_group(const float *q, const float *kh, const float *vh, int group, int head_dim, int64_t length,
                            float scale, float *scores, float *out, int path, values_step_fn step) {
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
        float sum = 0;
        for (int64_t t = 0; t < length; t++) {
            float e = expf(sg[t] - maximum[g]);
            sg[t] = e;
            sum += e;
        }
        total[g] = sum;
        float *og = out + (int64_t)g * head_dim;
        for (int d = 0; d < head_dim; d++) og[d] = 0;
    }
    for (int64_t t = 0; t < length; t++) {
        const float *vt = vh + t * head_dim;
        for (int g = 0; g < group; g++) step(scores[g * length + t] / total[g], vt, head_dim, out + (int64_t)g * head_dim);
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
    float total = 0;
    for (int64_t t = 0; t < length; t++) {
        float e = expf(scores[t] - maximum);
        scores[t] = e;
        total += e;
    }
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

typedef struct {
    const tl_attention_query *queries;
    int64_t query_count, capacity, max_length;
    int heads, kv_heads, head_dim;
    float scale;
    int path;
    head_values_fn values_fn;
    values_step_fn step_fn;
    int grouped;    // (query, KV head) units with attention_group, else (query, head) units
    float *scores;  // [threads, max_length] ([threads, group × max_length] when grouped)
} attention_job;

// (query, head) units are dealt out in contiguous ranges; each unit is computed the same way
// whichever thread takes it.
static void attention_task(void *context, int index, int count) {
    const attention_job *job = (const attention_job *)context;
    int group = job->heads / job->kv_heads;
    if (job->grouped) {
        int64_t units = job->query_count * job->kv_heads;
        int64_t u0 = units * index / count, u1 = units * (index + 1) / count;
        float *scores = job->scores + (int64_t)index * group * job->max_length;
        for (int64_t u = u0; u < u1; u++) {
            const tl_attention_query *qr = &job->queries[u / job->kv_heads];
            int j = (int)(u % job->kv_heads);
            int64_t kv_offset = (int64_t)j * job->capacity * job->head_dim;
            int64_t q_offset = (int64_t)j * group * job->head_dim;
            attention_group(qr->q + q_offset, qr->keys + kv_offset, qr->values + kv_offset, group, job->head_dim,
                            qr->length, job->scale, scores, qr->out + q_offset, job->path, job->step_fn);
        }
        return;
    }
    int64_t units = job->query_count * job->heads;
    int64_t u0 = units * index / count, u1 = units * (index + 1) / count;
    float *scores = job->scores + (int64_t)index * job->max_length;
    for (int64_t u = u0; u < u1; u++) {
        const tl_attention_query *qr = &job->queries[u / job->heads];
        int h = (int)(u % job->heads);
        int64_t kv_offset = (int64_t)(h / group) * job->capacity * job->head_dim;
        attention_head(qr->q + (int64_t)h * job->head_dim, qr->keys + kv_offset, qr->values + kv_offset,
                       job->head_dim, qr->length, job->scale, scores, qr->out + (int64_t)h * job->head_dim,
                       job->path, job->values_fn);
    }
}

void tl_attention(const tl_attention_query *queries, int64_t query_count, int64_t capacity, int heads,
                  int kv_heads, int head_dim, float scale, int path) {
    if (query_count <= 0) return;
    path = tl_kernel_path(path);  // once, here: the pool threads run what the caller resolved
    int group = heads / kv_heads;
    attention_job job = { queries, query_count, capacity, 1, heads, kv_heads, head_dim, scale, path,
                          head_values_for(path), values_step_for(path), group > 1 && group <= TL_ATTENTION_MAX_GROUP, 0 };
    int64_t work = 0;
    for (int64_t i = 0; i < query_count; i++) {
        if (queries[i].length > job.max_length) job.max_length = queries[i].length;
        work += queries[i].length;
    }
    // Short contexts are cheaper than waking the pool.
    int parallel = work * heads * head_dim >= (1 << 16) && tl_threads() > 1;
    int64_t needed = job.max_length * (job.grouped ? group : 1) * (parallel ? tl_threads() : 1);
    // Scores for every pool thread, in the calling thread's scratch.
    job.scores = tl_thread_scratch(TL_SCRATCH_ATTENTION_SCORES, needed);
    if (!job.scores) {
        fprintf(stderr, "thinklens: out of memory allocating %lld attention scores; free memory or lower --batch\n",
                (long long)needed);
        abort();
    }
    if (parallel) tl_parallel(attention_task, &job);
    else attention_task(&job, 0, 1);
}

void tl_swiglu(const float *gate, const float *up, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        float silu = g / (1.0f + expf(-g));
        out[i] = silu * up[i];
    }
}
