#ifndef THINKLENS_THREADS_H
#define THINKLENS_THREADS_H

#include <stdint.h>

// A small persistent thread pool for the kernels. The calling thread is worker 0; the others
// spin briefly for new work, then sleep on a condition variable, so a dispatch costs a few
// microseconds while the model runs and nothing while it is idle.

// Sets the number of threads (>= 1), the caller included. Not thread-safe against tl_parallel.
void tl_set_threads(int count);
int tl_threads(void);

// Runs fn(context, index, count) for index = 0 ..< count on count = tl_threads() threads and
// returns when all are done. Calls from several threads at once are serialised.
typedef void (*tl_task)(void *context, int index, int count);
void tl_parallel(tl_task fn, void *context);

// Waking the pool costs microseconds: products under this many multiply-adds (tl_linear's,
// tl_sae_gemm's) run on the calling thread instead.
#define TL_PARALLEL_MIN_MACS (1 << 18)

// Scratch memory that belongs to the calling thread: one buffer per slot and thread, grown on
// demand, never shrunk, and freed when the thread exits (the pool's threads when tl_set_threads
// stops them, and the callers' threads, which may be short-lived). Returns at least `floats`
// floats, or NULL when out of memory. The contents do not survive a call that grows the buffer.
enum {
    TL_SCRATCH_ATTENTION_SCORES,  // tl_attention: [threads, max_length], the caller's, shared with the pool
    TL_SCRATCH_WIDENED_WEIGHTS,   // tl_linear's packed paths: AVX2 [4, k]; AVX-512 a panel, saved chains, packed rows
    TL_SCRATCH_ATTENTION_KV,      // tl_attention over a bf16 cache: keys and values widened, per pool thread
    TL_SCRATCH_SLOTS
};
float *tl_thread_scratch(int slot, int64_t floats);

#endif
