#ifndef THINKLENS_THREADS_H
#define THINKLENS_THREADS_H

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

#endif
