// Holds every linear-kernel path this CPU (or emulator) can run to the portable path's bits, on
// the shapes that exercise each path's tiles, edges and k tails, and prints a digest of the
// portable results so that two machines (x86-64 and aarch64, say) can be compared: the same
// digest means a run split over both gives the same activations.
//
// The other kernels are held to the same standard: the SAE encoder's GEMM, its top-k and
// groupmax folds and bf16 widening, and attention (one row, and a batch over the pool).
//
//   cc -O2 -I Sources/CKernels/include scripts/lib/kernel_paths.c \
//      Sources/CKernels/{kernel_path,tl_linear,tl_ops,tl_threads,cpu_features,sae_gemm,sae_kernels}.c -lpthread -lm
//   ./a.out            prints "auto path NAME", one line per case, "digest HEX" and "N passed, M failed"
#include "sae_gemm.h"
#include "sae_kernels.h"
#include "tl_exp.h"
#include "tl_linear.h"
#include "tl_ops.h"
#include "tl_threads.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int dtype; int64_t rows, k, n; } shape;

static uint64_t state;
static float next_value(void) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((int64_t)(state >> 11) % 2000000) / 1000000.0f - 1.0f;
}

static uint16_t to_bf16(float f) { uint32_t u; memcpy(&u, &f, 4); return (uint16_t)(u >> 16); }

static uint16_t to_f16(float f) {
    // Round-toward-zero half: any exact half value will do, the kernels only widen it.
    uint32_t u; memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, exponent = (u >> 23) & 0xFF, mantissa = (u >> 13) & 0x3FF;
    if (exponent < 103) return (uint16_t)sign;
    if (exponent < 113) return (uint16_t)(sign | ((0x400 | mantissa) >> (113 - exponent)));
    return (uint16_t)(sign | ((exponent - 112) << 10) | mantissa);
}

static uint64_t fnv(uint64_t h, const void *bytes, size_t n) {
    const unsigned char *b = bytes;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 1099511628211ULL; }
    return h;
}

// The m × n pre-activations, row-major, out of tl_sae_gemm's latent-strip layout (padding dropped).
static void sae_rows(const float *pre, size_t m, size_t n, float *out) {
    size_t rows_padded = (m + TL_SAE_MR - 1) / TL_SAE_MR * TL_SAE_MR;
    for (size_t r = 0; r < m; r++)
        for (size_t j = 0; j < n; j++)
            out[r * n + j] = pre[(j / TL_SAE_NR) * rows_padded * TL_SAE_NR + r * TL_SAE_NR + j % TL_SAE_NR];
}

static int passed, failed;
static uint64_t digest = 1469598103934665603ULL;
static const char *names[] = {"auto", "portable", "avx2", "avx512", "neon"};

static void report(const char *what, int path, int same) {
    printf("%s: %s %s\n", what, names[path], same ? "bit-identical to portable" : "DIFFERS from portable");
    same ? passed++ : failed++;
}

// The block of pre-activations for latents [j0, j0 + cols) of a row-major [m, n] matrix, in
// tl_sae_gemm's strip layout (as the encoder hands each latent panel to the folds).
static size_t strip_block(const float *full, size_t m, size_t n, size_t j0, size_t cols, float *block) {
    size_t stride = (m + TL_SAE_MR - 1) / TL_SAE_MR * TL_SAE_MR * TL_SAE_NR;
    for (size_t r = 0; r < m; r++)
        for (size_t j = 0; j < cols; j++) block[(j / TL_SAE_NR) * stride + r * TL_SAE_NR + j % TL_SAE_NR] = full[r * n + j0 + j];
    return stride;
}

typedef struct { float *values; int32_t *indices, *filled; } topk_state;

// Top-k of `m` rows over latents [0, n), folded in panels of `panel` latents as the encoder
// does, then completed; or groupmax (k groups) when group_size > 0.
static void sae_select(const float *full, const float *bias, size_t m, size_t n, size_t panel, int k,
                       int32_t group_size, int path, topk_state out) {
    float *block = malloc(sizeof(float) * tl_sae_pre_floats(m, panel));
    if (group_size > 0) {
        for (size_t i = 0; i < m * (size_t)k; i++) { out.values[i] = -1; out.indices[i] = -1; }
    } else {
        tl_sae_topk_reset(out.values, out.indices, out.filled, m, k);
    }
    for (size_t j0 = 0; j0 < n; j0 += panel) {
        size_t cols = n - j0 < panel ? n - j0 : panel;
        size_t stride = strip_block(full, m, n, j0, cols, block);
        if (group_size > 0)
            tl_sae_groupmax_fold(block, stride, m, cols, bias + j0, (int32_t)j0, group_size, k, out.values, out.indices, path);
        else
            tl_sae_topk_fold(block, stride, m, cols, bias + j0, (int32_t)j0, k, out.values, out.indices, out.filled, path);
    }
    if (group_size == 0) tl_sae_topk_finish(out.values, out.indices, out.filled, m, k);
    free(block);
}

