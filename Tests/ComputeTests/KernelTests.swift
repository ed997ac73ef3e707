import SafeTensors
import CKernels
import Foundation
import Testing
@testable import Compute

/// The hand-written linear kernels against the naive reference and against each other.
@Suite("Linear kernels", .serialized)
struct KernelTests {
    struct Case: CustomStringConvertible, Sendable {
        let dtype: TensorDType
        let rows: Int, k: Int, n: Int
        var description: String { "\(dtype.rawValue) rows \(rows) k \(k) n \(n)" }
    }

    static let cases: [Case] = [
        Case(dtype: .f32, rows: 1, k: 64, n: 16), Case(dtype: .bf16, rows: 7, k: 37, n: 13),
        Case(dtype: .f16, rows: 5, k: 200, n: 9), Case(dtype: .bf16, rows: 50, k: 96, n: 30),
        Case(dtype: .f32, rows: 4, k: 8, n: 5),
        // Full 8-row AVX-512 tiles (a decode batch of 8, two of them) in the other dtypes.
        Case(dtype: .f16, rows: 8, k: 45, n: 11), Case(dtype: .f32, rows: 16, k: 24, n: 9),
        // Tall enough for the packed (widen-once) path.
        Case(dtype: .bf16, rows: 300, k: 40, n: 6),
        // The AVX-512 packed path (25+ rows): k in several 512-column chunks with a tail, more
        // than one 64-row weight block and a partial 8-row panel, tiles of 5 and 6 rows.
        Case(dtype: .bf16, rows: 64, k: 1045, n: 75), Case(dtype: .f16, rows: 29, k: 1040, n: 19),
    ]

