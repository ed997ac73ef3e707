#include "tl_linear.h"
#include "tl_threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Additions and multiplications must stay separate operations where the canonical order says so.
#pragma clang fp contract(off)

#if defined(__x86_64__) || defined(__i386__)
#define TL_X86 1
#include <immintrin.h>
#endif

// A tile streams its weight rows side by side, four fronts 3-18 KB apart, which the hardware
// prefetchers follow poorly. So while a tile works, it asks for the next tile's rows (the bytes
// right after its own) as one linear sweep: four 64-byte lines per 32 steps of k covers them
// exactly by the time the tile ends. Measured on Zen 5, bf16 [17920, 1536] at one activation
// row: 23 -> 39 GB/s on one thread, 36 -> 51 GB/s on two (a plain sequential read: 35 and 70);
// 8 rows: 20 -> 28 GB/s. Prefetching each row 0.5-4 KB ahead instead gained little. A prefetch
// past the matrix's end is harmless (a hint, never a fault). 0 turns it off.
#ifndef TL_PREFETCH
#define TL_PREFETCH 1
#endif

// Inside a tile's k loop: once per 32 steps of k, one line of each of the next tile's NR rows'
// worth of bytes, in address order.
#define TL_PREFETCH_NEXT_TILE(w, NR, row_bytes, kk, DT)                                            \
    do {                                                                                            \
        if (TL_PREFETCH && ((kk) & 31) == 0)                                                        \
            for (int n_ = 0; n_ < (NR); n_++)                                                       \
                __builtin_prefetch((w) + (NR) * (row_bytes) + ((kk) / 32) * (NR) * ((DT) == TL_DTYPE_F32 ? 128 : 64) + n_ * 64); \
    } while (0)

// ---------------------------------------------------------------------------------------------
// Scalar building blocks shared by every path.

