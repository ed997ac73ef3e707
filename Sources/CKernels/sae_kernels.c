#include "sae_kernels.h"
#include "sae_gemm.h"
#include "cpu_features.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define TL_SAE_X86 1
#endif

// ---------------------------------------------------------------------------
// bf16 -> f32

static void bf16_to_f32_portable(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &bits, 4);
    }
}

#ifdef TL_SAE_X86
__attribute__((target("avx2")))
static void bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i raw = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i lo = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(raw)), 16);
        __m256i hi = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(raw, 1)), 16);
        _mm256_storeu_si256((__m256i *)(dst + i), lo);
        _mm256_storeu_si256((__m256i *)(dst + i + 8), hi);
    }
    bf16_to_f32_portable(src + i, dst + i, n - i);
}
#endif

void tl_sae_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
#ifdef TL_SAE_X86
    if (tl_cpu_has_avx2_fma()) { bf16_to_f32_avx2(src, dst, n); return; }
#endif
    bf16_to_f32_portable(src, dst, n);
}

// ---------------------------------------------------------------------------
// running top-k

void tl_sae_topk_reset(float *values, int32_t *indices, int32_t *filled, size_t rows, int k) {
    for (size_t i = 0; i < rows * (size_t)k; i++) { values[i] = 0.0f; indices[i] = -1; }
    for (size_t r = 0; r < rows; r++) filled[r] = 0;
}

// Inserts (v, latent) into one row's descending list; v is known to beat the threshold.
// Returns the new threshold: the k-th value once the row is full, else 0 (only
// positives enter).
static inline float topk_insert(float *vals, int32_t *idx, int32_t *filled, int k,
                                float v, int32_t latent) {
    int n = *filled;
    // Equal values keep their place ahead of the newcomer: they have lower indices.
    int p = n;
    while (p > 0 && vals[p - 1] < v) p--;
    int last = n < k ? n : k - 1;  // slot that receives the shifted tail's end
    for (int j = last; j > p; j--) { vals[j] = vals[j - 1]; idx[j] = idx[j - 1]; }
    vals[p] = v;
    idx[p] = latent;
    if (n < k) *filled = ++n;
    return n == k ? vals[k - 1] : 0.0f;
}

// pre[r, j] in the GEMM's strip layout (see tl_sae_gemm).
static inline float pre_at(const float *pre, size_t strip_stride, size_t r, size_t j) {
    return pre[(j / TL_SAE_NR) * strip_stride + r * TL_SAE_NR + j % TL_SAE_NR];
}

static void topk_fold_portable(const float *pre, size_t strip_stride, size_t rows, size_t cols,
                               const float *bias, int32_t first_latent, int k,
                               float *values, int32_t *indices, int32_t *filled) {
    for (size_t r = 0; r < rows; r++) {
        float *vals = values + r * (size_t)k;
        int32_t *idx = indices + r * (size_t)k;
        float threshold = filled[r] == k ? vals[k - 1] : 0.0f;
        for (size_t j = 0; j < cols; j++) {
            float v = pre_at(pre, strip_stride, r, j) + bias[j];
            if (v > threshold)
                threshold = topk_insert(vals, idx, &filled[r], k, v, first_latent + (int32_t)j);
        }
    }
}

#ifdef TL_SAE_X86
__attribute__((target("avx2,fma")))
static void topk_fold_avx2(const float *pre, size_t strip_stride, size_t rows, size_t cols,
                           const float *bias, int32_t first_latent, int k,
                           float *values, int32_t *indices, int32_t *filled) {
    float lane[8];
    for (size_t r = 0; r < rows; r++) {
        float *vals = values + r * (size_t)k;
        int32_t *idx = indices + r * (size_t)k;
        float threshold = filled[r] == k ? vals[k - 1] : 0.0f;
        __m256 thr = _mm256_set1_ps(threshold);
        size_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            // 8 consecutive latents never straddle a strip: NR is a multiple of 8.
            const float *src = pre + (j / TL_SAE_NR) * strip_stride + r * TL_SAE_NR + j % TL_SAE_NR;
            __m256 v = _mm256_add_ps(_mm256_loadu_ps(src), _mm256_loadu_ps(bias + j));
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(v, thr, _CMP_GT_OQ));
            if (!mask) continue;
            _mm256_storeu_ps(lane, v);
            while (mask) {
                int b = __builtin_ctz(mask);
                mask &= mask - 1;
                // The threshold may have risen since the comparison: check again.
                if (lane[b] > threshold)
                    threshold = topk_insert(vals, idx, &filled[r], k, lane[b], first_latent + (int32_t)(j + b));
            }
            thr = _mm256_set1_ps(threshold);
        }
        for (; j < cols; j++) {
            float v = pre_at(pre, strip_stride, r, j) + bias[j];
            if (v > threshold)
                threshold = topk_insert(vals, idx, &filled[r], k, v, first_latent + (int32_t)j);
        }
    }
}
#endif