    /// Deterministic pseudo-random values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    /// A weight matrix [n, k] stored in `dtype`, its float32 values, and an owner for the bytes.
    static func weights(_ c: Case) -> (bytes: [UInt8], widened: [Float]) {
        let floats = values(c.n * c.k, seed: 11)
        var bytes: [UInt8] = []
        var widened: [Float] = []
        for f in floats {
            switch c.dtype {
            case .bf16:
                let bits = UInt16(truncatingIfNeeded: f.bitPattern >> 16)
                bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
                widened.append(Float(bitPattern: UInt32(bits) << 16))
            case .f16:
                let half = Float16(f)
                let bits = half.bitPattern
                bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
                widened.append(Float(half))
            default:
                withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes += $0 }
                widened.append(f)
            }
        }
        return (bytes, widened)
    }

    static func dtypeCode(_ d: TensorDType) -> Int32 {
        d == .bf16 ? Int32(TL_DTYPE_BF16) : d == .f16 ? Int32(TL_DTYPE_F16) : Int32(TL_DTYPE_F32)
    }

    /// Runs one linear layer with the given path (or the reference) and returns y [rows, n].
    static func run(_ c: Case, path: KernelPath?, x: [Float], rowsOverride: Int? = nil) -> [Float] {
        let rows = rowsOverride ?? c.rows
        let (bytes, _) = weights(c)
        let bias = values(c.n, seed: 5)
        var y = [Float](repeating: .nan, count: rows * c.n)
        bytes.withUnsafeBytes { w in
            bias.withUnsafeBufferPointer { b in
                y.withUnsafeMutableBufferPointer { out in
                    var part = tl_linear_part(weight: w.baseAddress, dtype: dtypeCode(c.dtype), n: Int64(c.n),
                                              bias: b.baseAddress, y: out.baseAddress, ldy: Int64(c.n))
                    if let path {
                        tl_linear(x, Int64(rows), Int64(c.k), Int64(c.k), &part, 1, path.rawValue)
                    } else {
                        tl_linear_reference(x, Int64(rows), Int64(c.k), Int64(c.k), &part, 1)
                    }
                }
            }
        }
        return y
    }

    @Test("every available path agrees with the double-precision reference", arguments: cases)
    func pathsMatchReference(c: Case) {
        let x = Self.values(c.rows * c.k, seed: 3)
        let reference = Self.run(c, path: nil, x: x)
        for path in KernelPath.allCases where path.isAvailable {
            let y = Self.run(c, path: path, x: x)
            let difference = zip(y, reference).map { abs($0 - $1) }.max()!
            let scale = reference.map { abs($0) }.max()!
            print("\(c) \(path): max abs difference from reference \(difference) (scale \(scale))")
            #expect(difference <= 1e-5 * max(scale, 1))
        }
    }

    @Test("every available path gives bit-identical results (the canonical reduction order)", arguments: cases)
    func pathsAreBitIdentical(c: Case) {
        let x = Self.values(c.rows * c.k, seed: 3)
        let portable = Self.run(c, path: .portable, x: x)
        for path in KernelPath.allCases where path.isAvailable {
            #expect(Self.run(c, path: path, x: x).map(\.bitPattern) == portable.map(\.bitPattern), "\(path)")
        }
    }

    @Test("a row's result does not depend on how many rows share the call", arguments: cases)
    func rowsAreBatchInvariant(c: Case) {
        let x = Self.values(c.rows * c.k, seed: 3)
        let batched = Self.run(c, path: .automatic, x: x)
        for m in 0..<c.rows {
            let alone = Self.run(c, path: .automatic, x: Array(x[(m * c.k)..<((m + 1) * c.k)]), rowsOverride: 1)
            #expect(alone.map(\.bitPattern) == Array(batched[(m * c.n)..<((m + 1) * c.n)]).map(\.bitPattern), "row \(m)")
        }
    }

    @Test("results do not depend on the thread count")
    func threadCountInvariant() {
        let c = Case(dtype: .bf16, rows: 9, k: 72, n: 45)
        let x = Self.values(c.rows * c.k, seed: 9)
        let before = Kernels.threadCount
        defer { Kernels.threadCount = before }
        Kernels.threadCount = 1
        let one = Self.run(c, path: .automatic, x: x)
        Kernels.threadCount = 3
        let three = Self.run(c, path: .automatic, x: x)
        #expect(one.map(\.bitPattern) == three.map(\.bitPattern))
    }

    @Test("dot product follows the same canonical order on every path")
    func dotIsPathIndependent() {
        let a = Self.values(131, seed: 1), b = Self.values(131, seed: 2)
        let reference = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let portable = tl_dot(a, b, 131, KernelPath.portable.rawValue)
        for path in KernelPath.allCases where path.isAvailable {
            #expect(tl_dot(a, b, 131, path.rawValue).bitPattern == portable.bitPattern)
        }
        #expect(abs(Double(portable) - reference) < 1e-5)
    }
}

/// Attention over a batch of query rows against each row alone (the single-row kernel is the
/// specification), on every path and thread count.
@Suite("Attention kernel", .serialized)
struct AttentionKernelTests {
    static let heads = 6, kvHeads = 2, headDim = 20, capacity = 300
    static let lengths = [1, 7, 150, 300, 64]

    /// Keys and values for each query's own sequence: [kvHeads, capacity, headDim] each.
    static let caches: [[Float]] = lengths.indices.map {
        KernelTests.values(2 * kvHeads * capacity * headDim, seed: 100 + UInt64($0))
    }
    static let queries: [[Float]] = lengths.indices.map { KernelTests.values(heads * headDim, seed: 200 + UInt64($0)) }

    static func alone(_ i: Int, path: KernelPath) -> [Float] {
        var out = [Float](repeating: .nan, count: heads * headDim)
        var scores = [Float](repeating: 0, count: capacity)
        let half = kvHeads * capacity * headDim
        caches[i].withUnsafeBufferPointer { kv in
            tl_attention_row(queries[i], kv.baseAddress!, kv.baseAddress! + half, Int64(capacity), Int32(heads),
                             Int32(kvHeads), Int32(headDim), Int64(lengths[i]), 0.25, &scores, &out, path.rawValue)
        }
        return out
    }