static inline float widen_bf16(uint16_t bits) {
    uint32_t u = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float widen_f16(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    uint32_t u;
    if (exponent == 0) {
        float magnitude = (float)mantissa * 0x1p-24f;  // zero or subnormal, exact
        return sign ? -magnitude : magnitude;
    } else if (exponent == 0x1F) {
        u = sign | 0x7F800000u | (mantissa << 13);
    } else {
        u = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float load_weight(const void *w, int dtype, int64_t i) {
    switch (dtype) {
    case TL_DTYPE_BF16: { uint16_t b; memcpy(&b, (const char *)w + 2 * i, 2); return widen_bf16(b); }
    case TL_DTYPE_F16: { uint16_t b; memcpy(&b, (const char *)w + 2 * i, 2); return widen_f16(b); }
    default: { float f; memcpy(&f, (const char *)w + 4 * i, 4); return f; }
    }
}

static inline float canonical_sum8(const float s[8]) {
    float a = s[0] + s[4], b = s[2] + s[6], c = s[1] + s[5], d = s[3] + s[7];
    float ab = a + b, cd = c + d;
    return ab + cd;
}

// Tail and bias, identical on every path.
static inline float finish(float r, const float *x, const void *w, int dtype, int64_t k8, int64_t k,
                           const float *bias, int64_t j) {
    for (int64_t t = k8; t < k; t++) r = fmaf(x[t], load_weight(w, dtype, t), r);
    if (bias) r = r + bias[j];
    return r;
}

// ---------------------------------------------------------------------------------------------
// Tiled paths: a tile computes MR activation rows × NR (≤ 4) weight rows of one part.

typedef void (*tile_fn)(const float *x, int64_t ldx, const char *w, size_t row_bytes, int64_t k,
                        const tl_linear_part *p, int64_t m0, int64_t j);

// The 3 × 4 family of tiles a path defines with TILE(MR, NR, DT), and its table rows
// (PREFIX_tile_MR_NR_DT) for one dtype, indexed [mr - 1][nr - 1].
#define TL_TILES_3x4(TILE, DT)                                                                      \
    TILE(1, 1, DT) TILE(1, 2, DT) TILE(1, 3, DT) TILE(1, 4, DT)                                     \
    TILE(2, 1, DT) TILE(2, 2, DT) TILE(2, 3, DT) TILE(2, 4, DT)                                     \
    TILE(3, 1, DT) TILE(3, 2, DT) TILE(3, 3, DT) TILE(3, 4, DT)
#define TL_TILE_TABLE_3x4(PREFIX, DT)                                                               \
    { { PREFIX##_tile_1_1_##DT, PREFIX##_tile_1_2_##DT, PREFIX##_tile_1_3_##DT, PREFIX##_tile_1_4_##DT }, \
      { PREFIX##_tile_2_1_##DT, PREFIX##_tile_2_2_##DT, PREFIX##_tile_2_3_##DT, PREFIX##_tile_2_4_##DT }, \
      { PREFIX##_tile_3_1_##DT, PREFIX##_tile_3_2_##DT, PREFIX##_tile_3_3_##DT, PREFIX##_tile_3_4_##DT } }

// Activation rows are walked in blocks that stay in L2 while 4-row weight blocks stream past.
#define ROW_BLOCK 48

// Walks output features [j0, j1) of part p in 4-row weight blocks and the activation rows in tiles
// of up to max_mr; tiles[(dtype · max_mr + mr − 1) · 4 + nr − 1] computes an mr × nr tile.
static void rows_tiled(const float *x, int64_t rows, int64_t k, int64_t ldx, const tl_linear_part *p,
                       int64_t j0, int64_t j1, const tile_fn *tiles, int max_mr) {
    size_t row_bytes = (size_t)k * (p->dtype == TL_DTYPE_F32 ? 4 : 2);
    const tile_fn *for_dtype = tiles + (size_t)p->dtype * (size_t)max_mr * 4;
    for (int64_t mb = 0; mb < rows; mb += ROW_BLOCK) {
        int64_t me = mb + ROW_BLOCK < rows ? mb + ROW_BLOCK : rows;
        for (int64_t j = j0; j < j1; j += 4) {
            int nr = (int)(j1 - j < 4 ? j1 - j : 4);
            const char *w = (const char *)p->weight + (size_t)j * row_bytes;
            for (int64_t m = mb; m < me; m += max_mr) {
                int mr = (int)(me - m < max_mr ? me - m : max_mr);
                for_dtype[(mr - 1) * 4 + nr - 1](x + m * ldx, ldx, w, row_bytes, k, p, m, j);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Portable path: the canonical order spelled out.

static float dot_portable(const float *x, const void *w, int dtype, int64_t k) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k8 = k & ~(int64_t)7;
    for (int64_t kk = 0; kk < k8; kk += 8)
        for (int l = 0; l < 8; l++) s[l] = fmaf(x[kk + l], load_weight(w, dtype, kk + l), s[l]);
    return canonical_sum8(s);
}

static void rows_portable(const float *x, int64_t rows, int64_t k, int64_t ldx, const tl_linear_part *p,
                          int64_t j0, int64_t j1) {
    size_t row_bytes = (size_t)k * (p->dtype == TL_DTYPE_F32 ? 4 : 2);
    int64_t k8 = k & ~(int64_t)7;
    for (int64_t j = j0; j < j1; j++) {
        const void *w = (const char *)p->weight + (size_t)j * row_bytes;
        for (int64_t m = 0; m < rows; m++) {
            const float *xm = x + m * ldx;
            float r = dot_portable(xm, w, p->dtype, k);
            p->y[m * p->ldy + j] = finish(r, xm, w, p->dtype, k8, k, p->bias, j);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA: tiles of up to 3 activation rows × 4 weight rows, one 8-lane accumulator each.

#ifdef TL_X86
#define TL_AVX2 __attribute__((target("avx2,fma,f16c")))

TL_AVX2 static inline __m256 avx2_load_w(const void *w, int dtype, int64_t i) {
    if (dtype == TL_DTYPE_BF16) {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else if (dtype == TL_DTYPE_F16) {
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    }
    return _mm256_loadu_ps((const float *)w + i);
}

// ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)), the canonical order.
TL_AVX2 static inline float avx2_hsum(__m256 v) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));
    __m128 r = _mm_add_ss(u, _mm_shuffle_ps(u, u, 1));
    return _mm_cvtss_f32(r);
}

#define AVX2_TILE(MR, NR, DT)                                                                       \
    TL_AVX2 static void avx2_tile_##MR##_##NR##_##DT(const float *x, int64_t ldx, const char *w,  \
                                                      size_t row_bytes, int64_t k, const tl_linear_part *p, \
                                                      int64_t m0, int64_t j) {                      \
        __m256 acc[MR][NR];                                                                         \
        for (int m = 0; m < MR; m++)                                                                \
            for (int n = 0; n < NR; n++) acc[m][n] = _mm256_setzero_ps();                           \
        int64_t k8 = k & ~(int64_t)7;                                                               \
        for (int64_t kk = 0; kk < k8; kk += 8) {                                                    \
            TL_PREFETCH_NEXT_TILE(w, NR, row_bytes, kk, DT);                                        \
            __m256 xv[MR];                                                                          \
            for (int m = 0; m < MR; m++) xv[m] = _mm256_loadu_ps(x + m * ldx + kk);                 \
            for (int n = 0; n < NR; n++) {                                                          \
                __m256 wv = avx2_load_w(w + n * row_bytes, DT, kk);                                 \
                for (int m = 0; m < MR; m++) acc[m][n] = _mm256_fmadd_ps(xv[m], wv, acc[m][n]);     \
            }                                                                                       \
        }                                                                                           \
        for (int m = 0; m < MR; m++)                                                                \
            for (int n = 0; n < NR; n++) {                                                          \
                float r = avx2_hsum(acc[m][n]);                                                     \
                p->y[(m0 + m) * p->ldy + j + n] =                                                   \
                    finish(r, x + m * ldx, w + n * row_bytes, DT, k8, k, p->bias, j + n);           \
            }                                                                                       \
    }

TL_TILES_3x4(AVX2_TILE, 0)
TL_TILES_3x4(AVX2_TILE, 1)
TL_TILES_3x4(AVX2_TILE, 2)

static const tile_fn avx2_tiles[3][3][4] = {
    TL_TILE_TABLE_3x4(avx2, 0), TL_TILE_TABLE_3x4(avx2, 1), TL_TILE_TABLE_3x4(avx2, 2) };

// Streaming (few rows): widen each weight vector in registers as it arrives, so the weights are
// read from memory once at full bandwidth.
static void rows_avx2_streaming(const float *x, int64_t rows, int64_t k, int64_t ldx, const tl_linear_part *p,
                                int64_t j0, int64_t j1) {
    rows_tiled(x, rows, k, ldx, p, j0, j1, &avx2_tiles[0][0][0], 3);
}

TL_AVX2 static void widen_rows_avx2(const char *w, int dtype, size_t row_bytes, int nr, int64_t k, float *out) {
    int64_t k8 = k & ~(int64_t)7;
    for (int n = 0; n < nr; n++) {
        const char *row = w + n * row_bytes;
        float *o = out + n * k;
        for (int64_t i = 0; i < k8; i += 8) _mm256_storeu_ps(o + i, avx2_load_w(row, dtype, i));
        for (int64_t i = k8; i < k; i++) o[i] = load_weight(row, dtype, i);
    }
}

// Packed (many rows, 16-bit weights): widen a block of 4 weight rows to float32 once, then run
// the float32 tiles over a block of activation rows that stays in L2. Exact widening and the same
// tiles keep every element's reduction order identical to the streaming path.
static void rows_avx2_packed(const float *x, int64_t rows, int64_t k, int64_t ldx, const tl_linear_part *p,
                             int64_t j0, int64_t j1) {
    float *widened = tl_thread_scratch(TL_SCRATCH_WIDENED_WEIGHTS, 4 * k);
    if (!widened) { rows_avx2_streaming(x, rows, k, ldx, p, j0, j1); return; }
    size_t row_bytes = (size_t)k * 2;
    int64_t block = (256 * 1024) / (4 * k);
    block = block < 3 ? 3 : (block / 3) * 3;
    for (int64_t mb = 0; mb < rows; mb += block) {
        int64_t me = mb + block < rows ? mb + block : rows;
        for (int64_t j = j0; j < j1; j += 4) {
            int nr = (int)(j1 - j < 4 ? j1 - j : 4);
            widen_rows_avx2((const char *)p->weight + (size_t)j * row_bytes, p->dtype, row_bytes, nr, k, widened);
            for (int64_t m = mb; m < me; m += 3) {
                int mr = (int)(me - m < 3 ? me - m : 3);
                avx2_tiles[TL_DTYPE_F32][mr - 1][nr - 1](x + m * ldx, ldx, (const char *)widened, (size_t)k * 4, k, p, m, j);
            }
        }
    }
}

// Rows at which widening once beats widening in registers per 3-row tile. Measured on Zen 3
// (AVX2, 2 threads, 1.5B dimensions, quiet box): streaming was faster at 16 rows (29.5 vs
// 26.7 tokens/s at batch 16) and at 100 rows (100-token prefill 2.83 vs 3.20 s), so the packed
// path only takes very tall products; both paths give bit-identical results.
#define PACKED_MIN_ROWS 256

static void rows_avx2(const float *x, int64_t rows, int64_t k, int64_t ldx, const tl_linear_part *p,
                      int64_t j0, int64_t j1) {
    if (rows >= PACKED_MIN_ROWS && p->dtype != TL_DTYPE_F32) rows_avx2_packed(x, rows, k, ldx, p, j0, j1);
    else rows_avx2_streaming(x, rows, k, ldx, p, j0, j1);
}

TL_AVX2 static float dot_avx2(const float *a, const float *b, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float r = avx2_hsum(acc);
    for (int64_t i = n8; i < n; i++) r = fmaf(a[i], b[i], r);
    return r;
}

// ---------------------------------------------------------------------------------------------
// AVX-512F: two weight rows share one 16-lane register (lanes 0–7 row j, 8–15 row j+1), each half
// accumulating exactly as the 8-lane canonical order says; up to 8 activation rows × 4 weight rows.

#define TL_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

TL_AVX512 static inline __m512 avx512_load_pair(const char *w0, const char *w1, int dtype, int64_t i) {
    if (dtype == TL_DTYPE_BF16) {
        __m256i h = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)((const uint16_t *)w0 + i))),
            _mm_loadu_si128((const __m128i *)((const uint16_t *)w1 + i)), 1);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    } else if (dtype == TL_DTYPE_F16) {
        __m256i h = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)((const uint16_t *)w0 + i))),
            _mm_loadu_si128((const __m128i *)((const uint16_t *)w1 + i)), 1);
        return _mm512_cvtph_ps(h);
    }
    return _mm512_castpd_ps(_mm512_insertf64x4(
        _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps((const float *)w0 + i))),
        _mm256_castps_pd(_mm256_loadu_ps((const float *)w1 + i)), 1));
}