static int same_state(topk_state a, topk_state b, size_t m, int k, int with_filled) {
    return memcmp(a.values, b.values, sizeof(float) * m * (size_t)k) == 0 &&
           memcmp(a.indices, b.indices, sizeof(int32_t) * m * (size_t)k) == 0 &&
           (!with_filled || memcmp(a.filled, b.filled, sizeof(int32_t) * m) == 0);
}

// The SAE encoder GEMM at small shapes, each path against the portable one: every row count
// 1..13 (one 6-row strip, two, three; full and padded), k from 1 step to past two 128-step
// blocks (tails of every length the paths' 8- and 4-step loops leave: 1, 7, 8, 13, 131, 263),
// n of a part strip, exactly one strip and several with a padded last one (3, 16, 37, 50), f32
// and bf16 weights, weight rows k or k + 9 elements apart. One line per path and weight type; the
// first shape that differs is named.
static void test_sae_gemm_shapes(void) {
    const size_t ks[] = {1, 7, 8, 13, 131, 263}, ns[] = {3, 16, 37, 50};
    const size_t max_m = 13, max_k = 263, max_n = 50, max_ldw = max_k + 9;
    float *x = malloc(sizeof(float) * max_m * max_k), *packed = malloc(sizeof(float) * tl_sae_packed_rows_floats(max_m, max_k));
    unsigned char *w = malloc(max_n * max_ldw * 4);
    size_t floats = tl_sae_pre_floats(max_m, max_n);
    float *pre = malloc(sizeof(float) * floats), *valid = malloc(sizeof(float) * max_m * max_n);
    float *other = malloc(sizeof(float) * max_m * max_n);
    for (int bf16 = 0; bf16 <= 1; bf16++) {
        int same[TL_PATH_NEON + 1];
        char first_difference[TL_PATH_NEON + 1][96];
        for (int path = 0; path <= TL_PATH_NEON; path++) { same[path] = 1; first_difference[path][0] = 0; }
        state = 151 + (uint64_t)bf16;
        for (size_t m = 1; m <= max_m; m++) {
            for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                    size_t k = ks[ki], n = ns[ni], ldw = k + (m % 2 ? 0 : 9);
                    for (size_t i = 0; i < m * k; i++) x[i] = next_value();
                    for (size_t i = 0; i < n * ldw; i++) {
                        float f = next_value();
                        if (bf16) { uint16_t h = to_bf16(f); memcpy(w + i * 2, &h, 2); } else memcpy(w + i * 4, &f, 4);
                    }
                    tl_sae_pack_rows(x, k, m, k, packed);
                    tl_sae_gemm(packed, m, k, w, bf16, ldw, n, pre, TL_PATH_PORTABLE);
                    sae_rows(pre, m, n, valid);
                    digest = fnv(digest, valid, sizeof(float) * m * n);
                    for (int path = TL_PATH_AVX2; path <= TL_PATH_NEON; path++) {
                        if (!tl_kernel_path_available(path)) continue;
                        tl_sae_gemm(packed, m, k, w, bf16, ldw, n, pre, path);
                        sae_rows(pre, m, n, other);
                        if (memcmp(other, valid, sizeof(float) * m * n) != 0 && same[path]) {
                            same[path] = 0;
                            snprintf(first_difference[path], sizeof first_difference[path],
                                     " (first at m %zu k %zu n %zu ldw %zu)", m, k, n, ldw);
                        }
                    }
                }
            }
        }
        for (int path = TL_PATH_AVX2; path <= TL_PATH_NEON; path++) {
            if (!tl_kernel_path_available(path)) continue;
            char what[160];
            snprintf(what, sizeof what, "SAE gemm %s weights, m 1..13 x k 1..263 x n 3..50%s",
                     bf16 ? "bf16" : "f32", first_difference[path]);
            report(what, path, same[path]);
        }
    }
    free(x); free(packed); free(w); free(pre); free(valid); free(other);
}

