// tl_linear at the Qwen2 1.5B shapes (bf16 weights), this tree's kernels beside a baseline build
// of tl_linear.c (its symbols prefixed base_, compiled from another commit by scripts/bench-linear),
// with GFLOP/s and the share of the float32 FMA peak measured in the same run. The two are timed
// in alternating repetitions so a busy moment on a shared box hits both; each repetition streams
// through enough copies of the weights (>= 256 MB) that they come from memory, as in the model.
//
//   linear_bench THREADS ROWS,ROWS,...   (built and run by scripts/bench-linear)
#include "tl_linear.h"
#include "tl_threads.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fma_peak.h"

void base_tl_linear(const float *x, int64_t rows, int64_t k, int64_t ldx, const tl_linear_part *parts, int part_count, int path);

typedef struct { const char *name; int64_t k; int64_t n[2]; int part_count; } layer_shape;

// One decoder layer's products: q/k/v fused (12 + 2 + 2 heads of 128), o, gate/up fused, down.
static const layer_shape shapes[] = {
    {"q/k/v 1536->2048", 1536, {2048, 0}, 1},
    {"o     1536->1536", 1536, {1536, 0}, 1},
    {"gate/up 1536->2x8960", 1536, {8960, 8960}, 2},
    {"down  8960->1536", 8960, {1536, 0}, 1},
};

typedef void (*linear_fn)(const float *, int64_t, int64_t, int64_t, const tl_linear_part *, int, int);

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    const char *row_list = argc > 2 ? argv[2] : "1,8,16,64,100";
    if (threads < 1) threads = 2;
    tl_set_threads(threads);
    // BENCH_CLOCK=cpu (1 thread only: the pool's waiting threads would count): time by the
    // process's CPU time, which other work on a shared box disturbs far less than wall time.
    const char *clock_name = getenv("BENCH_CLOCK");
    if (clock_name && !strcmp(clock_name, "cpu")) {
        if (threads != 1) { fprintf(stderr, "linear_bench: BENCH_CLOCK=cpu needs 1 thread\n"); return 2; }
        timing_clock = CLOCK_PROCESS_CPUTIME_ID;
        printf("timing by process CPU time (BENCH_CLOCK=cpu)\n");
    }
#ifdef HAVE_FMA512
    int wide = __builtin_cpu_supports("avx512f");
#else
    int wide = 0;
#endif
    double (*peak_run)(int) = fma_gflops;
#ifdef HAVE_FMA512
    if (wide) peak_run = fma512_gflops;