// The 8 floats at p in both halves of a 16-lane register (AVX-512F only, no DQ needed).
TL_AVX512 static inline __m512 avx512_broadcast8(const float *p) {
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(p))));
}

TL_AVX512 static inline float avx512_hsum_half(__m256 v) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));
    __m128 r = _mm_add_ss(u, _mm_shuffle_ps(u, u, 1));
    return _mm_cvtss_f32(r);
}

// Up to 8 activation rows per tile: 16 accumulators, 8 activation and 1 weight register of the
// 32, so a batch of 8 decoding sequences is one tile with enough independent FMA chains.
#define AVX512_MR 8

// NP = weight-row pairs (1 or 2); NR = real weight rows (1..4); a missing second row of a pair
// re-reads the first and its result is dropped.
#define AVX512_TILE(MR, NR, DT)                                                                     \
    TL_AVX512 static void avx512_tile_##MR##_##NR##_##DT(const float *x, int64_t ldx, const char *w, \
                                                          size_t row_bytes, int64_t k,              \
                                                          const tl_linear_part *p, int64_t m0, int64_t j) { \
        enum { NP = (NR + 1) / 2 };                                                                 \
        __m512 acc[MR][NP];                                                                         \
        const char *rows_[4];                                                                       \
        for (int n = 0; n < 4; n++) rows_[n] = w + (n < NR ? n : NR - 1) * row_bytes;               \
        for (int m = 0; m < MR; m++)                                                                \
            for (int q = 0; q < NP; q++) acc[m][q] = _mm512_setzero_ps();                           \
        int64_t k8 = k & ~(int64_t)7;                                                               \
        for (int64_t kk = 0; kk < k8; kk += 8) {                                                    \
            TL_PREFETCH_NEXT_TILE(w, NR, row_bytes, kk, DT);                                        \
            __m512 xv[MR];                                                                          \
            for (int m = 0; m < MR; m++) xv[m] = avx512_broadcast8(x + m * ldx + kk); \
            for (int q = 0; q < NP; q++) {                                                          \
                __m512 wv = avx512_load_pair(rows_[2 * q], rows_[2 * q + 1], DT, kk);               \
                for (int m = 0; m < MR; m++) acc[m][q] = _mm512_fmadd_ps(xv[m], wv, acc[m][q]);     \
            }                                                                                       \
        }                                                                                           \
        for (int m = 0; m < MR; m++)                                                                \
            for (int n = 0; n < NR; n++) {                                                          \
                __m512 a = acc[m][n / 2];                                                           \
                __m256 half = (n & 1) ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)) : _mm512_castps512_ps256(a);   \
                float r = avx512_hsum_half(half);                                                   \
                p->y[(m0 + m) * p->ldy + j + n] =                                                   \
                    finish(r, x + m * ldx, w + n * row_bytes, DT, k8, k, p->bias, j + n);           \
            }                                                                                       \
    }

