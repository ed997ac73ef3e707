import COpenBLAS
import CKernels

/// The one place that talks to OpenBLAS. Row-major float32 throughout.
public enum BLAS {
    /// C[m×n] = alpha · A[m×k] · B[n×k]ᵀ + beta · C — the shape of every `x · Wᵀ` in the model.
    @inlinable
    public static func gemmABt(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float = 1, beta: Float = 0
    ) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    blasint(m), blasint(n), blasint(k),
                    alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }

    /// OpenBLAS's worker thread count. Set it once at start-up: `OMP_PROC_BIND` and similar
    /// environment settings can silently leave it at 1.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// OpenBLAS's build description, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The kernel family OpenBLAS picked for this CPU, e.g. "Haswell" or "Zen".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// What the hand-written kernels will use on this CPU, e.g. "x86-64 avx2+fma".
    public static var cpuDescription: String { String(cString: tl_cpu_description()) }
}
