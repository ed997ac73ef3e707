#ifndef THINKLENS_KERNEL_PATH_H
#define THINKLENS_KERNEL_PATH_H

// Which instruction-set path a kernel runs. Every kernel entry point (tl_linear, tl_dot,
// tl_rms_norm, tl_attention_row, tl_attention, tl_exp_shifted, tl_sae_gemm, tl_sae_topk_fold,
// tl_sae_groupmax_fold, tl_sae_bf16_to_f32) takes one of these as its last argument, and every
// path gives the portable path's bits (tl_linear.h, sae_gemm.h and sae_kernels.h say how), so
// the path only changes speed. Tests name paths to hold each to the portable bits; everything
// else passes TL_PATH_AUTO. The bookkeeping around the kernels (tl_rope, tl_swiglu,
// tl_sae_pack_rows, tl_sae_topk_reset/finish) has one scalar implementation
// and takes no path.
//
// TL_PATH_AUTO, or a path this CPU cannot run, means tl_kernel_auto_path(): the fastest path
// here, unless THINKLENS_KERNELS=avx512|avx2|neon|portable names another this CPU can run. So
// THINKLENS_KERNELS=portable pins every kernel to plain C.
//
// Not every kernel has code for every path; one without code for the path asked for runs its
// best lower path (AVX-512 -> AVX2 -> portable on x86-64; NEON -> portable on aarch64):
//
//   kernel                   portable  AVX2  AVX-512          NEON
//   tl_linear                yes       yes   yes              yes
//   tl_dot, tl_rms_norm      yes       yes   AVX2             yes
//   tl_attention             yes       yes   yes              yes (blocks of rows on every vector path)
//   tl_attention_row         yes       yes   AVX2             scores NEON (tl_dot), value sums portable
//   tl_exp_shifted           yes       yes   yes              portable (scalar, fused multiply-adds)
//   tl_sae_gemm              yes       yes   yes              yes
//   tl_sae_topk_fold         yes       yes   AVX2             yes
//   tl_sae_groupmax_fold     yes       portable on every path (a compare and a store per latent)
//   tl_sae_bf16_to_f32       yes       yes   AVX2             yes

enum {
    TL_PATH_AUTO = 0,      // the fastest path this CPU supports (or THINKLENS_KERNELS's)
    TL_PATH_PORTABLE = 1,  // plain C with fmaf (any CPU)
    TL_PATH_AVX2 = 2,      // x86-64 AVX2 + FMA + F16C
    TL_PATH_AVX512 = 3,    // x86-64 AVX-512F/BW/VL
    TL_PATH_NEON = 4,      // aarch64 Advanced SIMD (part of the base architecture)
};

// Whether `path` can run on this CPU (TL_PATH_AUTO and TL_PATH_PORTABLE always can).
int tl_kernel_path_available(int path);

// The path TL_PATH_AUTO resolves to: THINKLENS_KERNELS's if set and available (an unknown name
// or a path this CPU lacks is reported on stderr once and ignored), else the fastest available.
// Read once per process.
int tl_kernel_auto_path(void);

// The path a kernel called with `path` runs: `path` itself if this CPU can run it, else
// tl_kernel_auto_path(). Kernels resolve once per call, on the calling thread.
int tl_kernel_path(int path);

#endif
