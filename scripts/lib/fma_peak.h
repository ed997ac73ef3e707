// The float32 FMA peak of this machine, measured: shared by machine_limits.c (scripts/bench-machine)
// and linear_bench.c (scripts/bench-linear), which prints its kernels' share of it in the same run.
// Compile with -mavx2 -mfma on x86-64 (the AVX-512 worker is chosen at run time).
#ifndef THINKLENS_FMA_PEAK_H
#define THINKLENS_FMA_PEAK_H

#include <pthread.h>
#include <time.h>

// Wall-clock time, unless a benchmark switches to the process's CPU time (summed over its
// threads), which a busy shared box disturbs less: only the time this process ran is counted.
static clockid_t timing_clock = CLOCK_MONOTONIC;

static double seconds(void) {
    struct timespec t;
    clock_gettime(timing_clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double best_of(int repeats, double (*run)(int), int threads) {
    double best = 0;
    for (int i = 0; i < repeats; i++) {
        double v = run(threads);
        if (v > best) best = v;
    }
    return best;
}

#define CHAINS 10  // independent accumulators: more than FMA latency × issue width on current cores
#define FMA_ITERATIONS 100000000L

// Each chain is acc = acc·a + b over 8 float32 lanes (16 flops per step), written with the
// vector FMA of the architecture so the figure is the hardware's, not the compiler's.
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
static void *fma_worker(void *out) {
    __m256 acc[CHAINS], a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(1e-4f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c * 1e-3f);
    for (long i = 0; i < FMA_ITERATIONS; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    float lanes[8], sum = 0;
    for (int c = 0; c < CHAINS; c++) {
        _mm256_storeu_ps(lanes, acc[c]);
        for (int l = 0; l < 8; l++) sum += lanes[l];
    }
    *(float *)out = sum;
    return 0;
}
// The same with 16 lanes, for CPUs with AVX-512 (chosen at run time; the kernels use it there).
__attribute__((target("avx512f")))
static void *fma512_worker(void *out) {
    __m512 acc[CHAINS], a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(1e-4f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c * 1e-3f);
    for (long i = 0; i < FMA_ITERATIONS / 2; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    float sum = 0;
    for (int c = 0; c < CHAINS; c++) sum += _mm512_reduce_add_ps(acc[c]);
    *(float *)out = sum;
    return 0;
}
#define HAVE_FMA512 1
#elif defined(__aarch64__)
#include <arm_neon.h>
static void *fma_worker(void *out) {
    float32x4_t acc[2 * CHAINS], a = vdupq_n_f32(0.9999f), b = vdupq_n_f32(1e-4f);
    for (int c = 0; c < 2 * CHAINS; c++) acc[c] = vdupq_n_f32((float)c * 1e-3f);
    for (long i = 0; i < FMA_ITERATIONS; i++)
        for (int c = 0; c < 2 * CHAINS; c++) acc[c] = vfmaq_f32(b, acc[c], a);
    float sum = 0;
    for (int c = 0; c < 2 * CHAINS; c++) sum += vaddvq_f32(acc[c]);
    *(float *)out = sum;
    return 0;
}
#else
static void *fma_worker(void *out) {
    float acc[CHAINS][8], a = 0.9999f, b = 1e-4f;
    for (int c = 0; c < CHAINS; c++)
        for (int l = 0; l < 8; l++) acc[c][l] = (float)(c + l) * 1e-3f;
    for (long i = 0; i < FMA_ITERATIONS; i++)
        for (int c = 0; c < CHAINS; c++)
            for (int l = 0; l < 8; l++) acc[c][l] = __builtin_fmaf(acc[c][l], a, b);
    float sum = 0;
    for (int c = 0; c < CHAINS; c++)
        for (int l = 0; l < 8; l++) sum += acc[c][l];
    *(float *)out = sum;
    return 0;
}
#endif

// Every worker does FMA_ITERATIONS · CHAINS · 16 flops (the 16-lane one runs half the steps).
static double run_fma(int threads, void *(*worker)(void *)) {
    pthread_t t[256];
    float out[256];
    double start = seconds();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], 0, worker, &out[i]);
    for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
    double elapsed = seconds() - start;
    if (timing_clock != CLOCK_MONOTONIC) elapsed /= threads;  // CPU time of `threads` busy threads
    return threads * (double)FMA_ITERATIONS * CHAINS * 16 / elapsed / 1e9;
}

static double fma_gflops(int threads) { return run_fma(threads, fma_worker); }
#ifdef HAVE_FMA512
static double fma512_gflops(int threads) { return run_fma(threads, fma512_worker); }
#endif

#endif
