// Only the header matters: LLVMFuzzerRunDriver comes from libclang_rt.fuzzer.
#include "CLibFuzzer.h"