    static func batched(path: KernelPath) -> [[Float]] {
        var outs = lengths.map { _ in [Float](repeating: .nan, count: heads * headDim) }
        let half = kvHeads * capacity * headDim
        var descriptors: [tl_attention_query] = []
        var keep: [UnsafeMutableBufferPointer<Float>] = []
        for i in lengths.indices {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: heads * headDim)
            keep.append(buffer)
            caches[i].withUnsafeBufferPointer { kv in
                queries[i].withUnsafeBufferPointer { q in
                    descriptors.append(tl_attention_query(q: q.baseAddress, keys: kv.baseAddress,
                                                          values: kv.baseAddress! + half,
                                                          length: Int64(lengths[i]), out: buffer.baseAddress))
                }
            }
        }
        tl_attention(descriptors, Int64(descriptors.count), Int64(capacity), Int32(heads), Int32(kvHeads),
                     Int32(headDim), 0.25, Int32(TL_DTYPE_F32), path.rawValue)
        for i in lengths.indices {
            outs[i] = Array(keep[i])
            keep[i].deallocate()
        }
        return outs
    }

    @Test("a batch gives each query the bits it gets alone, on every path and thread count")
    func batchMatchesSingleRows() {
        let before = Kernels.threadCount
        defer { Kernels.threadCount = before }
        let portable = Self.lengths.indices.map { Self.alone($0, path: .portable) }
        for threads in [1, 2, 3] {
            Kernels.threadCount = threads
            for path in KernelPath.allCases where path.isAvailable {
                let batch = Self.batched(path: path)
                for i in Self.lengths.indices {
                    #expect(Self.alone(i, path: path).map(\.bitPattern) == portable[i].map(\.bitPattern), "\(path) query \(i)")
                    #expect(batch[i].map(\.bitPattern) == portable[i].map(\.bitPattern), "\(path) threads \(threads) query \(i)")
                }
            }
        }
    }
}

/// The SAE encoder's GEMM: each pre-activation is one FMA chain over k in order on every path,
/// so the AVX-512 kernel (two row strips at once), the AVX2 kernel and the portable loop agree
/// to the bit, including the k blocks that continue a chain and the padded edges.
@Suite("SAE GEMM kernel", .serialized)
struct SAEGemmKernelTests {
    @Test("every available path gives the portable path's bits", arguments: [TensorDType.f32, .bf16])
    func pathsAreBitIdentical(dtype: TensorDType) {
        // 19 rows: three strips of 6 (one pair plus a single) and a padded one; k spans three
        // k blocks and is not a multiple of 8; 40 latents leave a padded latent strip.
        let m = 19, k = 300, n = 40
        let c = KernelTests.Case(dtype: dtype, rows: m, k: k, n: n)
        let (bytes, _) = KernelTests.weights(c)
        let x = KernelTests.values(m * k, seed: 5)
        var packed = [Float](repeating: 0, count: tl_sae_packed_rows_floats(m, k))
        tl_sae_pack_rows(x, k, m, k, &packed)
        func run(_ path: KernelPath) -> [UInt32] {
            var pre = [Float](repeating: .nan, count: tl_sae_pre_floats(m, n))
            bytes.withUnsafeBytes { w in
                tl_sae_gemm(packed, m, k, w.baseAddress!, dtype == .bf16 ? 1 : 0, k, n, &pre, path.rawValue)
            }
            let rowsPadded = (m + Int(TL_SAE_MR) - 1) / Int(TL_SAE_MR) * Int(TL_SAE_MR)
            var out: [UInt32] = []
            for r in 0..<m {
                for j in 0..<n {
                    let strip = j / Int(TL_SAE_NR)
                    out.append(pre[strip * rowsPadded * Int(TL_SAE_NR) + r * Int(TL_SAE_NR) + j % Int(TL_SAE_NR)].bitPattern)
                }
            }
            return out
        }
        let portable = run(.portable)
        #expect(!portable.contains(Float.nan.bitPattern))
        for path in KernelPath.allCases where path.isAvailable && path != .portable {
            #expect(run(path) == portable, "\(path)")
        }
    }
}

