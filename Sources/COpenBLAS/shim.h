// OpenBLAS's own cblas.h (from its pkg-config include path), not the
// update-alternatives symlink, so openblas_set_num_threads and friends are declared.
#include <cblas.h>