// SAE top-k and groupmax: 13 rows (the pool splits them unevenly), 150 latents in panels of 37
// (each panel ends mid-strip and mid-8-lane step; panels split groupmax's groups), values on a
// grid of 1/8 so that equal values and ties at the k-th place occur (k = 5 and 40); with k = 80
// every row has fewer than k positive latents, which tl_sae_topk_finish completes. NaN (which
// never enters), infinities and negative zero are mixed in: single ones, a whole 16-latent row of
// a strip, and a NaN bias that makes one latent NaN in every row.
static void test_sae_select(void) {
    const size_t m = 13, n = 150, panel = 37;
    state = 301;
    float *full = malloc(sizeof(float) * m * n), *bias = malloc(sizeof(float) * n);
    for (size_t i = 0; i < m * n; i++) full[i] = floorf(next_value() * 8.0f) / 8.0f;
    for (size_t j = 0; j < n; j++) bias[j] = floorf(next_value() * 4.0f) / 16.0f;
    full[2 * n + 4] = NAN; full[2 * n + 20] = INFINITY; full[2 * n + 21] = -INFINITY; full[2 * n + 60] = INFINITY;
    for (size_t j = 16; j < 32; j++) full[5 * n + j] = NAN;
    for (size_t j = 0; j < n; j += 3) full[7 * n + j] = -0.0f;
    full[9 * n + 36] = NAN; full[9 * n + 37] = INFINITY;
    bias[41] = NAN; bias[100] = -INFINITY;
    const struct { int k; int32_t group_size; const char *what; } cases[] = {
        {5, 0, "SAE top-k k 5"}, {40, 0, "SAE top-k k 40"}, {80, 0, "SAE top-k k 80"}, {10, 15, "SAE groupmax k 10"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int k = cases[c].k;
        topk_state portable = {malloc(sizeof(float) * m * (size_t)k), malloc(sizeof(int32_t) * m * (size_t)k), malloc(sizeof(int32_t) * m)};
        topk_state other = {malloc(sizeof(float) * m * (size_t)k), malloc(sizeof(int32_t) * m * (size_t)k), malloc(sizeof(int32_t) * m)};
        int with_filled = cases[c].group_size == 0;
        sae_select(full, bias, m, n, panel, k, cases[c].group_size, TL_PATH_PORTABLE, portable);
        digest = fnv(digest, portable.values, sizeof(float) * m * (size_t)k);
        digest = fnv(digest, portable.indices, sizeof(int32_t) * m * (size_t)k);
        if (with_filled) digest = fnv(digest, portable.filled, sizeof(int32_t) * m);
        for (int path = TL_PATH_AVX2; path <= TL_PATH_NEON; path++) {
            if (!tl_kernel_path_available(path)) continue;
            sae_select(full, bias, m, n, panel, k, cases[c].group_size, path, other);
            report(cases[c].what, path, same_state(other, portable, m, k, with_filled));
        }
        // The rows' split over the pool must not matter either.
        int same = 1;
        for (int threads = 1; threads <= 3; threads += 2) {
            tl_set_threads(threads);
            sae_select(full, bias, m, n, panel, k, cases[c].group_size, TL_PATH_AUTO, other);
            same = same && same_state(other, portable, m, k, with_filled);
        }
        tl_set_threads(2);
        printf("%s: auto on 1 and 3 threads %s\n", cases[c].what, same ? "bit-identical to portable" : "DIFFERS from portable");
        same ? passed++ : failed++;
        free(portable.values); free(portable.indices); free(portable.filled);
        free(other.values); free(other.indices); free(other.filled);
    }
    free(full); free(bias);
}

// bf16 widening: 75 values (four 16-lane steps and a tail), including signed zero, infinity, NaN;
// and every length 0..75, so that each tail length meets each path's steps.
static void test_bf16_widening(void) {
    enum { N = 75 };
    uint16_t src[N];
    float portable[N], other[N];
    state = 401;
    for (int i = 0; i < N; i++) src[i] = to_bf16(next_value() * 100.0f);
    src[3] = 0x8000; src[20] = 0x7F80; src[41] = 0x7FC1; src[74] = 0x0001;
    tl_sae_bf16_to_f32(src, portable, N, TL_PATH_PORTABLE);
    digest = fnv(digest, portable, sizeof portable);
    for (int path = TL_PATH_AVX2; path <= TL_PATH_NEON; path++) {
        if (!tl_kernel_path_available(path)) continue;
        int same = 1;
        for (int length = 0; length <= N; length++) {
            for (int i = 0; i < N; i++) other[i] = -1.0f;
            tl_sae_bf16_to_f32(src, other, (size_t)length, path);
            same = same && memcmp(other, portable, sizeof(float) * (size_t)length) == 0;
            for (int i = length; i < N; i++) same = same && other[i] == -1.0f;  // nothing written past the end
        }
        report("SAE bf16 widening, lengths 0..75", path, same);
    }
}

// Attention: 6 query heads over 2 KV heads; head_dim 20 (two 8-lane steps and a tail) and 64;
// contexts of 1, 7 and 200 positions. Each query alone (tl_attention_row) and all of them in one
// batch (tl_attention; at head_dim 64 it is enough work to be split over the pool) against the
// portable row kernel.
static void test_attention(void) {
    enum { HEADS = 6, KV_HEADS = 2, CAPACITY = 200, QUERIES = 3 };
    const int64_t lengths[QUERIES] = {1, 7, 200};
    const int head_dims[] = {20, 64};
    for (size_t d = 0; d < sizeof head_dims / sizeof head_dims[0]; d++) {
        int head_dim = head_dims[d];
        size_t out_floats = (size_t)HEADS * (size_t)head_dim, cache_floats = (size_t)KV_HEADS * CAPACITY * (size_t)head_dim;
        state = 501 + (uint64_t)d;
        float *q = malloc(sizeof(float) * QUERIES * out_floats), *kv = malloc(sizeof(float) * QUERIES * 2 * cache_floats);
        for (size_t i = 0; i < QUERIES * out_floats; i++) q[i] = next_value();
        for (size_t i = 0; i < QUERIES * 2 * cache_floats; i++) kv[i] = next_value();
        float *portable = malloc(sizeof(float) * QUERIES * out_floats), *other = malloc(sizeof(float) * QUERIES * out_floats);
        float scores[CAPACITY];
        float scale = 1.0f / sqrtf((float)head_dim);
        tl_attention_query queries[QUERIES];
        for (int i = 0; i < QUERIES; i++) {
            const float *keys = kv + (size_t)i * 2 * cache_floats;
            tl_attention_row(q + i * out_floats, keys, keys + cache_floats, CAPACITY, HEADS, KV_HEADS, head_dim,
                             lengths[i], scale, scores, portable + i * out_floats, TL_PATH_PORTABLE);
            queries[i] = (tl_attention_query){q + i * out_floats, keys, keys + cache_floats, lengths[i], other + i * out_floats};
        }
        digest = fnv(digest, portable, sizeof(float) * QUERIES * out_floats);
        char what[64];
        for (int path = TL_PATH_AVX2; path <= TL_PATH_NEON; path++) {
            if (!tl_kernel_path_available(path)) continue;
            for (int i = 0; i < QUERIES; i++)
                tl_attention_row(queries[i].q, queries[i].keys, queries[i].values, CAPACITY, HEADS, KV_HEADS, head_dim,
                                 lengths[i], scale, scores, other + i * out_floats, path);
            snprintf(what, sizeof what, "attention head_dim %d, one row", head_dim);
            report(what, path, memcmp(other, portable, sizeof(float) * QUERIES * out_floats) == 0);
        }
        for (int path = TL_PATH_PORTABLE; path <= TL_PATH_NEON; path++) {
            if (!tl_kernel_path_available(path)) continue;
            memset(other, 0, sizeof(float) * QUERIES * out_floats);
            tl_attention(queries, QUERIES, CAPACITY, HEADS, KV_HEADS, head_dim, scale, TL_DTYPE_F32, path);
            snprintf(what, sizeof what, "attention head_dim %d, batch of %d", head_dim, QUERIES);
            report(what, path, memcmp(other, portable, sizeof(float) * QUERIES * out_floats) == 0);
        }
        free(q); free(kv); free(portable); free(other);
    }
}

// Attention over a prompt: the rows of a prefill step read the same keys and values, so paths
// may attend several of them together. Rows of two sequences (lengths 1..13 and 190..209, so
// blocks fill, break at the sequence boundary and end ragged), groups of 1, 6 and 8 query heads per
// KV head, head_dim 128 (the model's), 72 (a partial 64-lane value chunk) and 20 (a dot-product
// tail), each query against the portable row kernel.
static void test_attention_prompt(void) {
    enum { KV_HEADS = 2, CAPACITY = 211, FIRST = 13, SECOND = 20, QUERIES = FIRST + SECOND };
    const int head_dims[] = {128, 72, 20}, groups[] = {1, 6, 8};
    for (size_t d = 0; d < sizeof head_dims / sizeof head_dims[0]; d++)
        for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
            int head_dim = head_dims[d], heads = KV_HEADS * groups[g];
            size_t out_floats = (size_t)heads * (size_t)head_dim, cache_floats = (size_t)KV_HEADS * CAPACITY * (size_t)head_dim;
            state = 901 + 10 * (uint64_t)d + (uint64_t)g;
            float *q = malloc(sizeof(float) * QUERIES * out_floats), *kv = malloc(sizeof(float) * 2 * 2 * cache_floats);
            for (size_t i = 0; i < QUERIES * out_floats; i++) q[i] = next_value() * 4;
            for (size_t i = 0; i < 2 * 2 * cache_floats; i++) kv[i] = next_value();
            float *portable = malloc(sizeof(float) * QUERIES * out_floats), *other = malloc(sizeof(float) * QUERIES * out_floats);
            float scores[CAPACITY];
            float scale = 1.0f / sqrtf((float)head_dim);
            tl_attention_query queries[QUERIES];
            for (int i = 0; i < QUERIES; i++) {
                int second = i >= FIRST;
                const float *keys = kv + (size_t)second * 2 * cache_floats;
                int64_t length = second ? 190 + (i - FIRST) : 1 + i;
                tl_attention_row(q + i * out_floats, keys, keys + cache_floats, CAPACITY, heads, KV_HEADS, head_dim,
                                 length, scale, scores, portable + i * out_floats, TL_PATH_PORTABLE);
                queries[i] = (tl_attention_query){q + i * out_floats, keys, keys + cache_floats, length, other + i * out_floats};
            }
            digest = fnv(digest, portable, sizeof(float) * QUERIES * out_floats);
            char what[96];
            for (int path = TL_PATH_PORTABLE; path <= TL_PATH_NEON; path++) {
                if (!tl_kernel_path_available(path)) continue;
                memset(other, 0, sizeof(float) * QUERIES * out_floats);
                tl_attention(queries, QUERIES, CAPACITY, heads, KV_HEADS, head_dim, scale, TL_DTYPE_F32, path);
                snprintf(what, sizeof what, "attention over prompts, head_dim %d, %d heads per KV head", head_dim, groups[g]);
                report(what, path, memcmp(other, portable, sizeof(float) * QUERIES * out_floats) == 0);
            }
            // The same over a bfloat16 cache: every path against the portable row kernel on the
            // cache widened back to float32.
            uint16_t *kv16 = malloc(sizeof(uint16_t) * 2 * 2 * cache_floats);
            tl_bf16_from_f32_array(kv, (int64_t)(2 * 2 * cache_floats), kv16);
            for (size_t i = 0; i < 2 * 2 * cache_floats; i++) {
                uint32_t bits = (uint32_t)kv16[i] << 16;
                memcpy(&kv[i], &bits, 4);
            }
            tl_attention_query queries16[QUERIES];
            for (int i = 0; i < QUERIES; i++) {
                int second = i >= FIRST;
                const float *keys = kv + (size_t)second * 2 * cache_floats;
                tl_attention_row(q + i * out_floats, keys, keys + cache_floats, CAPACITY, heads, KV_HEADS, head_dim,
                                 queries[i].length, scale, scores, portable + i * out_floats, TL_PATH_PORTABLE);
                const uint16_t *keys16 = kv16 + (size_t)second * 2 * cache_floats;
                queries16[i] = (tl_attention_query){q + i * out_floats, keys16, keys16 + cache_floats, queries[i].length,
                                                    other + i * out_floats};
            }
            digest = fnv(digest, portable, sizeof(float) * QUERIES * out_floats);
            for (int path = TL_PATH_PORTABLE; path <= TL_PATH_NEON; path++) {
                if (!tl_kernel_path_available(path)) continue;
                memset(other, 0, sizeof(float) * QUERIES * out_floats);
                tl_attention(queries16, QUERIES, CAPACITY, heads, KV_HEADS, head_dim, scale, TL_DTYPE_BF16, path);
                snprintf(what, sizeof what, "attention over prompts, bf16 cache, head_dim %d, %d heads per KV head",
                         head_dim, groups[g]);
                report(what, path, memcmp(other, portable, sizeof(float) * QUERIES * out_floats) == 0);
            }
            free(kv16);
            free(q); free(kv); free(portable); free(other);
        }
}