/// The SAE selection kernels: the running top-k and groupmax folds and the bf16 widening give
/// the portable path's bits on every path — the same latents, the same ties to the lower index,
/// the same zero-filled tail for rows with fewer than k positive latents.
@Suite("SAE top-k kernels", .serialized)
struct SAESelectionKernelTests {
    static let rows = 13, latents = 150, panel = 37

    /// Pre-activations [rows, latents] and a bias on a grid of 1/8 and 1/16, so values tie.
    static let pre = KernelTests.values(rows * latents, seed: 21).map { ($0 * 8).rounded(.down) / 8 }
    static let bias = KernelTests.values(latents, seed: 22).map { ($0 * 4).rounded(.down) / 16 }

    /// Folds the latents in panels of `panel` (each in tl_sae_gemm's strip layout, as the encoder
    /// hands them over) into values and indices [rows, k]; groupmax over k groups if `groupmax`.
    static func select(k: Int, groupmax: Bool, path: KernelPath) -> (values: [UInt32], indices: [Int32]) {
        var values = [Float](repeating: -1, count: rows * k), indices = [Int32](repeating: -1, count: rows * k)
        var filled = [Int32](repeating: 0, count: rows)
        if !groupmax { tl_sae_topk_reset(&values, &indices, &filled, rows, Int32(k)) }
        let stripStride = (rows + Int(TL_SAE_MR) - 1) / Int(TL_SAE_MR) * Int(TL_SAE_MR) * Int(TL_SAE_NR)
        var block = [Float](repeating: 0, count: tl_sae_pre_floats(rows, panel))
        for start in stride(from: 0, to: latents, by: panel) {
            let cols = min(panel, latents - start)
            for r in 0..<rows {
                for j in 0..<cols {
                    block[j / Int(TL_SAE_NR) * stripStride + r * Int(TL_SAE_NR) + j % Int(TL_SAE_NR)] = pre[r * latents + start + j]
                }
            }
            bias.withUnsafeBufferPointer { b in
                if groupmax {
                    tl_sae_groupmax_fold(block, stripStride, rows, cols, b.baseAddress! + start, Int32(start),
                                         Int32(latents / k), Int32(k), &values, &indices, path.rawValue)
                } else {
                    tl_sae_topk_fold(block, stripStride, rows, cols, b.baseAddress! + start, Int32(start), Int32(k),
                                     &values, &indices, &filled, path.rawValue)
                }
            }
        }
        if !groupmax { tl_sae_topk_finish(&values, &indices, filled, rows, Int32(k)) }
        return (values.map(\.bitPattern), indices)
    }

    @Test("every available path folds to the portable path's top-k (k 5, 40; k 80 exceeds every row's positives)",
          arguments: [5, 40, 80])
    func topkPathsAreBitIdentical(k: Int) {
        let portable = Self.select(k: k, groupmax: false, path: .portable)
        #expect(!portable.indices.contains(-1))
        for path in KernelPath.allCases where path.isAvailable {
            let other = Self.select(k: k, groupmax: false, path: path)
            #expect(other.values == portable.values && other.indices == portable.indices, "\(path)")
        }
    }

    @Test("every available path folds to the portable path's groupmax")
    func groupmaxPathsAreBitIdentical() {
        let portable = Self.select(k: 10, groupmax: true, path: .portable)
        for path in KernelPath.allCases where path.isAvailable {
            let other = Self.select(k: 10, groupmax: true, path: path)
            #expect(other.values == portable.values && other.indices == portable.indices, "\(path)")
        }
    }

    @Test("bf16 widening is exact on every available path")
    func bf16WideningIsPathIndependent() {
        let bits = KernelTests.values(75, seed: 23).map { UInt16(truncatingIfNeeded: ($0 * 100).bitPattern >> 16) }
            + [0x8000, 0x7F80, 0x7FC1, 0x0001]
        for path in KernelPath.allCases where path.isAvailable {
            var out = [Float](repeating: .nan, count: bits.count)
            tl_sae_bf16_to_f32(bits, &out, bits.count, path.rawValue)
            #expect(out.map(\.bitPattern) == bits.map { UInt32($0) << 16 }, "\(path)")
        }
    }
}