#define AVX512_TILES_FOR_MR(MR, DT) AVX512_TILE(MR, 1, DT) AVX512_TILE(MR, 2, DT) AVX512_TILE(MR, 3, DT) AVX512_TILE(MR, 4, DT)
#define AVX512_TILES_FOR_DTYPE(DT)                                                                  \
    AVX512_TILES_FOR_MR(1, DT) AVX512_TILES_FOR_MR(2, DT) AVX512_TILES_FOR_MR(3, DT)                \
    AVX512_TILES_FOR_MR(4, DT) AVX512_TILES_FOR_MR(5, DT) AVX512_TILES_FOR_MR(6, DT)                \
    AVX512_TILES_FOR_MR(7, DT) AVX512_TILES_FOR_MR(8, DT)

AVX512_TILES_FOR_DTYPE(0)
AVX512_TILES_FOR_DTYPE(1)
AVX512_TILES_FOR_DTYPE(2)

#define AVX512_MR_ROW(MR, DT) { avx512_tile_##MR##_1_##DT, avx512_tile_##MR##_2_##DT, avx512_tile_##MR##_3_##DT, avx512_tile_##MR##_4_##DT }
#define AVX512_DT_BLOCK(DT) { AVX512_MR_ROW(1, DT), AVX512_MR_ROW(2, DT), AVX512_MR_ROW(3, DT), \
                              AVX512_MR_ROW(4, DT), AVX512_MR_ROW(5, DT), AVX512_MR_ROW(6, DT), \
                              AVX512_MR_ROW(7, DT), AVX512_MR_ROW(8, DT) }
static const tile_fn avx512_tiles[3][AVX512_MR][4] = { AVX512_DT_BLOCK(0), AVX512_DT_BLOCK(1), AVX512_DT_BLOCK(2) };

// Packed AVX-512 path (25+ activation rows, any dtype). The streaming tiles above widen every
// weight block again for each 8-row tile and hold only 16 accumulators; at prefill the FMA units,
// not memory, are the limit, so this path:
//  - widens each weight element once: a panel of 8 weight rows × AVX512_KC columns is widened to
//    float32 into the thread's scratch, laid out so that each pair of rows' 8 columns (one zmm:
//    lanes 0-7 row 2q, lanes 8-15 row 2q+1, as in the streaming tiles) is one aligned load
//    (bf16: one word permute per zmm); the next panel's weights are prefetched a few lines per tile;
//  - packs the activation rows tile by tile ([step][row][8 columns]), one sequential stream each;
//  - runs tiles of 5 or 6 activation rows × those 8 weight rows: 24 accumulators, 4 weight
//    registers and one broadcast activation register of the 32;
//  - splits k into chunks of AVX512_KC columns so the panel stays in L1 while every tile of
//    activation rows (in L2) passes over it. Between chunks a tile's accumulators are stored to
//    and reloaded from scratch unchanged, so each lane is still one fma chain over k = l, l+8,
//    ... in order; the canonical tree is then summed 16 outputs at a time (avx512_finish_rows),
//    and the tail and bias are finish()'s: the bits are the canonical order's.
#define AVX512_PACKED_MR 6
#ifndef AVX512_KC
#define AVX512_KC 512
#endif
// Weight rows whose chains are kept in scratch while k advances (a multiple of 8).
#ifndef AVX512_NC
#define AVX512_NC 64
#endif
// How many panels ahead the weights are prefetched, and into which cache (__builtin_prefetch's
// locality: 3 = L1, 2 = L2).
#ifndef AVX512_PREFETCH_PANELS
#define AVX512_PREFETCH_PANELS 1
#endif
#ifndef AVX512_PREFETCH_LOCALITY
#define AVX512_PREFETCH_LOCALITY 2
#endif
// Activation rows per block: the scratch holds their packed copy (rows × k floats: 4.3 MB per
// thread at 120 rows × 8,960) and their chains (rows × AVX512_NC × 8 floats).
#define AVX512_MB 120

// Widens columns [kc, kc + 8·steps) of the nr (<= 8) weight rows at w into panel[steps][4][16];
// missing rows repeat the last one (their results are dropped).
TL_AVX512 static void avx512_widen_panel(const char *w, size_t row_bytes, int nr, int dtype, int64_t kc,
                                         int64_t steps, float *panel) {
    const char *rows_[8];
    for (int n = 0; n < 8; n++) rows_[n] = w + (n < nr ? n : nr - 1) * row_bytes;
    int64_t s = 0;
    if (dtype == TL_DTYPE_BF16) {
        // 32 columns of both rows of a pair per two loads; one word permute per 8 columns puts
        // each bf16 in the high half of its float32 lane and zeros the low half (exact widening).
        const __mmask32 high_words = 0xAAAAAAAAu;
        __m512i idx[4];
        for (int t = 0; t < 4; t++) {
            uint16_t words[32];
            for (int i = 0; i < 16; i++) {
                words[2 * i] = 0;
                words[2 * i + 1] = (uint16_t)(i < 8 ? 8 * t + i : 32 + 8 * t + (i - 8));
            }
            idx[t] = _mm512_loadu_si512(words);
        }
        for (; s + 4 <= steps; s += 4)
            for (int q = 0; q < 4; q++) {
                __m512i a = _mm512_loadu_si512((const uint16_t *)rows_[2 * q] + kc + 8 * s);
                __m512i b = _mm512_loadu_si512((const uint16_t *)rows_[2 * q + 1] + kc + 8 * s);
                for (int t = 0; t < 4; t++)
                    _mm512_store_si512(panel + ((s + t) * 4 + q) * 16, _mm512_maskz_permutex2var_epi16(high_words, a, idx[t], b));
            }
    }
    for (; s < steps; s++)
        for (int q = 0; q < 4; q++)
            _mm512_store_ps(panel + (s * 4 + q) * 16, avx512_load_pair(rows_[2 * q], rows_[2 * q + 1], dtype, kc + 8 * s));
}

