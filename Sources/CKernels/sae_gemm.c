#include "sae_gemm.h"
#include "kernel_path.h"
#include "tl_threads.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define TL_SAE_X86 1
#endif

#if defined(__aarch64__)
#include <arm_neon.h>
#define TL_SAE_NEON 1
#endif

static size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

size_t tl_sae_packed_rows_floats(size_t m, size_t k) { return round_up(m, TL_SAE_MR) * k; }

size_t tl_sae_pre_floats(size_t m, size_t n) { return round_up(m, TL_SAE_MR) * round_up(n, TL_SAE_NR); }

void tl_sae_pack_rows(const float *x, size_t ldx, size_t m, size_t k, float *packed) {
    size_t strips = round_up(m, TL_SAE_MR) / TL_SAE_MR;
    for (size_t s = 0; s < strips; s++) {
        float *dst = packed + s * k * TL_SAE_MR;
        for (int i = 0; i < TL_SAE_MR; i++) {
            size_t r = s * TL_SAE_MR + (size_t)i;
            if (r < m) {
                const float *src = x + r * ldx;
                for (size_t t = 0; t < k; t++) dst[t * TL_SAE_MR + (size_t)i] = src[t];
            } else {
                for (size_t t = 0; t < k; t++) dst[t * TL_SAE_MR + (size_t)i] = 0.0f;
            }
        }
    }
}

// Packs latents [j0, j0 + NR) × steps [t0, t0 + kc) of W into panel[kc][NR] (float32),
// zero for latents >= n.
static void pack_weights(const void *weights, int bf16, size_t ldw, size_t n, size_t j0,
                         size_t t0, size_t kc, float *panel) {
    for (size_t j = 0; j < TL_SAE_NR; j++) {
        size_t latent = j0 + j;
        if (latent >= n) {
            for (size_t t = 0; t < kc; t++) panel[t * TL_SAE_NR + j] = 0.0f;
        } else if (bf16) {
            const uint16_t *src = (const uint16_t *)weights + latent * ldw + t0;
            for (size_t t = 0; t < kc; t++) {
                uint32_t bits = (uint32_t)src[t] << 16;
                memcpy(&panel[t * TL_SAE_NR + j], &bits, 4);
            }
        } else {
            const float *src = (const float *)weights + latent * ldw + t0;
            for (size_t t = 0; t < kc; t++) panel[t * TL_SAE_NR + j] = src[t];
        }
    }
}

// c[MR, NR] (row stride ldc) = (accumulate ? c : 0) + a[kc][MR] ⊗ b[kc][NR], one fmaf per step.
static void kernel_portable(size_t kc, const float *a, const float *b, float *c, size_t ldc, int accumulate) {
    float acc[TL_SAE_MR][TL_SAE_NR];
    for (int i = 0; i < TL_SAE_MR; i++)
        for (int j = 0; j < TL_SAE_NR; j++) acc[i][j] = accumulate ? c[(size_t)i * ldc + (size_t)j] : 0.0f;
    for (size_t t = 0; t < kc; t++)
        for (int i = 0; i < TL_SAE_MR; i++)
            for (int j = 0; j < TL_SAE_NR; j++)
                acc[i][j] = fmaf(a[t * TL_SAE_MR + (size_t)i], b[t * TL_SAE_NR + (size_t)j], acc[i][j]);
    for (int i = 0; i < TL_SAE_MR; i++)
        for (int j = 0; j < TL_SAE_NR; j++) c[(size_t)i * ldc + (size_t)j] = acc[i][j];
}

#ifdef TL_SAE_X86
__attribute__((target("avx2,fma")))
static void kernel_avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc, int accumulate) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (accumulate) {
        c00 = _mm256_loadu_ps(c + 0 * ldc); c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
        c10 = _mm256_loadu_ps(c + 1 * ldc); c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc); c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc); c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc); c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc); c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    }
