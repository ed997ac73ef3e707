#include "tl_exp.h"
#include "kernel_path.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

// Every multiply-add below is written out as fma() or a separate operation; nothing may be
// contracted behind our back.
#pragma clang fp contract(off)

// 32/ln 2, so that x·InvLn2N = k + r with k an integer and |r| ≤ 1/2.
static const double InvLn2N = 0x1.71547652b82fep+5;
// Adding 1.5·2^52 rounds to an integer (ties to even) and leaves it in the low mantissa bits.
static const double Shift = 0x1.8p+52;
// 2^(r/32) ≈ 1 + C2·r + C1·r² + C0·r³ on |r| ≤ 1/2 (the minimax cubic of the exp2f method).
static const double C0 = 0x1.c6af84b912394p-20, C1 = 0x1.ebfce50fac4f3p-13, C2 = 0x1.62e42ff0c52d6p-6;
// Bits of 2^(i/32) rounded to double, less i << 47, so that adding k << 47 to entry k mod 32
// gives the bits of 2^(k/32) (the exponent moves by floor(k/32)).
static const uint64_t Table[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};
// |x| from which the fast path does not apply (x's top 12 bits, sign dropped, ≥ those of 88).
enum { SpecialTop = 0x42b };
static const float OverflowAbove = 0x1.62e42ep6f;     // log(2^128)
static const float UnderflowBelow = -0x1.9fe368p6f;   // log(2^-150): the result rounds to 0
static const float TinyBelow = -0x1.9d1d9ep6f;        // log(2^-149): the smallest subnormal

static inline uint32_t float_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline uint64_t double_bits(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double bits_double(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

// The large, tiny, infinite and NaN arguments, as expf answers them: sets *result and returns 1,
// or returns 0 for an argument the main path computes (|x| ≥ 88 but no over- or underflow).
static int exp_special(float x, float *result) {
    if (float_bits(x) == 0xff800000u) { *result = 0.0f; return 1; }                   // exp(−inf)
    if (((float_bits(x) >> 20) & 0x7ff) > 0x7f7) { *result = x + x; return 1; }     // NaN (quieted) or +inf
    if (x > OverflowAbove) { *result = INFINITY; return 1; }
    if (x < UnderflowBelow) { *result = 0.0f; return 1; }
    if (x < TinyBelow) { *result = 0x1p-149f; return 1; }
    return 0;
}

static float exp_main(float x) {
    double xd = (double)x;
    double shifted = fma(InvLn2N, xd, Shift);
    uint64_t ki = double_bits(shifted);
    double kd = shifted - Shift;
    double r = fma(InvLn2N, xd, -kd);
    double s = bits_double(Table[ki & 31] + (ki << 47));
    double z = fma(r, C0, C1);
    double r2 = r * r;
    double y = fma(r, C2, 1.0);
    y = fma(z, r2, y);
    return (float)(y * s);
}

float tl_expf(float x) {
    float special;
    if (((float_bits(x) >> 20) & 0x7ff) >= SpecialTop && exp_special(x, &special)) return special;
    return exp_main(x);
}

static void exp_shifted_portable(float *s, int64_t n, float shift) {
    for (int64_t t = 0; t < n; t++) s[t] = tl_expf(s[t] - shift);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TL_EXP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))

// Eight lanes of exp_main in double precision: the same operations in the same order.
TL_EXP_AVX512 static inline __m256 exp_main_avx512(__m256 x) {
    const __m512i table_lo = _mm512_loadu_si512((const void *)Table);
    const __m512i table_mid = _mm512_loadu_si512((const void *)(Table + 8));
    const __m512i table_hi = _mm512_loadu_si512((const void *)(Table + 16));
    const __m512i table_top = _mm512_loadu_si512((const void *)(Table + 24));
    __m512d xd = _mm512_cvtps_pd(x);
    __m512d shifted = _mm512_fmadd_pd(_mm512_set1_pd(InvLn2N), xd, _mm512_set1_pd(Shift));
    __m512i ki = _mm512_castpd_si512(shifted);
    __m512d kd = _mm512_sub_pd(shifted, _mm512_set1_pd(Shift));
    __m512d r = _mm512_fmsub_pd(_mm512_set1_pd(InvLn2N), xd, kd);
    // Entries 0–15 and 16–31 each pick by the index's low 4 bits; bit 4 chooses between them.
    __m512i low = _mm512_permutex2var_epi64(table_lo, ki, table_mid);
    __m512i high = _mm512_permutex2var_epi64(table_hi, ki, table_top);
    __mmask8 upper = _mm512_test_epi64_mask(ki, _mm512_set1_epi64(16));
    __m512i entry = _mm512_mask_blend_epi64(upper, low, high);
    __m512d s = _mm512_castsi512_pd(_mm512_add_epi64(entry, _mm512_slli_epi64(ki, 47)));
    __m512d z = _mm512_fmadd_pd(r, _mm512_set1_pd(C0), _mm512_set1_pd(C1));
    __m512d r2 = _mm512_mul_pd(r, r);
    __m512d y = _mm512_fmadd_pd(r, _mm512_set1_pd(C2), _mm512_set1_pd(1.0));
    y = _mm512_fmadd_pd(z, r2, y);
    return _mm512_cvtpd_ps(_mm512_mul_pd(y, s));
}

TL_EXP_AVX512 static void exp_shifted_avx512(float *s, int64_t n, float shift) {
    const __m512 by = _mm512_set1_ps(shift);
    const __m512i top_mask = _mm512_set1_epi32(0x7ff << 20);
    const __m512i special_from = _mm512_set1_epi32(SpecialTop << 20);
    int64_t t = 0;
    for (; t + 16 <= n; t += 16) {
        __m512 x = _mm512_sub_ps(_mm512_loadu_ps(s + t), by);
        __m512i top = _mm512_and_si512(_mm512_castps_si512(x), top_mask);
        __mmask16 special = _mm512_cmpge_epu32_mask(top, special_from);
        __m256 lo = exp_main_avx512(_mm512_castps512_ps256(x));
        __m256 hi = exp_main_avx512(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
        _mm512_storeu_ps(s + t, _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)),
                                                                     _mm256_castps_pd(hi), 1)));
        if (special) {
            float lanes[16];
            _mm512_storeu_ps(lanes, x);
            for (int i = 0; i < 16; i++)
                if (special & (1u << i)) s[t + i] = tl_expf(lanes[i]);
        }
    }
    for (; t < n; t++) s[t] = tl_expf(s[t] - shift);
}