// The canonical sum of 16 outputs at once: a (row m) and b (row m + 1) hold 4 registers each,
// register q lanes 0-7 the chains of weight row 2q and lanes 8-15 those of row 2q + 1. The adds
// are the canonical tree's, operand for operand: t = s_l + s_(l+4); u = (t0 + t2), (t1 + t3);
// r = u0 + u1; the shuffles only move values. Then the tail and bias (finish()) when k is not a
// multiple of 8, else the bias add, and the nr outputs of each of `count` rows are stored.
// Inlined, with the registers passed by value, so the tiles' accumulators never go through memory.
TL_AVX512 __attribute__((always_inline)) static inline void avx512_finish_rows(
    __m512 a0, __m512 a1, __m512 a2, __m512 a3, __m512 b0, __m512 b1, __m512 b2, __m512 b3, int count,
    const float *x_row, int64_t ldx, const char *w, size_t row_bytes, int64_t k, const tl_linear_part *p,
    int64_t m, int64_t j, int nr) {
    // quad i of t: the 4 partial sums of weight row i (ta: rows 0-3, tb: rows 4-7).
    __m512 ta = _mm512_add_ps(_mm512_shuffle_f32x4(a0, a1, 0x88), _mm512_shuffle_f32x4(a0, a1, 0xDD));
    __m512 tb = _mm512_add_ps(_mm512_shuffle_f32x4(a2, a3, 0x88), _mm512_shuffle_f32x4(a2, a3, 0xDD));
    __m512 ua = _mm512_add_ps(_mm512_shuffle_ps(ta, tb, 0x44), _mm512_shuffle_ps(ta, tb, 0xEE));
    __m512 tc = _mm512_add_ps(_mm512_shuffle_f32x4(b0, b1, 0x88), _mm512_shuffle_f32x4(b0, b1, 0xDD));
    __m512 td = _mm512_add_ps(_mm512_shuffle_f32x4(b2, b3, 0x88), _mm512_shuffle_f32x4(b2, b3, 0xDD));
    __m512 ub = _mm512_add_ps(_mm512_shuffle_ps(tc, td, 0x44), _mm512_shuffle_ps(tc, td, 0xEE));
    // quad i of r: (row m, weight row i), (m, i + 4), (m + 1, i), (m + 1, i + 4).
    __m512 r = _mm512_add_ps(_mm512_shuffle_ps(ua, ub, 0x88), _mm512_shuffle_ps(ua, ub, 0xDD));
    // Lanes 0-7: row m's weight rows 0..7; lanes 8-15: row m + 1's.
    r = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
    int64_t k8 = k & ~(int64_t)7;
    if (k8 != k) {
        float sums[16];
        _mm512_storeu_ps(sums, r);
        for (int row = 0; row < count; row++)
            for (int n = 0; n < nr; n++)
                p->y[(m + row) * p->ldy + j + n] =
                    finish(sums[8 * row + n], x_row + row * ldx, w + n * row_bytes, p->dtype, k8, k, p->bias, j + n);
        return;
    }
    __mmask8 lanes = (__mmask8)((1u << nr) - 1);
    for (int row = 0; row < count; row++) {
        __m256 v = row == 0 ? _mm512_castps512_ps256(r) : _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r), 1));
        if (p->bias) v = _mm256_add_ps(v, _mm256_maskz_loadu_ps(lanes, p->bias + j));
        _mm256_mask_storeu_ps(p->y + (m + row) * p->ldy + j, lanes, v);
    }
}