#if defined(__clang__)
#pragma clang loop unroll_count(4)
#endif
    for (size_t t = 0; t < kc; t++) {
        __m256 b0 = _mm256_loadu_ps(b + t * TL_SAE_NR);
        __m256 b1 = _mm256_loadu_ps(b + t * TL_SAE_NR + 8);
        const float *at = a + t * TL_SAE_MR;
        __m256 x;
        x = _mm256_broadcast_ss(at + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(at + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(at + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(at + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(at + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(at + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
    }
    _mm256_storeu_ps(c + 0 * ldc, c00); _mm256_storeu_ps(c + 0 * ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * ldc, c10); _mm256_storeu_ps(c + 1 * ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20); _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30); _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40); _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50); _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

// AVX-512: one 16-lane register holds a row's NR = 16 latents, so `strips` (1 or 2) strips of
// MR rows give 6 or 12 independent accumulators; the second strip's a and c follow the first
// at a + k*MR (a_stride) and c + MR*NR. Each element is still one fmaf chain over t in order,
// so the bits equal the AVX2 and portable kernels'.
__attribute__((target("avx512f")))
static void kernel_avx512(size_t kc, const float *a, size_t a_stride, int strips, const float *b, float *c,
                          int accumulate) {
    __m512 acc[2 * TL_SAE_MR];
    int rows = strips * TL_SAE_MR;
    for (int i = 0; i < rows; i++) {
        float *ci = c + (size_t)i * TL_SAE_NR;
        acc[i] = accumulate ? _mm512_loadu_ps(ci) : _mm512_setzero_ps();
    }
    if (strips == 2) {
        const float *a1 = a + a_stride;
        for (size_t t = 0; t < kc; t++) {
            __m512 bv = _mm512_loadu_ps(b + t * TL_SAE_NR);
            const float *at = a + t * TL_SAE_MR, *bt = a1 + t * TL_SAE_MR;
            for (int i = 0; i < TL_SAE_MR; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(at[i]), bv, acc[i]);
            for (int i = 0; i < TL_SAE_MR; i++)
                acc[TL_SAE_MR + i] = _mm512_fmadd_ps(_mm512_set1_ps(bt[i]), bv, acc[TL_SAE_MR + i]);
        }
    } else {
        for (size_t t = 0; t < kc; t++) {
            __m512 bv = _mm512_loadu_ps(b + t * TL_SAE_NR);
            const float *at = a + t * TL_SAE_MR;
            for (int i = 0; i < TL_SAE_MR; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(at[i]), bv, acc[i]);
        }
    }
    for (int i = 0; i < rows; i++) _mm512_storeu_ps(c + (size_t)i * TL_SAE_NR, acc[i]);
}

// bf16/f32 rows -> panel[kc][NR] with 8x8 transposes where a full block is available.
__attribute__((target("avx2,fma")))
static void pack_weights_avx2(const void *weights, int bf16, size_t ldw, size_t n, size_t j0,
                              size_t t0, size_t kc, float *panel) {
    if (j0 + TL_SAE_NR > n || kc % 8 != 0) { pack_weights(weights, bf16, ldw, n, j0, t0, kc, panel); return; }
    for (size_t half = 0; half < 2; half++) {
        for (size_t t = 0; t < kc; t += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                size_t latent = j0 + half * 8 + (size_t)i;
                if (bf16) {
                    const uint16_t *src = (const uint16_t *)weights + latent * ldw + t0 + t;
                    __m128i raw = _mm_loadu_si128((const __m128i *)src);
                    r[i] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
                } else {
                    r[i] = _mm256_loadu_ps((const float *)weights + latent * ldw + t0 + t);
                }
            }
            // 8x8 transpose: r[i][t'] -> out[t'][i]
            __m256 t0v = _mm256_unpacklo_ps(r[0], r[1]), t1v = _mm256_unpackhi_ps(r[0], r[1]);
            __m256 t2v = _mm256_unpacklo_ps(r[2], r[3]), t3v = _mm256_unpackhi_ps(r[2], r[3]);
            __m256 t4v = _mm256_unpacklo_ps(r[4], r[5]), t5v = _mm256_unpackhi_ps(r[4], r[5]);
            __m256 t6v = _mm256_unpacklo_ps(r[6], r[7]), t7v = _mm256_unpackhi_ps(r[6], r[7]);
            __m256 s0 = _mm256_shuffle_ps(t0v, t2v, 0x44), s1 = _mm256_shuffle_ps(t0v, t2v, 0xEE);
            __m256 s2 = _mm256_shuffle_ps(t1v, t3v, 0x44), s3 = _mm256_shuffle_ps(t1v, t3v, 0xEE);
            __m256 s4 = _mm256_shuffle_ps(t4v, t6v, 0x44), s5 = _mm256_shuffle_ps(t4v, t6v, 0xEE);
            __m256 s6 = _mm256_shuffle_ps(t5v, t7v, 0x44), s7 = _mm256_shuffle_ps(t5v, t7v, 0xEE);
            __m256 o[8];
            o[0] = _mm256_permute2f128_ps(s0, s4, 0x20); o[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
            o[2] = _mm256_permute2f128_ps(s2, s6, 0x20); o[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
            o[4] = _mm256_permute2f128_ps(s0, s4, 0x31); o[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
            o[6] = _mm256_permute2f128_ps(s2, s6, 0x31); o[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(panel + (t + (size_t)i) * TL_SAE_NR + half * 8, o[i]);
        }
    }
}
#endif

#ifdef TL_SAE_NEON
// NEON: a row's NR = 16 latents are four 4-lane registers, so a strip of MR = 6 rows holds
// 24 accumulators; with four weight registers and the step's six activations (one 4-lane and
// one 2-lane register) that is 30 of aarch64's 32. vfmaq_lane(q)_f32 is one fused multiply-add
// per lane, acc + b · a[i], so each element is the same fmaf chain over t in order as in the
// portable kernel: same bits.
#define SAE_NEON_ROW(i)                                                                             \
    float32x4_t c##i##0, c##i##1, c##i##2, c##i##3;                                                 \
    if (accumulate) {                                                                               \
        c##i##0 = vld1q_f32(c + (i) * TL_SAE_NR); c##i##1 = vld1q_f32(c + (i) * TL_SAE_NR + 4);     \
        c##i##2 = vld1q_f32(c + (i) * TL_SAE_NR + 8); c##i##3 = vld1q_f32(c + (i) * TL_SAE_NR + 12); \
    } else {                                                                                        \
        c##i##0 = c##i##1 = c##i##2 = c##i##3 = vdupq_n_f32(0.0f);                                  \
    }
#define SAE_NEON_FMA(i, a, lane, fma)                                                               \
    c##i##0 = fma(c##i##0, b0, a, lane); c##i##1 = fma(c##i##1, b1, a, lane);                       \
    c##i##2 = fma(c##i##2, b2, a, lane); c##i##3 = fma(c##i##3, b3, a, lane);
#define SAE_NEON_STORE(i)                                                                           \
    vst1q_f32(c + (i) * TL_SAE_NR, c##i##0); vst1q_f32(c + (i) * TL_SAE_NR + 4, c##i##1);           \
    vst1q_f32(c + (i) * TL_SAE_NR + 8, c##i##2); vst1q_f32(c + (i) * TL_SAE_NR + 12, c##i##3);

// c[MR][NR] (contiguous, as the strip layout has it) = (accumulate ? c : 0) + a[kc][MR] ⊗ b[kc][NR].
static void kernel_neon(size_t kc, const float *a, const float *b, float *c, int accumulate) {
    SAE_NEON_ROW(0) SAE_NEON_ROW(1) SAE_NEON_ROW(2) SAE_NEON_ROW(3) SAE_NEON_ROW(4) SAE_NEON_ROW(5)
    for (size_t t = 0; t < kc; t++) {
        const float *bt = b + t * TL_SAE_NR, *at = a + t * TL_SAE_MR;
        float32x4_t b0 = vld1q_f32(bt), b1 = vld1q_f32(bt + 4), b2 = vld1q_f32(bt + 8), b3 = vld1q_f32(bt + 12);
        float32x4_t a0123 = vld1q_f32(at);  // rows 0-3 of step t
        float32x2_t a45 = vld1_f32(at + 4);  // rows 4-5: the step's last floats, no read past the strip
        SAE_NEON_FMA(0, a0123, 0, vfmaq_laneq_f32) SAE_NEON_FMA(1, a0123, 1, vfmaq_laneq_f32)
        SAE_NEON_FMA(2, a0123, 2, vfmaq_laneq_f32) SAE_NEON_FMA(3, a0123, 3, vfmaq_laneq_f32)
        SAE_NEON_FMA(4, a45, 0, vfmaq_lane_f32) SAE_NEON_FMA(5, a45, 1, vfmaq_lane_f32)
    }
    SAE_NEON_STORE(0) SAE_NEON_STORE(1) SAE_NEON_STORE(2) SAE_NEON_STORE(3) SAE_NEON_STORE(4) SAE_NEON_STORE(5)
}

// Four latents' values at four steps (r[i] = latent i, steps t..t+3) -> panel rows t..t+3,
// columns col..col+3: a 4x4 transpose. Widening and moving are exact, so the panel holds the
// portable packing's floats.
static inline void store_transposed_neon(float32x4_t r0, float32x4_t r1, float32x4_t r2, float32x4_t r3,
                                         float *panel, size_t t, size_t col) {
    float32x4_t p01 = vtrn1q_f32(r0, r1), q01 = vtrn2q_f32(r0, r1);  // r0[0] r1[0] r0[2] r1[2] / [1], [3]
    float32x4_t p23 = vtrn1q_f32(r2, r3), q23 = vtrn2q_f32(r2, r3);
    float64x2_t p01d = vreinterpretq_f64_f32(p01), q01d = vreinterpretq_f64_f32(q01);
    float64x2_t p23d = vreinterpretq_f64_f32(p23), q23d = vreinterpretq_f64_f32(q23);
    vst1q_f32(panel + (t + 0) * TL_SAE_NR + col, vreinterpretq_f32_f64(vtrn1q_f64(p01d, p23d)));
    vst1q_f32(panel + (t + 1) * TL_SAE_NR + col, vreinterpretq_f32_f64(vtrn1q_f64(q01d, q23d)));
    vst1q_f32(panel + (t + 2) * TL_SAE_NR + col, vreinterpretq_f32_f64(vtrn2q_f64(p01d, p23d)));
    vst1q_f32(panel + (t + 3) * TL_SAE_NR + col, vreinterpretq_f32_f64(vtrn2q_f64(q01d, q23d)));
}

// pack_weights with NEON loads, bf16 widening (vshll_n_u16 by 16: the bits moved up, exact) and
// 4x4 transposes, 8 steps at a time; the steps past the last multiple of 8 and a strip that runs
// past n are packed by the portable loop.
static void pack_weights_neon(const void *weights, int bf16, size_t ldw, size_t n, size_t j0,
                              size_t t0, size_t kc, float *panel) {
    if (j0 + TL_SAE_NR > n) { pack_weights(weights, bf16, ldw, n, j0, t0, kc, panel); return; }
    size_t body = kc / 8 * 8;
    for (size_t col = 0; col < TL_SAE_NR; col += 4) {
        for (size_t t = 0; t < body; t += 8) {
            float32x4_t lo[4], hi[4];  // latent j0 + col + i, steps t..t+3 and t+4..t+7
            for (int i = 0; i < 4; i++) {
                size_t row = (j0 + col + (size_t)i) * ldw + t0 + t;
                if (bf16) {
                    uint16x8_t h = vld1q_u16((const uint16_t *)weights + row);
                    lo[i] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
                    hi[i] = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
                } else {
                    lo[i] = vld1q_f32((const float *)weights + row);
                    hi[i] = vld1q_f32((const float *)weights + row + 4);
                }
            }
            store_transposed_neon(lo[0], lo[1], lo[2], lo[3], panel, t, col);
            store_transposed_neon(hi[0], hi[1], hi[2], hi[3], panel, t + 4, col);
        }
    }
    for (size_t j = 0; j < TL_SAE_NR && body < kc; j++) {
        size_t row = (j0 + j) * ldw + t0;
        for (size_t t = body; t < kc; t++) {
            if (bf16) {
                uint32_t bits = (uint32_t)((const uint16_t *)weights)[row + t] << 16;
                memcpy(&panel[t * TL_SAE_NR + j], &bits, 4);
            } else {
                panel[t * TL_SAE_NR + j] = ((const float *)weights)[row + t];
            }
        }
    }
}
#endif

typedef struct {
    const float *packed_x;
    size_t m, k;
    const void *weights;
    int bf16;
    size_t ldw, n;
    float *pre;
    size_t strips;  // latent strips of NR, dealt out to the pool's threads in contiguous ranges
    int path;       // resolved TL_PATH_*
} gemm_job;

// Latent strips [strips · index / count, strips · (index + 1) / count). A strip's outputs are
// computed the same way whichever thread takes it.
static void gemm_task(void *context, int index, int count) {
    const gemm_job *job = (const gemm_job *)context;
    float panel[TL_SAE_KC * TL_SAE_NR] __attribute__((aligned(64)));
    size_t row_strips = round_up(job->m, TL_SAE_MR) / TL_SAE_MR;
    size_t first_strip = job->strips * (size_t)index / (size_t)count;
    size_t end_strip = job->strips * (size_t)(index + 1) / (size_t)count;
#ifdef TL_SAE_X86
    int avx2 = job->path == TL_PATH_AVX2 || job->path == TL_PATH_AVX512;
    int avx512 = job->path == TL_PATH_AVX512;
#endif
#ifdef TL_SAE_NEON
    int neon = job->path == TL_PATH_NEON;
#endif
    for (size_t js = first_strip; js < end_strip; js++) {
        size_t j0 = js * TL_SAE_NR;
        for (size_t t0 = 0; t0 < job->k; t0 += TL_SAE_KC) {
            size_t kc = job->k - t0 < TL_SAE_KC ? job->k - t0 : TL_SAE_KC;
#ifdef TL_SAE_X86
            if (avx2) pack_weights_avx2(job->weights, job->bf16, job->ldw, job->n, j0, t0, kc, panel);
            else
#endif
#ifdef TL_SAE_NEON
            if (neon) pack_weights_neon(job->weights, job->bf16, job->ldw, job->n, j0, t0, kc, panel);
            else
#endif
                pack_weights(job->weights, job->bf16, job->ldw, job->n, j0, t0, kc, panel);
            for (size_t s = 0; s < row_strips; s++) {
                const float *a = job->packed_x + s * job->k * TL_SAE_MR + t0 * TL_SAE_MR;
                float *c = job->pre + js * row_strips * TL_SAE_MR * TL_SAE_NR + s * TL_SAE_MR * TL_SAE_NR;
#ifdef TL_SAE_X86
                if (avx512) {
                    int strips = s + 1 < row_strips ? 2 : 1;
                    kernel_avx512(kc, a, job->k * TL_SAE_MR, strips, panel, c, t0 > 0);
                    s += (size_t)strips - 1;
                    continue;
                }
                if (avx2) { kernel_avx2(kc, a, panel, c, TL_SAE_NR, t0 > 0); continue; }
#endif
#ifdef TL_SAE_NEON
                if (neon) { kernel_neon(kc, a, panel, c, t0 > 0); continue; }
#endif
                kernel_portable(kc, a, panel, c, TL_SAE_NR, t0 > 0);
            }
        }
    }
}

void tl_sae_gemm(const float *packed_x, size_t m, size_t k,
                 const void *weights, int weights_bf16, size_t ldw, size_t n,
                 float *pre, int path) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        memset(pre, 0, tl_sae_pre_floats(m, n) * sizeof(float));
        return;
    }
    // Resolved here, once: the model's kernel choice (THINKLENS_KERNELS included) decides here too.
    gemm_job job = {packed_x, m, k, weights, weights_bf16, ldw, n, pre,
                    round_up(n, TL_SAE_NR) / TL_SAE_NR, tl_kernel_path(path)};
    if (job.strips < 2 || m * k * n < TL_PARALLEL_MIN_MACS) gemm_task(&job, 0, 1);
    else tl_parallel(gemm_task, &job);
}