#define TL_EXP_AVX2 __attribute__((target("avx2,fma")))

// Four lanes of exp_main (AVX2 has no two-register permute: the table entry is gathered).
TL_EXP_AVX2 static inline __m128 exp_main_avx2(__m128 x) {
    __m256d xd = _mm256_cvtps_pd(x);
    __m256d shifted = _mm256_fmadd_pd(_mm256_set1_pd(InvLn2N), xd, _mm256_set1_pd(Shift));
    __m256i ki = _mm256_castpd_si256(shifted);
    __m256d kd = _mm256_sub_pd(shifted, _mm256_set1_pd(Shift));
    __m256d r = _mm256_fmsub_pd(_mm256_set1_pd(InvLn2N), xd, kd);
    __m256i entry = _mm256_i64gather_epi64((const long long *)Table, _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8);
    __m256d s = _mm256_castsi256_pd(_mm256_add_epi64(entry, _mm256_slli_epi64(ki, 47)));
    __m256d z = _mm256_fmadd_pd(r, _mm256_set1_pd(C0), _mm256_set1_pd(C1));
    __m256d r2 = _mm256_mul_pd(r, r);
    __m256d y = _mm256_fmadd_pd(r, _mm256_set1_pd(C2), _mm256_set1_pd(1.0));
    y = _mm256_fmadd_pd(z, r2, y);
    return _mm256_cvtpd_ps(_mm256_mul_pd(y, s));
}

TL_EXP_AVX2 static void exp_shifted_avx2(float *s, int64_t n, float shift) {
    const __m256 by = _mm256_set1_ps(shift);
    const __m256i top_mask = _mm256_set1_epi32(0x7ff << 20);
    // Signed compare is right here: the masked tops are non-negative.
    const __m256i special_above = _mm256_set1_epi32((SpecialTop << 20) - 1);
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) {
        __m256 x = _mm256_sub_ps(_mm256_loadu_ps(s + t), by);
        __m256i top = _mm256_and_si256(_mm256_castps_si256(x), top_mask);
        int special = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(top, special_above)));
        __m128 lo = exp_main_avx2(_mm256_castps256_ps128(x)), hi = exp_main_avx2(_mm256_extractf128_ps(x, 1));
        _mm256_storeu_ps(s + t, _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1));
        if (special) {
            float lanes[8];
            _mm256_storeu_ps(lanes, x);
            for (int i = 0; i < 8; i++)
                if (special & (1 << i)) s[t + i] = tl_expf(lanes[i]);
        }
    }
    for (; t < n; t++) s[t] = tl_expf(s[t] - shift);
}
#endif

void tl_exp_shifted(float *s, int64_t n, float shift, int path) {
    path = tl_kernel_path(path);
#if defined(__x86_64__) || defined(__i386__)
    if (path == TL_PATH_AVX512) { exp_shifted_avx512(s, n, shift); return; }
    if (path == TL_PATH_AVX2) { exp_shifted_avx2(s, n, shift); return; }
#endif
    exp_shifted_portable(s, n, shift);
}
