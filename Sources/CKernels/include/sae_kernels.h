#ifndef THINKLENS_SAE_KERNELS_H
#define THINKLENS_SAE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// Kernels for k-sparse autoencoder encoding. The encoder GEMM itself is tl_sae_gemm
// (sae_gemm.h); these are the pieces around it: widening bf16 weights to float32, and
// folding its blocks of pre-activations into a running per-row top-k (or groupmax).
// `path` is TL_PATH_* (kernel_path.h); every path gives the portable path's bits.
//
// Top-k state for `rows` rows is three arrays the caller owns:
//   values  [rows, k]  float,  each row sorted descending
//   indices [rows, k]  int32,  latent index of each value
//   filled  [rows]     int32,  how many slots of the row hold a positive value
// Only values > 0 ever enter (ReLU), so `filled` is also the number of positive
// latents found so far, capped at k.

// bf16 (raw bits) -> float32, exact. dst[i] = src[i] << 16.
void tl_sae_bf16_to_f32(const uint16_t *src, float *dst, size_t n, int path);

// Empties the top-k state of `rows` rows.
void tl_sae_topk_reset(float *values, int32_t *indices, int32_t *filled, size_t rows, int k);

// Folds pre-activations pre[r, 0..<cols] + bias[0..<cols] (latents first_latent ..<
// first_latent + cols) into the running top-k of each row r. pre is in tl_sae_gemm's strip
// layout: pre[r, j] at (j / TL_SAE_NR) * strip_stride + r * TL_SAE_NR + j % TL_SAE_NR.
// Chunks must be folded in increasing latent order: a later latent only displaces a
// strictly smaller value, which is what makes ties go to the lower index. Every path
// visits a row's latents in increasing order and inserts the same values (the AVX2 and
// NEON paths only skip latents that cannot enter: AVX2 8 at a time, NEON 16 or 4). Rows
// are split over the kernel thread pool (tl_threads.h); rows are independent, so the
// result does not depend on it.
void tl_sae_topk_fold(const float *pre, size_t strip_stride, size_t rows, size_t cols,
                      const float *bias, int32_t first_latent, int k,
                      float *values, int32_t *indices, int32_t *filled, int path);

// Completes rows with fewer than k positive latents: the empty slots get activation 0
// and the lowest latent indices not already chosen (every unchosen latent is then
// exactly 0 after ReLU, and ties go to the lower index).
void tl_sae_topk_finish(float *values, int32_t *indices, const int32_t *filled,
                        size_t rows, int k);

// groupmax activation: latents are k consecutive groups of group_size; each group
// keeps its largest ReLU value (first index on ties). best/best_index are [rows, k],
// initialised by the caller to -1 / -1. Chunks may split groups; fold them in order.
// pre is in the strip layout, as for tl_sae_topk_fold. One thread, portable code on every
// path (the path is accepted for the one convention).
void tl_sae_groupmax_fold(const float *pre, size_t strip_stride, size_t rows, size_t cols,
                          const float *bias, int32_t first_latent, int32_t group_size, int k,
                          float *best, int32_t *best_index, int path);

#endif
