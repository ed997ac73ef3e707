#ifndef THINKLENS_CLIBFUZZER_H
#define THINKLENS_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (compiler-rt FuzzerDriver.cpp), linked by -sanitize=fuzzer: parses the
// libFuzzer flags in argv and runs the callback on each input. The fuzz targets call it from
// their own main, because SwiftPM gives every executable one (see FuzzSupport).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
