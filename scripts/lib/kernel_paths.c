// Holds every linear-kernel path this CPU (or emulator) can run to the portable path's bits, on
// the shapes that exercise each path's tiles, edges and k tails, and prints a digest of the
// portable results so that two machines (x86-64 and aarch64, say) can be compared: the same
// digest means a run split over both gives the same activations.
//
// The SAE encoder's GEMM is held to the same standard.
//
//   cc -O2 -I Sources/CKernels/include scripts/lib/kernel_paths.c Sources/CKernels/{kernel_path,tl_linear,tl_threads,cpu_features,sae_gemm}.c -lpthread -lm
//   ./a.out            prints one line per case, "digest HEX" and "N passed, M failed"
#include "sae_gemm.h"
#include "tl_linear.h"
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

int main(void) {
    const shape shapes[] = {
        {TL_DTYPE_F32, 1, 64, 16}, {TL_DTYPE_BF16, 7, 37, 13}, {TL_DTYPE_F16, 5, 200, 9},
        {TL_DTYPE_BF16, 50, 96, 30}, {TL_DTYPE_F32, 4, 8, 5}, {TL_DTYPE_BF16, 300, 40, 6},
        {TL_DTYPE_F16, 8, 45, 11}, {TL_DTYPE_F32, 16, 24, 9}, {TL_DTYPE_BF16, 1, 1536, 300},
    };
    const char *names[] = {"auto", "portable", "avx2", "avx512", "neon"};
    int passed = 0, failed = 0;
    uint64_t digest = 1469598103934665603ULL;
    tl_set_threads(2);
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        shape s = shapes[c];
        state = 11 + c;
        size_t elem = s.dtype == TL_DTYPE_F32 ? 4 : 2;
        unsigned char *w = malloc((size_t)(s.n * s.k) * elem);
        for (int64_t i = 0; i < s.n * s.k; i++) {
            float f = next_value();
            if (s.dtype == TL_DTYPE_F32) memcpy(w + i * 4, &f, 4);
            else { uint16_t h = s.dtype == TL_DTYPE_BF16 ? to_bf16(f) : to_f16(f); memcpy(w + i * 2, &h, 2); }
        }
        float *x = malloc(sizeof(float) * (size_t)(s.rows * s.k)), *bias = malloc(sizeof(float) * (size_t)s.n);
        for (int64_t i = 0; i < s.rows * s.k; i++) x[i] = next_value();
        for (int64_t i = 0; i < s.n; i++) bias[i] = next_value();
        float *portable = malloc(sizeof(float) * (size_t)(s.rows * s.n)), *y = malloc(sizeof(float) * (size_t)(s.rows * s.n));
        tl_linear_part part = {w, s.dtype, s.n, bias, portable, s.n};
        tl_linear(x, s.rows, s.k, s.k, &part, 1, TL_PATH_PORTABLE);
        digest = fnv(digest, portable, sizeof(float) * (size_t)(s.rows * s.n));
        for (int path = TL_PATH_AVX2; path <= TL_PATH_NEON; path++) {
            if (!tl_kernel_path_available(path)) continue;
            part.y = y;
            tl_linear(x, s.rows, s.k, s.k, &part, 1, path);
            int same = memcmp(y, portable, sizeof(float) * (size_t)(s.rows * s.n)) == 0;
            float a = tl_dot(x, x, s.k, path), b = tl_dot(x, x, s.k, TL_PATH_PORTABLE);
            same = same && memcmp(&a, &b, 4) == 0;
            printf("dtype %d rows %ld k %ld n %ld: %s %s\n", s.dtype, (long)s.rows, (long)s.k, (long)s.n, names[path],
                   same ? "bit-identical to portable" : "DIFFERS from portable");
            same ? passed++ : failed++;
        }
        free(w); free(x); free(bias); free(portable); free(y);
    }
    // SAE pre-activations: 19 rows (a pair of 6-row strips, a single one, a padded one), three k
    // blocks with a tail, a padded latent strip; f32 and bf16 encoder weights.
    for (int bf16 = 0; bf16 <= 1; bf16++) {
        const size_t m = 19, k = 300, n = 40;
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
            int same = memcmp(other, valid, sizeof(float) * m * n) == 0;
            printf("SAE gemm %s weights: %s %s\n", bf16 ? "bf16" : "f32", names[path],
                   same ? "bit-identical to portable" : "DIFFERS from portable");
            same ? passed++ : failed++;
        }
        free(x); free(packed); free(w); free(portable); free(pre); free(valid); free(other);
    }
    printf("digest %016llx (portable results of every case)\n", (unsigned long long)digest);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
