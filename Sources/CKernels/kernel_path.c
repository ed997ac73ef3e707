#include "kernel_path.h"
#include "cpu_features.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tl_kernel_path_available(int path) {
    switch (path) {
    case TL_PATH_AUTO:
    case TL_PATH_PORTABLE: return 1;
#if defined(__x86_64__) || defined(__i386__)
    case TL_PATH_AVX2: return tl_cpu_has_avx2_fma();
    case TL_PATH_AVX512: return tl_cpu_has_avx512f() && tl_cpu_has_avx2_fma();
#endif
#if defined(__aarch64__)
    case TL_PATH_NEON: return 1;
#endif
    default: return 0;
    }
}

static int auto_path = TL_PATH_PORTABLE;
static pthread_once_t auto_path_once = PTHREAD_ONCE_INIT;

// AVX-512 where the CPU has it (F+BW+VL), else AVX2+FMA, NEON on aarch64, else portable C; all give
// the same bits (tested on an AVX-512 Zen 5 box, where AVX-512 was 1.1-1.4x faster than AVX2 at
// 1.5B dimensions; NEON under qemu-aarch64). THINKLENS_KERNELS=avx512, avx2, neon or portable
// forces a path, e.g. to compare them.
static void choose_auto_path(void) {
    const char *asked = getenv("THINKLENS_KERNELS");
    int wanted = TL_PATH_AUTO;
    if (asked && *asked) {
        if (!strcmp(asked, "avx512")) wanted = TL_PATH_AVX512;
        else if (!strcmp(asked, "avx2")) wanted = TL_PATH_AVX2;
        else if (!strcmp(asked, "neon")) wanted = TL_PATH_NEON;
        else if (!strcmp(asked, "portable")) wanted = TL_PATH_PORTABLE;
        else fprintf(stderr, "thinklens: THINKLENS_KERNELS=%s is not one of avx512, avx2, neon, portable; choosing automatically\n", asked);
        if (wanted != TL_PATH_AUTO && !tl_kernel_path_available(wanted)) {
            fprintf(stderr, "thinklens: THINKLENS_KERNELS=%s: this CPU cannot run that path; choosing automatically\n", asked);
            wanted = TL_PATH_AUTO;
        }
    }
    if (wanted != TL_PATH_AUTO) auto_path = wanted;
    else if (tl_kernel_path_available(TL_PATH_AVX512)) auto_path = TL_PATH_AVX512;
    else if (tl_kernel_path_available(TL_PATH_AVX2)) auto_path = TL_PATH_AVX2;
    else if (tl_kernel_path_available(TL_PATH_NEON)) auto_path = TL_PATH_NEON;
    else auto_path = TL_PATH_PORTABLE;
}

// Once per process: every kernel asks, from whichever thread calls it first (the model's, an
// SAE encoder's, a test's), and the warnings above should appear once.
int tl_kernel_auto_path(void) {
    pthread_once(&auto_path_once, choose_auto_path);
    return auto_path;
}

int tl_kernel_path(int path) {
    if (path == TL_PATH_AUTO || !tl_kernel_path_available(path)) return tl_kernel_auto_path();
    return path;
}