typedef struct {
    const float *pre;
    size_t strip_stride, first_row, end_row, cols;
    const float *bias;
    int32_t first_latent;
    int k;
    float *values;
    int32_t *indices, *filled;
} fold_job;

static void *run_fold(void *arg) {
    const fold_job *j = (const fold_job *)arg;
    size_t rows = j->end_row - j->first_row;
    // Rows are independent: shift the pointers so the kernels see rows 0..<rows.
    const float *pre = j->pre + j->first_row * TL_SAE_NR;
    float *values = j->values + j->first_row * (size_t)j->k;
    int32_t *indices = j->indices + j->first_row * (size_t)j->k;
    int32_t *filled = j->filled + j->first_row;
#ifdef TL_SAE_X86
    if (tl_cpu_has_avx2_fma()) {
        topk_fold_avx2(pre, j->strip_stride, rows, j->cols, j->bias, j->first_latent, j->k, values, indices, filled);
        return NULL;
    }
#endif
    topk_fold_portable(pre, j->strip_stride, rows, j->cols, j->bias, j->first_latent, j->k, values, indices, filled);
    return NULL;
}

void tl_sae_topk_fold(const float *pre, size_t strip_stride, size_t rows, size_t cols,
                      const float *bias, int32_t first_latent, int k,
                      float *values, int32_t *indices, int32_t *filled, int threads) {
    if (threads < 1) threads = 1;
    if ((size_t)threads > rows) threads = rows > 0 ? (int)rows : 1;
    if (threads > 16) threads = 16;
    fold_job jobs[16];
    pthread_t ids[16];
    int started[16] = {0};
    for (int t = 0; t < threads; t++)
        jobs[t] = (fold_job){pre, strip_stride, rows * (size_t)t / (size_t)threads, rows * (size_t)(t + 1) / (size_t)threads,
                             cols, bias, first_latent, k, values, indices, filled};
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&ids[t], NULL, run_fold, &jobs[t]) == 0;
    run_fold(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(ids[t], NULL);
        else run_fold(&jobs[t]);
    }
}

void tl_sae_topk_finish(float *values, int32_t *indices, const int32_t *filled,
                        size_t rows, int k) {
    for (size_t r = 0; r < rows; r++) {
        int n = filled[r];
        if (n >= k) continue;
        float *vals = values + r * (size_t)k;
        int32_t *idx = indices + r * (size_t)k;
        int32_t candidate = 0;
        for (int slot = n; slot < k; slot++) {
            for (;;) {
                int taken = 0;
                for (int j = 0; j < n; j++) if (idx[j] == candidate) { taken = 1; break; }
                if (!taken) break;
                candidate++;
            }
            vals[slot] = 0.0f;
            idx[slot] = candidate++;
        }
    }
}

// ---------------------------------------------------------------------------
// groupmax

void tl_sae_groupmax_fold(const float *pre, size_t strip_stride, size_t rows, size_t cols,
                          const float *bias, int32_t first_latent, int32_t group_size, int k,
                          float *best, int32_t *best_index) {
    for (size_t r = 0; r < rows; r++) {
        float *b = best + r * (size_t)k;
        int32_t *bi = best_index + r * (size_t)k;
        for (size_t j = 0; j < cols; j++) {
            int32_t latent = first_latent + (int32_t)j;
            int32_t group = latent / group_size;
            float v = pre_at(pre, strip_stride, r, j) + bias[j];
            if (!(v > 0.0f)) v = 0.0f;  // ReLU
            if (v > b[group]) { b[group] = v; bi[group] = latent; }
        }
    }
}

// ---------------------------------------------------------------------------
// fingerprint hash: xxhash64-style rounds over 8-byte little-endian words, then a
// splitmix64 finaliser. Deterministic for the same sequence of update calls.

static const uint64_t P1 = 0x9E3779B185EBCA87ULL;
static const uint64_t P2 = 0xC2B2AE3D27D4EB4FULL;

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t tl_sae_hash_seed(void) { return 0x27D4EB2F165667C5ULL; }

uint64_t tl_sae_hash_update(uint64_t state, const void *bytes, size_t n) {
    const unsigned char *p = (const unsigned char *)bytes;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        state = rotl64(state ^ (w * P2), 31) * P1;
    }
    for (; i < n; i++) state = rotl64(state ^ ((uint64_t)p[i] * P1), 11) * P2;
    return rotl64(state ^ (uint64_t)n, 27) * P1;
}

uint64_t tl_sae_hash_finish(uint64_t state) {
    state ^= state >> 30; state *= 0xBF58476D1CE4E5B9ULL;
    state ^= state >> 27; state *= 0x94D049BB133111EBULL;
    state ^= state >> 31;
    return state;
}
