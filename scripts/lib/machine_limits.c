// What this machine can do at most, for reading the other benchmarks' figures: FMA throughput
// (float32, AVX2 on x86-64, NEON on aarch64) and read bandwidth, with 1 and N threads, and
// OpenBLAS sgemm at the shapes of the Qwen2 MLP. Built and run by scripts/bench-machine.
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
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

static double best_of(int repeats, double (*run)(int), int threads) {
    double best = 0;
    for (int i = 0; i < repeats; i++) {
        double v = run(threads);
        if (v > best) best = v;
    }
    return best;
}

// Every worker does FMA_ITERATIONS · CHAINS · 16 flops (the 16-lane one runs half the steps).
static double run_fma(int threads, void *(*worker)(void *)) {
    pthread_t t[256];
    float out[256];
    double start = seconds();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], 0, worker, &out[i]);
    for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
    return threads * (double)FMA_ITERATIONS * CHAINS * 16 / (seconds() - start) / 1e9;
}

static double fma_gflops(int threads) { return run_fma(threads, fma_worker); }
#ifdef HAVE_FMA512
static double fma512_gflops(int threads) { return run_fma(threads, fma512_worker); }
#endif

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