// Rounding to bfloat16 as torch does (nearest, ties to even; NaN stays NaN): halfway cases
// either way, the largest finite values, infinities and NaN.
static void test_bf16_rounding(void) {
    const struct { uint32_t in; uint16_t out; } cases[] = {
        {0x3f808000u, 0x3f80}, {0x3f818000u, 0x3f82}, {0x3f808001u, 0x3f81}, {0x3f807fffu, 0x3f80},
        {0xbf818000u, 0xbf82}, {0x7f7fffffu, 0x7f80}, {0x7f7f7fffu, 0x7f7f}, {0x7f800000u, 0x7f80},
        {0xff800000u, 0xff80}, {0x7fc00000u, 0x7fc0}, {0x7f800001u, 0x7fc0}, {0x00000001u, 0x0000}, {0x80000000u, 0x8000}};
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float x;
        memcpy(&x, &cases[i].in, 4);
        if (tl_bf16_from_f32(x) != cases[i].out) {
            printf("bf16 of 0x%08x: 0x%04x, expected 0x%04x\n", cases[i].in, tl_bf16_from_f32(x), cases[i].out);
            ok = 0;
        }
    }
    report("bf16 rounding of the KV cache", TL_PATH_PORTABLE, ok);
}

// The softmax's exp: every path against tl_expf on a stride through all 2^32 float bit patterns
// (every sign, exponent, NaN and infinity, and the thresholds themselves), and tl_expf against
// this libm's expf where that is glibc's x86-64 FMA build, whose operations it repeats (the
// whole range was compared once; see docs/long-context.md). Elsewhere the agreement is printed.
static void test_exp(void) {
    enum { BLOCK = 4096 };
    static float x[BLOCK], reference[BLOCK], other[BLOCK];
    const uint32_t stride = 9973;
    const float edges[] = {0x1.62e42ep6f, 0x1.62e430p6f, -0x1.9fe368p6f, -0x1.9fe366p6f, -0x1.9d1d9ep6f,
                           -0x1.9d1d9cp6f, -0x1.9d1da0p6f, 88.0f, -88.0f, -87.99999f, 0.0f, -0.0f, INFINITY, -INFINITY, NAN};
    long long libm_differences = 0, values = 0;
    int path_failed[TL_PATH_NEON + 1] = {0};
    uint64_t u = 0;
    size_t edge = 0;
    while (u <= 0xffffffffull || edge < sizeof edges / sizeof edges[0]) {
        int m = 0;
        for (; m < BLOCK && edge < sizeof edges / sizeof edges[0] && u > 0xffffffffull; m++) x[m] = edges[edge++];
        for (; m < BLOCK && u <= 0xffffffffull; m++, u += stride) {
            uint32_t bits = (uint32_t)u;
            memcpy(&x[m], &bits, 4);
        }
        for (int i = 0; i < m; i++) {
            reference[i] = tl_expf(x[i]);
            float libm = expf(x[i]);
            libm_differences += memcmp(&libm, &reference[i], 4) != 0;
        }
        digest = fnv(digest, reference, sizeof(float) * (size_t)m);
        values += m;
        for (int path = TL_PATH_PORTABLE; path <= TL_PATH_NEON; path++) {
            if (!tl_kernel_path_available(path)) continue;
            memcpy(other, x, sizeof(float) * (size_t)m);
            tl_exp_shifted(other, m, 0.0f, path);
            path_failed[path] |= memcmp(other, reference, sizeof(float) * (size_t)m) != 0;
        }
    }
    char what[96];
    snprintf(what, sizeof what, "exp on %lld floats", values);
    for (int path = TL_PATH_PORTABLE; path <= TL_PATH_NEON; path++)
        if (tl_kernel_path_available(path)) report(what, path, !path_failed[path]);
#if defined(__x86_64__) && defined(__GLIBC__)
    if (tl_kernel_path_available(TL_PATH_AVX2)) {
        snprintf(what, sizeof what, "exp on %lld floats against glibc's expf", values);
        report(what, TL_PATH_PORTABLE, libm_differences == 0);
        return;
    }
#endif
    printf("exp: tl_expf differs from this libm's expf on %lld of %lld floats (information only)\n", libm_differences, values);
}

