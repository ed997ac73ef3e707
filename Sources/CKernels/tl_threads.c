#include "tl_threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax(void) { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax(void) { __asm__ __volatile__("yield"); }
#else
static inline void cpu_relax(void) {}
#endif

// How long a worker spins before sleeping (about a millisecond): long enough to bridge the gaps
// between the kernels of one forward pass, short enough not to burn a core between requests.
// Spinners yield now and then so an oversubscribed machine still schedules the thread they wait for.
#define SPIN_ITERATIONS 50000
#define YIELD_EVERY 1024

#define MAX_THREADS 256

static pthread_mutex_t dispatch_lock = PTHREAD_MUTEX_INITIALIZER;  // one tl_parallel at a time
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

static int thread_count = 0;           // 0 = not started yet
static pthread_t workers[MAX_THREADS];
static _Atomic unsigned long generation = 0;  // bumped once per dispatch
static _Atomic int sleepers = 0;
static _Atomic int remaining = 0;             // workers still busy with this generation
static _Atomic int shutting_down = 0;
static unsigned long start_generation = 0;    // written before the workers are created
static tl_task current_fn = 0;
static void *current_context = 0;
static int current_count = 1;

static void *worker_main(void *arg) {
    int index = (int)(intptr_t)arg;
    // The generation when the pool started, not when this thread got scheduled: a dispatch
    // may already have been published by then and must not be missed.
    unsigned long seen = start_generation;
    for (;;) {
        unsigned long now;
        int spins = 0;
        while ((now = atomic_load(&generation)) == seen) {
            if (++spins < SPIN_ITERATIONS) {
                if (spins % YIELD_EVERY == 0) sched_yield(); else cpu_relax();
                continue;
            }
            atomic_fetch_add(&sleepers, 1);
            pthread_mutex_lock(&sleep_lock);
            while ((now = atomic_load(&generation)) == seen) pthread_cond_wait(&wake, &sleep_lock);
            pthread_mutex_unlock(&sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            break;
        }
        seen = now;
        if (atomic_load(&shutting_down)) return 0;
        current_fn(current_context, index, current_count);
        atomic_fetch_sub(&remaining, 1);
    }
}

static void stop_workers(void) {
    if (thread_count <= 1) return;
    atomic_store(&shutting_down, 1);
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add(&generation, 1);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&sleep_lock);
    for (int i = 1; i < thread_count; i++) pthread_join(workers[i], 0);
    atomic_store(&shutting_down, 0);
}

static void start_workers(int count) {
    thread_count = count;
    start_generation = atomic_load(&generation);
    for (int i = 1; i < count; i++) {
        if (pthread_create(&workers[i], 0, worker_main, (void *)(intptr_t)i) != 0) {
            // Could not start more threads: run with the ones that did start.
            thread_count = i;
            break;
        }
    }
}

static int default_thread_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > MAX_THREADS ? MAX_THREADS : (int)n);
}

void tl_set_threads(int count) {
    if (count < 1) count = 1;
    if (count > MAX_THREADS) count = MAX_THREADS;
    pthread_mutex_lock(&dispatch_lock);
    if (count != thread_count) {
        stop_workers();
        start_workers(count);
    }
    pthread_mutex_unlock(&dispatch_lock);
}

int tl_threads(void) {
    pthread_mutex_lock(&dispatch_lock);
    if (thread_count == 0) start_workers(default_thread_count());
    int n = thread_count;
    pthread_mutex_unlock(&dispatch_lock);
    return n;
}

void tl_parallel(tl_task fn, void *context) {
    pthread_mutex_lock(&dispatch_lock);
    if (thread_count == 0) start_workers(default_thread_count());
    int count = thread_count;
    if (count == 1) {
        fn(context, 0, 1);
        pthread_mutex_unlock(&dispatch_lock);
        return;
    }
    current_fn = fn;
    current_context = context;
    current_count = count;
    atomic_store(&remaining, count - 1);
    atomic_fetch_add(&generation, 1);  // seq_cst: pairs with the sleepers check below
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    fn(context, 0, count);
    for (int spins = 1; atomic_load(&remaining) > 0; spins++) {
        if (spins % YIELD_EVERY == 0) sched_yield(); else cpu_relax();
    }
    pthread_mutex_unlock(&dispatch_lock);
}

// Per-thread scratch. The buffers hang off a pthread key whose destructor frees them at thread
// exit; a plain _Thread_local pointer would lose them with every thread that ends.
typedef struct {
    float *data[TL_SCRATCH_SLOTS];
    int64_t capacity[TL_SCRATCH_SLOTS];
} thread_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_key_once = PTHREAD_ONCE_INIT;
static int scratch_key_created = 0;  // written once, inside pthread_once

static void free_thread_scratch(void *value) {
    thread_scratch *scratch = (thread_scratch *)value;
    for (int i = 0; i < TL_SCRATCH_SLOTS; i++) free(scratch->data[i]);
    free(scratch);
}

static void create_scratch_key(void) {
    scratch_key_created = pthread_key_create(&scratch_key, free_thread_scratch) == 0;
}

float *tl_thread_scratch(int slot, int64_t floats) {
    pthread_once(&scratch_key_once, create_scratch_key);
    if (!scratch_key_created) return 0;
    thread_scratch *scratch = (thread_scratch *)pthread_getspecific(scratch_key);
    if (!scratch) {
        scratch = (thread_scratch *)calloc(1, sizeof(thread_scratch));
        if (!scratch) return 0;
        if (pthread_setspecific(scratch_key, scratch) != 0) {
            free(scratch);
            return 0;
        }
    }
    if (scratch->capacity[slot] < floats) {
        free(scratch->data[slot]);
        scratch->data[slot] = (float *)malloc(sizeof(float) * (size_t)floats);
        scratch->capacity[slot] = scratch->data[slot] ? floats : 0;
    }
    return scratch->data[slot];
}
