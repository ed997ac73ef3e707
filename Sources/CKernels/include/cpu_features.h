#ifndef THINKLENS_CPU_FEATURES_H
#define THINKLENS_CPU_FEATURES_H

// Instruction-set probes used to pick a kernel at run time. Kernels are compiled
// with per-function target attributes, so one binary runs on any x86-64 with
// AVX2 (and falls back to portable C elsewhere, e.g. aarch64).
int tl_cpu_has_avx2_fma(void);
int tl_cpu_has_avx512f(void);
int tl_cpu_has_avx512bf16(void);
// A short human-readable description, e.g. "x86-64 avx2+fma", for logs and benchmarks.
const char *tl_cpu_description(void);

#endif
