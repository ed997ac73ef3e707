#ifndef THINKLENS_SAE_GEMM_H
#define THINKLENS_SAE_GEMM_H

#include <stddef.h>
#include <stdint.h>

// The SAE encoder GEMM, pre[m, n] = x[m, k] · W[n, k]ᵀ, written so that every output is
// the same float whatever the batch: each element is one fused multiply-add chain over
// k = 0, 1, ..., k-1 in order, started from 0, in every code path (the AVX2, AVX-512 and
// NEON micro-kernels, their padded edges, the portable fallback). OpenBLAS sgemm does not have
// this property — its results change in the last bits with the number of rows and columns
// in the call — and the worker needs a token's latents not to depend on which tokens were
// batched with it.
//
// Layout: x is first packed (tl_sae_pack_rows) into strips of TL_SAE_MR rows, k-major;
// W rows are read straight from the (mapped) checkpoint, f32 or bf16, and widened/packed
// on the fly into an L1-sized panel of TL_SAE_NR latents × TL_SAE_KC steps.

#define TL_SAE_MR 6
#define TL_SAE_NR 16
#define TL_SAE_KC 128

// Floats needed to pack m rows of length k (m rounded up to TL_SAE_MR, zero-padded).
size_t tl_sae_packed_rows_floats(size_t m, size_t k);

// Packs x [m, k] (row stride ldx) into [ceil(m/MR)][k][MR].
void tl_sae_pack_rows(const float *x, size_t ldx, size_t m, size_t k, float *packed);

// Floats of the pre-activation block for m rows and n latents.
size_t tl_sae_pre_floats(size_t m, size_t n);

// pre = x · Wᵀ for r < m, j < n. W is [n, k] row-major starting at `weights` (float32 if
// weights_bf16 == 0, else raw bf16 bits), rows `ldw` elements apart.
// pre is stored in latent strips: [ceil(n/NR)][round_up(m, MR)][NR], i.e. pre[r, j] is at
// (j / NR) * round_up(m, MR) * NR + r * NR + j % NR. Each strip is contiguous, so a micro-
// tile's rows are 64 bytes apart (a row-major [m, n] block puts them n floats apart, where
// the L1 sets alias). Entries for padded rows/latents are scratch.
// Work is split by latent strips over the kernel thread pool (tl_threads.h: tl_set_threads sets
// its size, for the model's kernels too); small products run on the calling thread. Neither
// changes a bit. path: TL_PATH_* (kernel_path.h); AVX2, AVX-512 and NEON have micro-kernels and
// panel packers of their own (NEON: MR × NR = 6 × 16 in 24 four-lane accumulators).
void tl_sae_gemm(const float *packed_x, size_t m, size_t k,
                 const void *weights, int weights_bf16, size_t ldw, size_t n,
                 float *pre, int path);

#endif
