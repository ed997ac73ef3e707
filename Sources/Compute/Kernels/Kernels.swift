import CKernels
import Synchronization

/// Which implementation of the hand-written kernels runs; every path gives bit-identical results
/// (see tl_linear.h for the canonical reduction order), so this only changes speed.
public enum KernelPath: Int32, Sendable, CaseIterable {
    case automatic = 0, portable = 1, avx2 = 2, avx512 = 3, neon = 4

    public var isAvailable: Bool { tl_kernel_path_available(rawValue) != 0 }
    /// What `.automatic` picks on this CPU.
    public static var selected: KernelPath { KernelPath(rawValue: tl_kernel_auto_path()) ?? .portable }
}

/// One output of a linear layer: y[m][j] = Σ_k x[m][k] · matrix[j][k] (+ bias[j]) at `y + m·ldy + j`.
struct LinearOutput {
    let matrix: WeightMatrix
    let bias: UnsafePointer<Float>?
    let y: UnsafeMutablePointer<Float>
    let ldy: Int

    var part: tl_linear_part {
        tl_linear_part(weight: matrix.base, dtype: matrix.kernelDType, n: Int64(matrix.rows), bias: bias, y: y, ldy: Int64(ldy))
    }
}

/// Swift face of the C kernels in CKernels.
public enum Kernels {
    /// Threads used by every kernel call (the caller included). Set once at start-up.
    public static var threadCount: Int {
        get { Int(tl_threads()) }
        set { tl_set_threads(Int32(newValue)) }
    }

    /// Forces a kernel path (tests compare paths); `.automatic` is the default. Every kernel call
    /// reads it, from any thread, so it is atomic: a test may set it while other tests' kernels run
    /// (they then run the forced path, which gives the same bits).
    public static var path: KernelPath {
        get { KernelPath(rawValue: forcedPath.load(ordering: .relaxed)) ?? .automatic }
        set { forcedPath.store(newValue.rawValue, ordering: .relaxed) }
    }
    private static let forcedPath = Atomic<Int32>(KernelPath.automatic.rawValue)

    /// x: [rows, k] with row stride ldx; up to three outputs (q/k/v, gate/up) share one dispatch
    /// to the thread pool. Fixed arguments rather than an array: no allocation per call.
    static func linear(_ x: UnsafePointer<Float>, rows: Int, k: Int, ldx: Int,
                       _ first: LinearOutput, _ second: LinearOutput? = nil, _ third: LinearOutput? = nil) {
        withUnsafeTemporaryAllocation(of: tl_linear_part.self, capacity: 3) { parts in
            precondition(first.matrix.columns == k && (second?.matrix.columns ?? k) == k && (third?.matrix.columns ?? k) == k,
                         "linear layer \(first.matrix.name): matrix columns differ from the input width \(k)")
            parts[0] = first.part
            var count = 1
            if let second { parts[count] = second.part; count += 1 }
            if let third { parts[count] = third.part; count += 1 }
            tl_linear(x, Int64(rows), Int64(k), Int64(ldx), parts.baseAddress, Int32(count), path.rawValue)
        }
    }

    static func rmsNorm(_ x: UnsafePointer<Float>, weight: FloatBuffer, count: Int, eps: Float, into y: UnsafeMutablePointer<Float>) {
        tl_rms_norm(x, weight.pointer, Int64(count), eps, y, path.rawValue)
    }
}
