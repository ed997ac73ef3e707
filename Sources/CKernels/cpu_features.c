#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
int tl_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
int tl_cpu_has_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
int tl_cpu_has_avx512bf16(void) {
    __builtin_cpu_init();
#if defined(__clang__) && __clang_major__ >= 15 || defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    return tl_cpu_has_avx512f() && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}
const char *tl_cpu_description(void) {
    if (tl_cpu_has_avx512bf16()) return "x86-64 avx512f+bf16";
    if (tl_cpu_has_avx512f()) return "x86-64 avx512f";
    if (tl_cpu_has_avx2_fma()) return "x86-64 avx2+fma";
    return "x86-64 baseline";
}
#else
int tl_cpu_has_avx2_fma(void) { return 0; }
int tl_cpu_has_avx512f(void) { return 0; }
int tl_cpu_has_avx512bf16(void) { return 0; }
#if defined(__aarch64__)
const char *tl_cpu_description(void) { return "aarch64 neon"; }
#else
const char *tl_cpu_description(void) { return "portable"; }
#endif
#endif
