#include "sae_kernels.h"
#include "sae_gemm.h"
#include "kernel_path.h"
#include "tl_threads.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define TL_SAE_X86 1
#endif

#if defined(__aarch64__)
#include <arm_neon.h>
#define TL_SAE_NEON 1
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

#ifdef TL_SAE_NEON
// The bits move up by 16 as integers (vshll_n_u16) and are stored without a float operation, so
// NaN payloads and signed zeros come through as the portable loop's do.
static void bf16_to_f32_neon(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint16x8_t a = vld1q_u16(src + i), b = vld1q_u16(src + i + 8);
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(a), 16)));
        vst1q_f32(dst + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(a, 16)));
        vst1q_f32(dst + i + 8, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(b), 16)));
        vst1q_f32(dst + i + 12, vreinterpretq_f32_u32(vshll_high_n_u16(b, 16)));
    }
    bf16_to_f32_portable(src + i, dst + i, n - i);
}
#endif

// AVX-512 runs the AVX2 loop.
void tl_sae_bf16_to_f32(const uint16_t *src, float *dst, size_t n, int path) {
    path = tl_kernel_path(path);
#ifdef TL_SAE_X86
    if (path == TL_PATH_AVX2 || path == TL_PATH_AVX512) { bf16_to_f32_avx2(src, dst, n); return; }
#endif
#ifdef TL_SAE_NEON
    if (path == TL_PATH_NEON) { bf16_to_f32_neon(src, dst, n); return; }
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

#ifdef TL_SAE_NEON
// The portable fold with a fast skip: 16 latents (one row of a strip: j is a multiple of 16, so
// they are contiguous), then 4, are added to their biases and compared with the threshold at
// once; only when one beats it are they visited, in increasing order, each checked again
// against the threshold as the portable loop checks it (an insert may have raised it). A NaN
// fails both comparisons, as in the portable loop. vaddq_f32 rounds each lane as the scalar
// add does, so the values inserted are the portable ones.
static void topk_fold_neon(const float *pre, size_t strip_stride, size_t rows, size_t cols,
                           const float *bias, int32_t first_latent, int k,
                           float *values, int32_t *indices, int32_t *filled) {
    float lane[16];
    for (size_t r = 0; r < rows; r++) {
        float *vals = values + r * (size_t)k;
        int32_t *idx = indices + r * (size_t)k;
        float threshold = filled[r] == k ? vals[k - 1] : 0.0f;
        float32x4_t thr = vdupq_n_f32(threshold);
        size_t j = 0;
        for (; j + 16 <= cols; j += 16) {
            const float *src = pre + (j / TL_SAE_NR) * strip_stride + r * TL_SAE_NR;
            float32x4_t v0 = vaddq_f32(vld1q_f32(src), vld1q_f32(bias + j));
            float32x4_t v1 = vaddq_f32(vld1q_f32(src + 4), vld1q_f32(bias + j + 4));
            float32x4_t v2 = vaddq_f32(vld1q_f32(src + 8), vld1q_f32(bias + j + 8));
            float32x4_t v3 = vaddq_f32(vld1q_f32(src + 12), vld1q_f32(bias + j + 12));
            uint32x4_t above = vorrq_u32(vorrq_u32(vcgtq_f32(v0, thr), vcgtq_f32(v1, thr)),
                                         vorrq_u32(vcgtq_f32(v2, thr), vcgtq_f32(v3, thr)));
            if (vmaxvq_u32(above) == 0) continue;
            vst1q_f32(lane, v0); vst1q_f32(lane + 4, v1); vst1q_f32(lane + 8, v2); vst1q_f32(lane + 12, v3);
            for (int b = 0; b < 16; b++)
                if (lane[b] > threshold)
                    threshold = topk_insert(vals, idx, &filled[r], k, lane[b], first_latent + (int32_t)j + b);
            thr = vdupq_n_f32(threshold);
        }
        for (; j + 4 <= cols; j += 4) {
            // 4 consecutive latents from a multiple of 4 never straddle a strip.
            const float *src = pre + (j / TL_SAE_NR) * strip_stride + r * TL_SAE_NR + j % TL_SAE_NR;
            float32x4_t v = vaddq_f32(vld1q_f32(src), vld1q_f32(bias + j));
            if (vmaxvq_u32(vcgtq_f32(v, thr)) == 0) continue;
            vst1q_f32(lane, v);
            for (int b = 0; b < 4; b++)
                if (lane[b] > threshold)
                    threshold = topk_insert(vals, idx, &filled[r], k, lane[b], first_latent + (int32_t)j + b);
            thr = vdupq_n_f32(threshold);
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
    size_t strip_stride, rows, cols;
    const float *bias;
    int32_t first_latent;
    int k;
    float *values;
    int32_t *indices, *filled;
    int path;  // resolved TL_PATH_*
} fold_job;

// Rows [rows · index / count, rows · (index + 1) / count) of the fold.
static void fold_task(void *context, int index, int count) {
    const fold_job *j = (const fold_job *)context;
    size_t first_row = j->rows * (size_t)index / (size_t)count;
    size_t rows = j->rows * (size_t)(index + 1) / (size_t)count - first_row;
    if (rows == 0) return;
    // Rows are independent: shift the pointers so the kernels see rows 0..<rows.
    const float *pre = j->pre + first_row * TL_SAE_NR;
    float *values = j->values + first_row * (size_t)j->k;
    int32_t *indices = j->indices + first_row * (size_t)j->k;
    int32_t *filled = j->filled + first_row;
#ifdef TL_SAE_X86
    // AVX-512 runs the AVX2 fold (a 16-lane one would skip the same latents and give the same bits).
    if (j->path == TL_PATH_AVX2 || j->path == TL_PATH_AVX512) {
        topk_fold_avx2(pre, j->strip_stride, rows, j->cols, j->bias, j->first_latent, j->k, values, indices, filled);
        return;
    }
#endif
#ifdef TL_SAE_NEON
    if (j->path == TL_PATH_NEON) {
        topk_fold_neon(pre, j->strip_stride, rows, j->cols, j->bias, j->first_latent, j->k, values, indices, filled);
        return;
    }
#endif
    topk_fold_portable(pre, j->strip_stride, rows, j->cols, j->bias, j->first_latent, j->k, values, indices, filled);
}

void tl_sae_topk_fold(const float *pre, size_t strip_stride, size_t rows, size_t cols,
                      const float *bias, int32_t first_latent, int k,
                      float *values, int32_t *indices, int32_t *filled, int path) {
    fold_job job = {pre, strip_stride, rows, cols, bias, first_latent, k, values, indices, filled,
                    tl_kernel_path(path)};
    // A row is the unit of work: one row runs on the calling thread.
    if (rows < 2) fold_task(&job, 0, 1);
    else tl_parallel(fold_task, &job);
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
                          float *best, int32_t *best_index, int path) {
    (void)path;  // one implementation: a compare and a store per latent
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
