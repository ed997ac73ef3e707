#ifndef THINKLENS_LINEAR_H
#define THINKLENS_LINEAR_H

#include "kernel_path.h"

#include <stdint.h>

// Weight-streaming linear layers for the Qwen2 forward pass: y = x · Wᵀ + b with W kept in its
// checkpoint dtype (bf16, f16 or f32, memory-mapped) and widened to float32 inside the kernel.
//
// Canonical reduction order. Every output element y[m][j] is computed the same way on every
// path (portable C, AVX2+FMA, AVX-512F, NEON), for every batch size, row position and thread count:
//   s_l = fma chain over k = l, l+8, l+16, ... (k < K8 = K rounded down to a multiple of 8), l = 0..7
//   r   = ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))
//   r   = fma(x[k], w[k], r) for the tail k = K8 .. K-1, in order
//   y   = r + b[j]              (when there is a bias)
// This is what makes generation batch-invariant: a sequence's activations are bit-identical
// whether it runs alone or beside other sequences, and identical across the kernel paths.
//
// How the paths keep that order while going fast. With few activation rows (decode) the work is
// bound by reading the weights, so the SIMD paths stream them: a tile of up to 8 (AVX-512) or 3
// (AVX2, NEON) activation rows × 4 weight rows widens each weight vector in registers as it
// arrives, one accumulator register per 8 lanes (AVX-512: two weight rows per register). With
// many rows (AVX-512 from 25 rows, AVX2 from 256) the FMA units are the limit, and the packed
// paths widen each weight element to float32 once, into the calling thread's scratch
// (TL_SCRATCH_WIDENED_WEIGHTS), then run bigger tiles over it; AVX-512 also splits k into chunks
// whose 8-lane chains it saves and resumes unchanged. Every lane is still one fma chain over
// k = l, l+8, ... in order, summed by the tree above, so the path, tile and thread count never
// change a bit (scripts/test-kernel-paths checks it).

enum {
    TL_DTYPE_F32 = 0,
    TL_DTYPE_BF16 = 1,
    TL_DTYPE_F16 = 2,
};

// One weight matrix of a (possibly fused) linear layer and where its outputs go.
typedef struct {
    const void *weight;   // [n, k] row-major, in `dtype`
    int dtype;            // TL_DTYPE_*
    int64_t n;            // output features
    const float *bias;    // [n], or NULL
    float *y;             // output row m, feature j at y[m * ldy + j]
    int64_t ldy;
} tl_linear_part;

// For each part p and row m < rows: part.y[m][j] = Σ_k x[m][k] · part.weight[j][k] (+ bias[j]).
// x: [rows, k] with row stride ldx. Work is split over output features across the thread pool.
// path: TL_PATH_* (kernel_path.h).
// Several parts in one call (q/k/v, gate/up) share one dispatch.
void tl_linear(const float *x, int64_t rows, int64_t k, int64_t ldx,
               const tl_linear_part *parts, int part_count, int path);

// Obviously-correct reference: double accumulation in index order, one thread. For tests.
void tl_linear_reference(const float *x, int64_t rows, int64_t k, int64_t ldx,
                         const tl_linear_part *parts, int part_count);

// Σ a[i]·b[i] in the canonical order above (used for attention scores and RMSNorm).
float tl_dot(const float *a, const float *b, int64_t n, int path);

#endif
