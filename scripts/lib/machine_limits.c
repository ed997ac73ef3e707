// What this machine can do at most, for reading the other benchmarks' figures: FMA throughput
// (float32, AVX2 on x86-64, NEON on aarch64) and read bandwidth, with 1 and N threads, and
// OpenBLAS sgemm at the shapes of the Qwen2 MLP. Built and run by scripts/bench-machine.
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fma_peak.h"

typedef struct { const float *begin, *end; float sum; } read_range;

static void *read_worker(void *context) {
    read_range *r = context;
    float s[16] = {0};
    for (const float *p = r->begin; p < r->end; p += 16)
        for (int l = 0; l < 16; l++) s[l] += p[l];
    float sum = 0;
    for (int l = 0; l < 16; l++) sum += s[l];
    r->sum = sum;
    return 0;
}

static float *buffer;
static size_t buffer_floats;

static double read_gbs(int threads) {
    pthread_t t[256];
    read_range r[256];
    double start = seconds();
    for (int i = 0; i < threads; i++) {
        r[i].begin = buffer + buffer_floats / threads * i;
        r[i].end = buffer + buffer_floats / threads * (i + 1);
        pthread_create(&t[i], 0, read_worker, &r[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
    return buffer_floats * 4.0 / (seconds() - start) / 1e9;
}

// STREAM's triad, a[i] = b[i] + s·c[i], counted as STREAM counts it (two reads and one write
// per element): the bandwidth figure that the generation benchmark's goals were written against.
typedef struct { float *a; const float *b, *c; size_t n; } triad_range;

static void *triad_worker(void *context) {
    triad_range *r = context;
    for (size_t i = 0; i < r->n; i++) r->a[i] = r->b[i] + 3.0f * r->c[i];
    return 0;
}

static double triad_gbs(int threads) {
    size_t n = buffer_floats / 3;
    float *a = buffer, *b = buffer + n, *c = buffer + 2 * n;
    pthread_t t[256];
    triad_range r[256];
    double start = seconds();
    for (int i = 0; i < threads; i++) {
        size_t lo = n / threads * i, hi = i == threads - 1 ? n : n / threads * (i + 1);
        r[i] = (triad_range){a + lo, b + lo, c + lo, hi - lo};
        pthread_create(&t[i], 0, triad_worker, &r[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
    return n * 12.0 / (seconds() - start) / 1e9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1 || threads > 256) threads = 2;
    // "fma" as a second argument: only the widest float32 FMA peak at `threads` threads, one
    // line, for a benchmark to print its share of (scripts/bench-generate).
    if (argc > 2 && !strcmp(argv[2], "fma")) {
        double (*run)(int) = fma_gflops;
        const char *kind = "8-lane";
#ifdef HAVE_FMA512
        if (__builtin_cpu_supports("avx512f")) { run = fma512_gflops; kind = "AVX-512"; }
#endif
        printf("float32 FMA peak %s %d threads %.1f GFLOP/s\n", kind, threads, best_of(3, run, threads));
        return 0;
    }
    buffer_floats = (size_t)3 << 28;  // 3 GiB, about the 1.5B model's bf16 weights
    buffer = aligned_alloc(64, buffer_floats * 4);
    if (!buffer) { fprintf(stderr, "machine_limits: cannot allocate 3 GiB for the bandwidth test\n"); return 1; }
    memset(buffer, 0, buffer_floats * 4);
    // "bandwidth" as a second argument: only the triad, for a benchmark to read right beside its own run.
    if (argc > 2 && !strcmp(argv[2], "bandwidth")) {
        printf("STREAM triad          %d threads %7.1f GB/s\n", threads, best_of(3, triad_gbs, threads));
        free(buffer);
        return 0;
    }

    printf("float32 FMA peak      1 thread %7.1f GFLOP/s   %d threads %7.1f GFLOP/s\n",
           best_of(2, fma_gflops, 1), threads, best_of(2, fma_gflops, threads));
#ifdef HAVE_FMA512
    if (__builtin_cpu_supports("avx512f"))
        printf("  with AVX-512        1 thread %7.1f GFLOP/s   %d threads %7.1f GFLOP/s\n",
               best_of(2, fma512_gflops, 1), threads, best_of(2, fma512_gflops, threads));
#endif
    printf("read bandwidth        1 thread %7.1f GB/s      %d threads %7.1f GB/s\n",
           best_of(3, read_gbs, 1), threads, best_of(3, read_gbs, threads));
    printf("STREAM triad          1 thread %7.1f GB/s      %d threads %7.1f GB/s\n",
           best_of(3, triad_gbs, 1), threads, best_of(3, triad_gbs, threads));
    free(buffer);

    const int n = 8960, k = 1536;
    float *w = malloc(sizeof(float) * n * k), *x = malloc(sizeof(float) * 100 * k), *y = malloc(sizeof(float) * 100 * n);
    for (long i = 0; i < (long)n * k; i++) w[i] = (float)(i % 13) * 1e-3f;
    for (long i = 0; i < 100L * k; i++) x[i] = (float)(i % 7) * 1e-2f;
    openblas_set_num_threads(threads);
    int rows[] = {1, 8, 16, 100};
    for (int r = 0; r < 4; r++) {
        double best = 0;
        for (int rep = 0; rep < 5; rep++) {
            double start = seconds();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows[r], n, k, 1, x, k, w, k, 0, y, n);
            double v = 2.0 * rows[r] * n * k / (seconds() - start) / 1e9;
            if (v > best) best = v;
        }
        printf("OpenBLAS sgemm  M %3d N %d K %d, %d threads: %7.1f GFLOP/s\n", rows[r], n, k, threads, best);
    }
    free(w); free(x); free(y);
    return 0;
}