// One linear case: random weights in `dtype`, x [rows, k], with or without a bias; every path this
// CPU runs against the portable one (and tl_dot on x's first row). Prints a line per path only when
// `quiet` is 0; returns the number of paths that differ.
static int linear_case(int dtype, int64_t rows, int64_t k, int64_t n, int with_bias, int quiet) {
    size_t elem = dtype == TL_DTYPE_F32 ? 4 : 2;
    unsigned char *w = malloc((size_t)(n * k) * elem);
    for (int64_t i = 0; i < n * k; i++) {
        float f = next_value();
        if (dtype == TL_DTYPE_F32) memcpy(w + i * 4, &f, 4);
        else { uint16_t h = dtype == TL_DTYPE_BF16 ? to_bf16(f) : to_f16(f); memcpy(w + i * 2, &h, 2); }
    }
    float *x = malloc(sizeof(float) * (size_t)(rows * k)), *bias = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < rows * k; i++) x[i] = next_value();
    for (int64_t i = 0; i < n; i++) bias[i] = next_value();
    float *portable = malloc(sizeof(float) * (size_t)(rows * n)), *y = malloc(sizeof(float) * (size_t)(rows * n));
    tl_linear_part part = {w, dtype, n, with_bias ? bias : NULL, portable, n};
    tl_linear(x, rows, k, k, &part, 1, TL_PATH_PORTABLE);
    digest = fnv(digest, portable, sizeof(float) * (size_t)(rows * n));
    int differing = 0;
    for (int path = TL_PATH_AVX2; path <= TL_PATH_NEON; path++) {
        if (!tl_kernel_path_available(path)) continue;
        part.y = y;
        memset(y, 0xFF, sizeof(float) * (size_t)(rows * n));
        tl_linear(x, rows, k, k, &part, 1, path);
        int same = memcmp(y, portable, sizeof(float) * (size_t)(rows * n)) == 0;
        float a = tl_dot(x, x, k, path), b = tl_dot(x, x, k, TL_PATH_PORTABLE);
        same = same && memcmp(&a, &b, 4) == 0;
        if (!quiet) {
            char what[96];
            snprintf(what, sizeof what, "dtype %d rows %ld k %ld n %ld%s", dtype, (long)rows, (long)k, (long)n, with_bias ? "" : " no bias");
            report(what, path, same);
        } else if (!same) {
            printf("dtype %d rows %ld k %ld n %ld%s: %s DIFFERS from portable\n", dtype, (long)rows, (long)k, (long)n,
                   with_bias ? "" : " no bias", names[path]);
        }
        differing += !same;
    }
    free(w); free(x); free(bias); free(portable); free(y);
    return differing;
}