// One tile: mr (1..6) activation rows (x: their packed columns from kc on, [step][mr][8]) × the
// panel's 8 weight rows over `steps` 8-column steps. chains: this tile's saved accumulators
// ([mr][4] zmm), read unless `first`, written unless `last`; when `last`, the outputs are finished
// and stored. The accumulators are named registers, not an array, so that the compiler keeps
// them in registers from the first load to the last store; instantiated below with a constant
// mr, whose rows past it are dead code.
#define AVX512_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
TL_AVX512 __attribute__((always_inline)) static inline void avx512_packed_tile(
    const int mr, const float *x, const float *panel, int64_t steps, float *chains, int first, int last,
    const float *x_row0, int64_t ldx, const char *w, size_t row_bytes, int64_t k, const tl_linear_part *p,
    int64_t m0, int64_t j, int nr) {
    __mmask16 load = first ? 0 : 0xFFFF;  // a masked-off load reads nothing and gives zeros
#define DECLARE(m)                                                                                  \
    __m512 a##m##0 = _mm512_setzero_ps(), a##m##1 = a##m##0, a##m##2 = a##m##0, a##m##3 = a##m##0;  \
    if (m < mr) {                                                                                   \
        a##m##0 = _mm512_maskz_load_ps(load, chains + (m * 4 + 0) * 16);                            \
        a##m##1 = _mm512_maskz_load_ps(load, chains + (m * 4 + 1) * 16);                            \
        a##m##2 = _mm512_maskz_load_ps(load, chains + (m * 4 + 2) * 16);                            \
        a##m##3 = _mm512_maskz_load_ps(load, chains + (m * 4 + 3) * 16);                            \
    }
    AVX512_ROWS(DECLARE)
#undef DECLARE
    for (int64_t s = 0; s < steps; s++) {
        const float *ws = panel + s * 64, *xs = x + s * 8 * mr;
        __m512 w0 = _mm512_load_ps(ws), w1 = _mm512_load_ps(ws + 16);
        __m512 w2 = _mm512_load_ps(ws + 32), w3 = _mm512_load_ps(ws + 48);
#define STEP(m)                                                                                     \
        if (m < mr) {                                                                               \
            __m512 xv = avx512_broadcast8(xs + 8 * m);                                              \
            a##m##0 = _mm512_fmadd_ps(xv, w0, a##m##0);                                             \
            a##m##1 = _mm512_fmadd_ps(xv, w1, a##m##1);                                             \
            a##m##2 = _mm512_fmadd_ps(xv, w2, a##m##2);                                             \
            a##m##3 = _mm512_fmadd_ps(xv, w3, a##m##3);                                             \
        }
        AVX512_ROWS(STEP)
#undef STEP
    }
    if (!last) {
#define SAVE(m)                                                                                     \
        if (m < mr) {                                                                               \
            _mm512_store_ps(chains + (m * 4 + 0) * 16, a##m##0);                                    \
            _mm512_store_ps(chains + (m * 4 + 1) * 16, a##m##1);                                    \
            _mm512_store_ps(chains + (m * 4 + 2) * 16, a##m##2);                                    \
            _mm512_store_ps(chains + (m * 4 + 3) * 16, a##m##3);                                    \
        }
        AVX512_ROWS(SAVE)
#undef SAVE
        return;
    }
    // Rows in pairs (m, m + 1); an odd last row pairs with itself and only its half is stored.
#define FINISH_PAIR(m, n)                                                                           \
    if (m < mr) {                                                                                   \
        if (n < mr)                                                                                 \
            avx512_finish_rows(a##m##0, a##m##1, a##m##2, a##m##3, a##n##0, a##n##1, a##n##2, a##n##3, 2, \
                               x_row0 + m * ldx, ldx, w, row_bytes, k, p, m0 + m, j, nr);           \
        else                                                                                        \
            avx512_finish_rows(a##m##0, a##m##1, a##m##2, a##m##3, a##m##0, a##m##1, a##m##2, a##m##3, 1, \
                               x_row0 + m * ldx, ldx, w, row_bytes, k, p, m0 + m, j, nr);           \
    }
    FINISH_PAIR(0, 1)
    FINISH_PAIR(2, 3)
    FINISH_PAIR(4, 5)
#undef FINISH_PAIR
}

#define AVX512_PACKED_TILE(MR)                                                                      \
    TL_AVX512 static void avx512_packed_tile_##MR(const float *x, int64_t ldx, const float *panel, int64_t steps, \
                                                  float *chains, int first, int last,               \
                                                  const float *x_row0, const char *w, size_t row_bytes, int64_t k, \
                                                  const tl_linear_part *p, int64_t m0, int64_t j, int nr) { \
        avx512_packed_tile(MR, x, panel, steps, chains, first, last, x_row0, ldx, w, row_bytes, k, p, m0, j, nr); \
    }

AVX512_PACKED_TILE(1)
AVX512_PACKED_TILE(2)
AVX512_PACKED_TILE(3)
AVX512_PACKED_TILE(4)
AVX512_PACKED_TILE(5)
AVX512_PACKED_TILE(6)

typedef void (*avx512_packed_tile_fn)(const float *x, int64_t ldx, const float *panel, int64_t steps, float *chains,
                                      int first, int last, const float *x_row0, const char *w, size_t row_bytes,
                                      int64_t k, const tl_linear_part *p, int64_t m0, int64_t j, int nr);
static const avx512_packed_tile_fn avx512_packed_tiles[AVX512_PACKED_MR] = {
    avx512_packed_tile_1, avx512_packed_tile_2, avx512_packed_tile_3,
    avx512_packed_tile_4, avx512_packed_tile_5, avx512_packed_tile_6 };

static void rows_avx512_packed(const float *x, int64_t rows, int64_t k, int64_t ldx, const tl_linear_part *p,
                               int64_t j0, int64_t j1) {
    int64_t k8 = k & ~(int64_t)7;
    int64_t chunks = (k8 + AVX512_KC - 1) / AVX512_KC;
    int64_t mb_rows = rows < AVX512_MB ? rows : AVX512_MB;
    // The panel (8 × AVX512_KC floats, 64-byte aligned) and, when k takes several chunks, the
    // chains of AVX512_MB rows × AVX512_NC weight rows (8 lanes each).
    int64_t chain_floats = chunks > 1 ? ((mb_rows + AVX512_PACKED_MR - 1) / AVX512_PACKED_MR) * AVX512_PACKED_MR * AVX512_NC * 8 : 0;
    // And the block's activation rows, packed tile by tile so each tile reads one sequential stream.
    float *scratch = tl_thread_scratch(TL_SCRATCH_WIDENED_WEIGHTS, 16 + 8 * AVX512_KC + chain_floats + mb_rows * k8);
    if (!scratch || k8 == 0) { rows_tiled(x, rows, k, ldx, p, j0, j1, &avx512_tiles[0][0][0], AVX512_MR); return; }
    float *panel = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *chains = panel + 8 * AVX512_KC, *packed_x = chains + chain_floats;
    size_t elem = p->dtype == TL_DTYPE_F32 ? 4 : 2, row_bytes = (size_t)k * elem;
    int64_t line_per_row = AVX512_KC * (int64_t)elem / 64;
    for (int64_t mb = 0; mb < rows; mb += AVX512_MB) {
        int64_t me = mb + AVX512_MB < rows ? mb + AVX512_MB : rows;
        // The block's rows in `tiles` tiles of as equal heights as can be (a 2-row tile would
        // leave the FMA units idle); tile t covers rows mb + tile_row(t) .. mb + tile_row(t + 1).
        int64_t tiles = (me - mb + AVX512_PACKED_MR - 1) / AVX512_PACKED_MR;
#define TILE_ROW(t) (mb + (t) * (me - mb) / tiles)
        // Tile t's rows at packed_x + (its first row - mb) · k8: for each 8-column step, their 8 columns.
        for (int64_t t = 0; t < tiles; t++) {
            int64_t m = TILE_ROW(t);
            int mr = (int)(TILE_ROW(t + 1) - m);
            float *tile_x = packed_x + (m - mb) * k8;
            for (int64_t s = 0; s < k8 / 8; s++)
                for (int r = 0; r < mr; r++) memcpy(tile_x + (s * mr + r) * 8, x + (m + r) * ldx + 8 * s, 32);
        }
        for (int64_t jc = j0; jc < j1; jc += AVX512_NC) {
            int64_t je = jc + AVX512_NC < j1 ? jc + AVX512_NC : j1;
            for (int64_t kc = 0; kc < k8; kc += AVX512_KC) {
                int64_t steps = (k8 - kc < AVX512_KC ? k8 - kc : AVX512_KC) / 8;
                int first = kc == 0, last = kc + AVX512_KC >= k8;
                for (int64_t j = jc; j < je; j += 8) {
                    int nr = (int)(je - j < 8 ? je - j : 8);
                    const char *w = (const char *)p->weight + (size_t)j * row_bytes;
                    avx512_widen_panel(w, row_bytes, nr, p->dtype, kc, steps, panel);
                    float *panel_chains = chains + (j - jc) / 8 * 4 * 16 * ((me - mb + AVX512_PACKED_MR - 1) / AVX512_PACKED_MR * AVX512_PACKED_MR);
                    // A later panel's weight bytes come from memory: its 8 rows' lines are asked
                    // for a few per tile while this panel's tiles run, so widening it does not wait.
                    int64_t next_j = j, next_kc = kc, next_jc = jc, next_je = je;
                    for (int ahead = 0; ahead < AVX512_PREFETCH_PANELS; ahead++) {
                        next_j += 8;
                        if (next_j < next_je) continue;
                        next_j = next_jc;
                        next_kc += AVX512_KC;
                        if (next_kc < k8) continue;
                        next_kc = 0;
                        next_jc = next_je;
                        next_je = next_jc + AVX512_NC < j1 ? next_jc + AVX512_NC : j1;
                        next_j = next_jc;
                    }
                    const char *next = (const char *)p->weight + (size_t)next_j * row_bytes + (size_t)next_kc * elem;
                    int64_t lines = 8 * line_per_row;
                    for (int64_t tile = 0; tile < tiles; tile++) {
                        int64_t m = TILE_ROW(tile);
                        int mr = (int)(TILE_ROW(tile + 1) - m);
                        if (TL_PREFETCH && next_j < j1)
                            for (int64_t l = tile * lines / tiles; l < (tile + 1) * lines / tiles; l++)
                                __builtin_prefetch(next + (l / line_per_row) * row_bytes + (l % line_per_row) * 64, 0, AVX512_PREFETCH_LOCALITY);
                        avx512_packed_tiles[mr - 1](packed_x + (m - mb) * k8 + kc * mr, ldx, panel, steps,
                                                    panel_chains + (m - mb) * 4 * 16, first, last,
                                                    x + m * ldx, w, row_bytes, k, p, m, j, nr);
                    }
                }
            }
        }
    }
}
#undef TILE_ROW

// Activation rows from which the packed path beats the streaming tiles. Measured on Zen 5 (one
// thread, process CPU time on a shared box, scripts/bench-linear's four products of a 1.5B
// layer, bf16), packed time / streaming time: 12 rows 1.35, 16 rows 1.18, 20 rows 1.07, 24 rows
// 1.01 (three full 8-row streaming tiles), 28 rows 0.88, 32 rows 0.89, 40 rows 0.84, 64 rows
// 0.79. Both give the same bits.
#ifndef AVX512_PACKED_MIN_ROWS
#define AVX512_PACKED_MIN_ROWS 25
#endif

static void rows_avx512(const float *x, int64_t rows, int64_t k, int64_t ldx, const tl_linear_part *p,
                        int64_t j0, int64_t j1) {
    if (rows >= AVX512_PACKED_MIN_ROWS) rows_avx512_packed(x, rows, k, ldx, p, j0, j1);
    else rows_tiled(x, rows, k, ldx, p, j0, j1, &avx512_tiles[0][0][0], AVX512_MR);
}
#endif  // TL_X86

// ---------------------------------------------------------------------------------------------
// aarch64 NEON: an 8-lane chain is two 4-lane registers (lanes 0-3 and 4-7), so the canonical
// sum is ((a0+b0)+(a2+b2)) + ((a1+b1)+(a3+b3)) of those two. Tiles of up to 3 activation rows ×
// 4 weight rows: 24 accumulators, 6 activation and 2 weight registers of the 32.

#if defined(__aarch64__)
#include <arm_neon.h>
#define TL_NEON 1

typedef struct { float32x4_t lo, hi; } neon8;

static inline neon8 neon_load_w(const void *w, int dtype, int64_t i) {
    neon8 r;
    if (dtype == TL_DTYPE_BF16) {
        uint16x8_t h = vld1q_u16((const uint16_t *)w + i);
        r.lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        r.hi = vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16));
    } else if (dtype == TL_DTYPE_F16) {
        float16x8_t h = vreinterpretq_f16_u16(vld1q_u16((const uint16_t *)w + i));
        r.lo = vcvt_f32_f16(vget_low_f16(h));
        r.hi = vcvt_high_f32_f16(h);
    } else {
        r.lo = vld1q_f32((const float *)w + i);
        r.hi = vld1q_f32((const float *)w + i + 4);
    }
    return r;
}

static inline float neon_hsum(float32x4_t a, float32x4_t b) {
    float32x4_t t = vaddq_f32(a, b);  // s0+s4, s1+s5, s2+s6, s3+s7
    return (vgetq_lane_f32(t, 0) + vgetq_lane_f32(t, 2)) + (vgetq_lane_f32(t, 1) + vgetq_lane_f32(t, 3));
}

#define NEON_TILE(MR, NR, DT)                                                                       \
    static void neon_tile_##MR##_##NR##_##DT(const float *x, int64_t ldx, const char *w,           \
                                             size_t row_bytes, int64_t k, const tl_linear_part *p,  \
                                             int64_t m0, int64_t j) {                               \
        float32x4_t lo[MR][NR], hi[MR][NR];                                                         \
        for (int m = 0; m < MR; m++)                                                                \
            for (int n = 0; n < NR; n++) lo[m][n] = hi[m][n] = vdupq_n_f32(0);                      \
        int64_t k8 = k & ~(int64_t)7;                                                               \
        for (int64_t kk = 0; kk < k8; kk += 8) {                                                    \
            TL_PREFETCH_NEXT_TILE(w, NR, row_bytes, kk, DT);                                        \
            float32x4_t xl[MR], xh[MR];                                                             \
            for (int m = 0; m < MR; m++) {                                                          \
                xl[m] = vld1q_f32(x + m * ldx + kk);                                                \
                xh[m] = vld1q_f32(x + m * ldx + kk + 4);                                            \
            }                                                                                       \
            for (int n = 0; n < NR; n++) {                                                          \
                neon8 wv = neon_load_w(w + n * row_bytes, DT, kk);                                  \
                for (int m = 0; m < MR; m++) {                                                      \
                    lo[m][n] = vfmaq_f32(lo[m][n], xl[m], wv.lo);                                   \
                    hi[m][n] = vfmaq_f32(hi[m][n], xh[m], wv.hi);                                   \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
        for (int m = 0; m < MR; m++)                                                                \
            for (int n = 0; n < NR; n++) {                                                          \
                float r = neon_hsum(lo[m][n], hi[m][n]);                                            \
                p->y[(m0 + m) * p->ldy + j + n] =                                                   \
                    finish(r, x + m * ldx, w + n * row_bytes, DT, k8, k, p->bias, j + n);           \
            }                                                                                       \
    }

TL_TILES_3x4(NEON_TILE, 0)
TL_TILES_3x4(NEON_TILE, 1)
TL_TILES_3x4(NEON_TILE, 2)

static const tile_fn neon_tiles[3][3][4] = {
    TL_TILE_TABLE_3x4(neon, 0), TL_TILE_TABLE_3x4(neon, 1), TL_TILE_TABLE_3x4(neon, 2) };

static void rows_neon(const float *x, int64_t rows, int64_t k, int64_t ldx, const tl_linear_part *p,
                      int64_t j0, int64_t j1) {
    rows_tiled(x, rows, k, ldx, p, j0, j1, &neon_tiles[0][0][0], 3);
}

static float dot_neon(const float *a, const float *b, int64_t n) {
    float32x4_t lo = vdupq_n_f32(0), hi = vdupq_n_f32(0);
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i += 8) {
        lo = vfmaq_f32(lo, vld1q_f32(a + i), vld1q_f32(b + i));
        hi = vfmaq_f32(hi, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    float r = neon_hsum(lo, hi);
    for (int64_t i = n8; i < n; i++) r = fmaf(a[i], b[i], r);
    return r;
}
#endif  // __aarch64__

// ---------------------------------------------------------------------------------------------
// Dispatch. The path is resolved once per call (kernel_path.c) and every thread runs it.

typedef struct {
    const float *x;
    int64_t rows, k, ldx;
    const tl_linear_part *parts;
    int part_count;
    int path;
    int64_t total;  // Σ n over parts
} linear_job;

// Splits the concatenated output features into one contiguous range per thread, on 4-row
// boundaries so every tile is full except a part's last.
static void linear_task(void *context, int index, int count) {
    const linear_job *job = (const linear_job *)context;
    int64_t blocks = (job->total + 3) / 4;
    int64_t b0 = blocks * index / count, b1 = blocks * (index + 1) / count;
    int64_t lo = b0 * 4, hi = b1 * 4 < job->total ? b1 * 4 : job->total;
    int64_t base = 0;
    for (int q = 0; q < job->part_count && lo < hi; q++) {
        const tl_linear_part *p = &job->parts[q];
        int64_t s = lo > base ? lo - base : 0;
        int64_t e = hi - base < p->n ? hi - base : p->n;
        if (s < e) {
#ifdef TL_X86
            if (job->path == TL_PATH_AVX512) rows_avx512(job->x, job->rows, job->k, job->ldx, p, s, e);
            else if (job->path == TL_PATH_AVX2) rows_avx2(job->x, job->rows, job->k, job->ldx, p, s, e);
            else
#endif
#ifdef TL_NEON
            if (job->path == TL_PATH_NEON) rows_neon(job->x, job->rows, job->k, job->ldx, p, s, e);
            else
#endif
                rows_portable(job->x, job->rows, job->k, job->ldx, p, s, e);
        }
        base += p->n;
    }
}

void tl_linear(const float *x, int64_t rows, int64_t k, int64_t ldx,
               const tl_linear_part *parts, int part_count, int path) {
    if (rows <= 0 || part_count <= 0) return;
    linear_job job = { x, rows, k, ldx, parts, part_count, tl_kernel_path(path), 0 };
    for (int q = 0; q < part_count; q++) job.total += parts[q].n;
    if (rows * job.total * k < TL_PARALLEL_MIN_MACS) linear_task(&job, 0, 1);
    else tl_parallel(linear_task, &job);
}

void tl_linear_reference(const float *x, int64_t rows, int64_t k, int64_t ldx,
                         const tl_linear_part *parts, int part_count) {
    for (int q = 0; q < part_count; q++) {
        const tl_linear_part *p = &parts[q];
        for (int64_t m = 0; m < rows; m++)
            for (int64_t j = 0; j < p->n; j++) {
                double sum = p->bias ? (double)p->bias[j] : 0.0;
                for (int64_t t = 0; t < k; t++)
                    sum += (double)x[m * ldx + t] * (double)load_weight(p->weight, p->dtype, j * k + t);
                p->y[m * p->ldy + j] = (float)sum;
            }
    }
}

float tl_dot(const float *a, const float *b, int64_t n, int path) {
    path = tl_kernel_path(path);
#ifdef TL_X86
    if (path != TL_PATH_PORTABLE) return dot_avx2(a, b, n);
#endif
#ifdef TL_NEON
    if (path == TL_PATH_NEON) return dot_neon(a, b, n);
#endif
    float r = dot_portable(a, b, TL_DTYPE_F32, n);
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = n8; i < n; i++) r = fmaf(a[i], b[i], r);
    return r;
}
