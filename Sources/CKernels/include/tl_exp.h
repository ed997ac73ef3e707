#ifndef THINKLENS_EXP_H
#define THINKLENS_EXP_H

#include <stdint.h>

// exp(x) for float x, computed the same way on every path and machine, so attention's softmax
// no longer depends on which libm a worker links. The method is the table-driven one that
// glibc (since 2.27) and musl use for expf: x·32/ln2 = k + r in double precision, a 32-entry
// table of 2^(i/32), a cubic in r, one rounding to float at the end, with the same constants
// and the same fused multiply-adds as glibc's x86-64 FMA build. So on those systems every
// result equals expf's; scripts/test-kernel-paths holds that on this machine (every float ≤ 0
// when asked, a sample otherwise) and the vector paths to the scalar one.

// exp(x); NaN, ±inf, overflow and underflow as expf returns them (NaN propagated quiet, +inf,
// 0, and 2^-149 for x just above the underflow threshold, as glibc's errno build returns).
float tl_expf(float x);

// s[t] = tl_expf(s[t] − shift) for t < n, the subtraction in float, as softmax needs it.
// path: TL_PATH_* (kernel_path.h); every path gives tl_expf's bits.
void tl_exp_shifted(float *s, int64_t n, float shift, int path);

#endif