// Two parts in one call (gate/up-like: one with a bias, one without, of different widths) against
// the same parts computed on the portable path.
static void linear_two_parts(int64_t rows, int64_t k) {
    const int64_t n0 = 37, n1 = 21;
    uint16_t *w0 = malloc(sizeof(uint16_t) * (size_t)(n0 * k)), *w1 = malloc(sizeof(uint16_t) * (size_t)(n1 * k));
    for (int64_t i = 0; i < n0 * k; i++) w0[i] = to_bf16(next_value());
    for (int64_t i = 0; i < n1 * k; i++) w1[i] = to_bf16(next_value());
    float *x = malloc(sizeof(float) * (size_t)(rows * k)), *bias = malloc(sizeof(float) * (size_t)n0);
    for (int64_t i = 0; i < rows * k; i++) x[i] = next_value();
    for (int64_t i = 0; i < n0; i++) bias[i] = next_value();
    size_t floats = (size_t)(rows * (n0 + n1));
    float *portable = malloc(sizeof(float) * floats), *y = malloc(sizeof(float) * floats);
    tl_linear_part parts[2] = {{w0, TL_DTYPE_BF16, n0, bias, portable, n0 + n1}, {w1, TL_DTYPE_BF16, n1, NULL, portable + n0, n0 + n1}};
    tl_linear(x, rows, k, k, parts, 2, TL_PATH_PORTABLE);
    digest = fnv(digest, portable, sizeof(float) * floats);
    for (int path = TL_PATH_AVX2; path <= TL_PATH_NEON; path++) {
        if (!tl_kernel_path_available(path)) continue;
        parts[0].y = y; parts[1].y = y + n0;
        memset(y, 0xFF, sizeof(float) * floats);
        tl_linear(x, rows, k, k, parts, 2, path);
        char what[96];
        snprintf(what, sizeof what, "two parts (bias, no bias) rows %ld k %ld", (long)rows, (long)k);
        report(what, path, memcmp(y, portable, sizeof(float) * floats) == 0);
    }
    free(w0); free(w1); free(x); free(bias); free(portable); free(y);
}

