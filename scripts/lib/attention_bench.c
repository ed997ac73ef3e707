// Attention alone at the shapes of DeepSeek-R1-Distill-Qwen-1.5B (12 query heads over 2 KV heads,
// head_dim 128, 28 layers): a decode step of 8 sequences each with its own cache, and a 64-row
// prefill step of one sequence, at a given context. Prints the best of REPS CPU times of the
// 28 layers (CPU time, so that other work on a shared box does not count) and GFLOP/s.
// scripts/bench-attention builds it against this tree's kernels and a base revision's.
//   attention_bench MODE(decode|prefill) CONTEXT REPS THREADS KV(f32|bf16)
#include "tl_linear.h"
#include "tl_ops.h"
#include "tl_threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Bases before the KV cache had a dtype take one argument fewer.
#ifdef TL_ATTENTION_HAS_KV_DTYPE
#define KV_DTYPE_ARGUMENT(d) (d),
#else
#define KV_DTYPE_ARGUMENT(d)
#endif

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s decode|prefill CONTEXT REPS THREADS f32|bf16\n", argv[0]);
        return 2;
    }
    enum { HEADS = 12, KV_HEADS = 2, HEAD_DIM = 128, LAYERS = 28 };
    int prefill = strcmp(argv[1], "prefill") == 0;
    int64_t context = atoll(argv[2]);
    int reps = atoi(argv[3]);
    tl_set_threads(atoi(argv[4]));
    int bf16 = strcmp(argv[5], "bf16") == 0;
#ifndef TL_ATTENTION_HAS_KV_DTYPE
    if (bf16) { printf("(no bf16 cache in this build)\n"); return 0; }
#endif
    int rows = prefill ? 64 : 8, sequences = prefill ? 1 : 8;
    int64_t capacity = context + 64;
    size_t cache = (size_t)KV_HEADS * (size_t)capacity * HEAD_DIM, element = bf16 ? 2 : 4;
    char *kv = malloc(element * (size_t)sequences * 2 * cache);
    float *q = malloc(sizeof(float) * (size_t)rows * HEADS * HEAD_DIM), *out = malloc(sizeof(float) * (size_t)rows * HEADS * HEAD_DIM);
    if (!kv || !q || !out) { fprintf(stderr, "out of memory\n"); return 1; }
    for (size_t i = 0; i < (size_t)sequences * 2 * cache; i++) {
        float v = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
        if (bf16) {
            uint32_t bits;
            memcpy(&bits, &v, 4);
            ((uint16_t *)kv)[i] = (uint16_t)(bits >> 16);
        } else ((float *)kv)[i] = v;
    }
    for (size_t i = 0; i < (size_t)rows * HEADS * HEAD_DIM; i++) q[i] = (float)((i * 40503u) % 1000) / 500.0f - 1.0f;
    tl_attention_query queries[64];
    double flops = 0;
    for (int i = 0; i < rows; i++) {
        char *keys = kv + element * (size_t)(prefill ? 0 : i) * 2 * cache;
        int64_t length = prefill ? context - rows + 1 + i : context;
        queries[i] = (tl_attention_query){q + (size_t)i * HEADS * HEAD_DIM, (void *)keys, (void *)(keys + element * cache),
                                          length, out + (size_t)i * HEADS * HEAD_DIM};
        flops += 4.0 * HEADS * HEAD_DIM * (double)length * LAYERS;
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_seconds();
        for (int layer = 0; layer < LAYERS; layer++)
            tl_attention(queries, rows, capacity, HEADS, KV_HEADS, HEAD_DIM, 0.08838835f,
                         KV_DTYPE_ARGUMENT(bf16 ? TL_DTYPE_BF16 : TL_DTYPE_F32) TL_PATH_AUTO);
        double t = cpu_seconds() - t0;
        if (t < best) best = t;
    }
    printf("%-7s context %6lld, %s cache: %9.2f ms CPU per step (28 layers), %6.1f GFLOP/s\n", argv[1],
           (long long)context, argv[5], best * 1e3, flops / best / 1e9);
    return 0;
}