#endif
    double peak = best_of(3, peak_run, threads);
    printf("float32 FMA peak (%s, %d threads): %.1f GFLOP/s, measured now\n", wide ? "AVX-512" : "8-lane", threads, peak);

    int rows_list[16], row_count = 0;
    for (const char *r = row_list; *r && row_count < 16;) {
        rows_list[row_count++] = atoi(r);
        while (*r && *r != ',') r++;
        if (*r == ',') r++;
    }
    int64_t max_rows = 0;
    for (int i = 0; i < row_count; i++) if (rows_list[i] > max_rows) max_rows = rows_list[i];

    printf("%-22s %5s %10s %10s %9s %9s %7s %7s %8s  %s\n", "product", "rows", "base ms", "new ms", "base GF/s", "new GF/s",
           "base %", "new %", "speedup", "bits");
    double layer_base[16] = {0}, layer_new[16] = {0}, layer_flops[16] = {0};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        layer_shape s = shapes[c];
        int64_t n_total = 0;
        for (int q = 0; q < s.part_count; q++) n_total += s.n[q];
        size_t bytes = (size_t)(n_total * s.k) * 2;
        int copies = getenv("BENCH_COPIES") ? atoi(getenv("BENCH_COPIES")) : (int)((256u << 20) / bytes) + 1;
        uint16_t **weights = malloc(sizeof(uint16_t *) * (size_t)copies);
        uint64_t state = 7 + c;
        for (int i = 0; i < copies; i++) {
            weights[i] = malloc(bytes);
            for (size_t e = 0; e < bytes / 2; e++) {
                state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                // bf16 values in about ±0.06: exponent 0x3D (2^-5 .. 2^-4 and below), random sign and mantissa
                weights[i][e] = (uint16_t)(0x3C00 | ((state >> 40) & 0x83FF));
            }
        }
        float *x = malloc(sizeof(float) * (size_t)(max_rows * s.k)), *bias = malloc(sizeof(float) * (size_t)n_total);
        for (int64_t i = 0; i < max_rows * s.k; i++) x[i] = (float)((i * 7919) % 2001 - 1000) * 1e-3f;
        for (int64_t i = 0; i < n_total; i++) bias[i] = (float)(i % 17) * 1e-2f;
        float *y_base = malloc(sizeof(float) * (size_t)(max_rows * n_total)), *y_new = malloc(sizeof(float) * (size_t)(max_rows * n_total));
        for (int ri = 0; ri < row_count; ri++) {
            int64_t rows = rows_list[ri];
            double flops = 2.0 * (double)rows * (double)n_total * (double)s.k;
            // Repetitions of `calls` calls each, at least ~60 ms and one pass over the copies.
            int calls = copies;
            double base_times[9], new_times[9];
            for (int rep = 0; rep < 9; rep++) {
                for (int which = 0; which < 2; which++) {
                    linear_fn fn = which == 0 ? base_tl_linear : tl_linear;
                    float *y = which == 0 ? y_base : y_new;
                    double start = seconds();
                    for (int call = 0; call < calls; call++) {
                        const uint16_t *w = weights[(call + rep) % copies];
                        tl_linear_part parts[2] = {
                            {w, TL_DTYPE_BF16, s.n[0], bias, y, n_total},
                            {w + (size_t)(s.n[0] * s.k), TL_DTYPE_BF16, s.n[1], NULL, y + s.n[0], n_total},
                        };
                        fn(x, rows, s.k, s.k, parts, s.part_count, TL_PATH_AUTO);
                    }
                    double t = (seconds() - start) / calls;
                    (which == 0 ? base_times : new_times)[rep] = t;
                }
                if (rep == 2 && base_times[0] * calls < 0.06) {
                    calls = (int)(0.06 / base_times[0]) + 1;  // short products: more calls per repetition
                }
            }
            qsort(base_times + 3, 6, sizeof(double), compare_doubles);
            qsort(new_times + 3, 6, sizeof(double), compare_doubles);
            double tb = (base_times[5] + base_times[6]) / 2, tn = (new_times[5] + new_times[6]) / 2;  // median of the last 6
            int same = memcmp(y_base, y_new, sizeof(float) * (size_t)(rows * n_total)) == 0;
            printf("%-22s %5ld %10.3f %10.3f %9.1f %9.1f %6.1f%% %6.1f%% %7.2fx  %s\n", s.name, (long)rows, tb * 1e3, tn * 1e3,
                   flops / tb / 1e9, flops / tn / 1e9, 100 * flops / tb / 1e9 / peak, 100 * flops / tn / 1e9 / peak, tb / tn,
                   same ? "same" : "DIFFER");
            fflush(stdout);
            layer_base[ri] += tb; layer_new[ri] += tn; layer_flops[ri] += flops;
        }
        for (int i = 0; i < copies; i++) free(weights[i]);
        free(weights); free(x); free(bias); free(y_base); free(y_new);
    }
    for (int ri = 0; ri < row_count; ri++)
        printf("%-22s %5d %10.3f %10.3f %9.1f %9.1f %6.1f%% %6.1f%% %7.2fx\n", "one layer (4 products)", rows_list[ri],
               layer_base[ri] * 1e3, layer_new[ri] * 1e3, layer_flops[ri] / layer_base[ri] / 1e9, layer_flops[ri] / layer_new[ri] / 1e9,
               100 * layer_flops[ri] / layer_base[ri] / 1e9 / peak, 100 * layer_flops[ri] / layer_new[ri] / 1e9 / peak,
               layer_base[ri] / layer_new[ri]);
    double peak_after = best_of(2, peak_run, threads);
    printf("float32 FMA peak again after the products: %.1f GFLOP/s (a large change means the box was busy)\n", peak_after);
    return 0;
}