int main(void) {
    const shape shapes[] = {
        {TL_DTYPE_F32, 1, 64, 16}, {TL_DTYPE_BF16, 7, 37, 13}, {TL_DTYPE_F16, 5, 200, 9},
        {TL_DTYPE_BF16, 50, 96, 30}, {TL_DTYPE_F32, 4, 8, 5}, {TL_DTYPE_BF16, 300, 40, 6},
        {TL_DTYPE_F16, 8, 45, 11}, {TL_DTYPE_F32, 16, 24, 9}, {TL_DTYPE_BF16, 1, 1536, 300},
        // The packed AVX-512 path (25+ rows): k in several 512-column chunks with a tail of 5,
        // weight rows past one 64-row block and a partial 8-row panel, tiles of 5 and 6 rows, and
        // rows past one 120-row block (its second block one, two or three rows, or seven).
        {TL_DTYPE_BF16, 25, 1045, 75}, {TL_DTYPE_F16, 26, 1045, 75}, {TL_DTYPE_F32, 29, 1045, 75},
        {TL_DTYPE_BF16, 64, 1536, 131}, {TL_DTYPE_BF16, 100, 1045, 75}, {TL_DTYPE_BF16, 121, 600, 19},
        {TL_DTYPE_F16, 122, 520, 19}, {TL_DTYPE_BF16, 123, 520, 19}, {TL_DTYPE_F32, 127, 520, 19},
        {TL_DTYPE_F16, 130, 64, 9},
    };
    printf("auto path %s\n", names[tl_kernel_auto_path()]);
    tl_set_threads(2);
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        shape s = shapes[c];
        state = 11 + c;
        linear_case(s.dtype, s.rows, s.k, s.n, 1, 0);
    }
    state = 31;
    linear_case(TL_DTYPE_BF16, 64, 1045, 75, 0, 0);
    linear_case(TL_DTYPE_F16, 33, 1040, 75, 0, 0);
    linear_two_parts(30, 1045);
    linear_two_parts(3, 200);
    // Every row count 1..100 (each tile height, the streaming/packed threshold) at odd n, k with
    // and without a tail, each dtype, with and without a bias: one line per dtype and k.
    for (int dtype = TL_DTYPE_F32; dtype <= TL_DTYPE_F16; dtype++)
        for (int64_t k = 45; k <= 48; k += 3) {
            int differing = 0;
            for (int64_t rows = 1; rows <= 100; rows++) {
                state = 1000 + (uint64_t)rows;
                differing += linear_case(dtype, rows, k, 19, (int)(rows & 1), 1);
            }
            char what[96];
            snprintf(what, sizeof what, "dtype %d rows 1..100 k %ld n 19 (bias on odd rows)", dtype, (long)k);
            printf("%s: every path %s\n", what, differing ? "DIFFERS from portable" : "bit-identical to portable");
            differing ? failed++ : passed++;
        }
    // SAE pre-activations: 19 rows (a pair of 6-row strips, a single one, a padded one), three k
    // blocks with a tail, five latent strips (the last padded), enough work to be split over the
    // pool; f32 and bf16 encoder weights.
    for (int bf16 = 0; bf16 <= 1; bf16++) {
        const size_t m = 19, k = 300, n = 72;
        state = 101 + (uint64_t)bf16;
        float *x = malloc(sizeof(float) * m * k), *packed = malloc(sizeof(float) * tl_sae_packed_rows_floats(m, k));
        unsigned char *w = malloc(n * k * 4);
        for (size_t i = 0; i < m * k; i++) x[i] = next_value();
        for (size_t i = 0; i < n * k; i++) {
            float f = next_value();
            if (bf16) { uint16_t h = to_bf16(f); memcpy(w + i * 2, &h, 2); } else memcpy(w + i * 4, &f, 4);
        }
        tl_sae_pack_rows(x, k, m, k, packed);
        size_t floats = tl_sae_pre_floats(m, n);
        float *portable = malloc(sizeof(float) * floats), *pre = malloc(sizeof(float) * floats);
        float *valid = malloc(sizeof(float) * m * n), *other = malloc(sizeof(float) * m * n);
        tl_sae_gemm(packed, m, k, w, bf16, k, n, portable, TL_PATH_PORTABLE);
        sae_rows(portable, m, n, valid);
        digest = fnv(digest, valid, sizeof(float) * m * n);
        for (int path = TL_PATH_AVX2; path <= TL_PATH_NEON; path++) {
            if (!tl_kernel_path_available(path)) continue;
            tl_sae_gemm(packed, m, k, w, bf16, k, n, pre, path);
            sae_rows(pre, m, n, other);
            report(bf16 ? "SAE gemm bf16 weights" : "SAE gemm f32 weights", path, memcmp(other, valid, sizeof(float) * m * n) == 0);
        }
        free(x); free(packed); free(w); free(portable); free(pre); free(valid); free(other);
    }
    test_sae_gemm_shapes();
    test_sae_select();
    test_bf16_widening();
    test_exp();
    test_attention();
    test_attention_prompt();
    test_bf16_rounding();
    printf("digest %016llx (portable results of every case)\n", (unsigned long long)digest);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
