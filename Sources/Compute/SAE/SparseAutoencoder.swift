import Checkpoints
import SafeTensors
import CKernels
import Foundation

/// The top-k latents of a batch of rows: row r's latents are `indices[r*k ..< (r+1)*k]`,
/// sorted by activation descending, ties to the lower latent index.
public struct SAELatents: Sendable, Equatable {
    public let k: Int
    /// No rows yet; `SparseAutoencoder.encode(_:rows:into:)` sizes it.
    public init(k: Int) { self.init(k: k, indices: [], activations: [], positiveCounts: []) }

    public var rows: Int { positiveCounts.count }
    /// [rows, k] latent indices.
    public var indices: [Int32]
    /// [rows, k] activations after ReLU; 0 where a row had fewer than k positive latents.
    public var activations: [Float]
    /// [rows] how many of the row's k activations are > 0.
    public var positiveCounts: [Int32]

    public init(k: Int, indices: [Int32], activations: [Float], positiveCounts: [Int32]) {
        precondition(indices.count == activations.count && indices.count == positiveCounts.count * k)
        self.k = k
        self.indices = indices
        self.activations = activations
        self.positiveCounts = positiveCounts
    }
}

/// One hookpoint's sparsify k-sparse autoencoder, memory-mapped.
///
/// Encoding is sparsify's `SparseCoder.encode` for `transcode: false`:
/// `pre = ReLU((x − b_dec) · encoder.weightᵀ + encoder.bias)`, then the k largest of `pre`
/// (`activation: topk`) or the largest of each of k groups (`groupmax`). The GEMM is our
/// own AVX2 kernel (sae_gemm.c) in float32 — bf16 weights are widened exactly as they are
/// packed — one latent panel at a time, and a fused ReLU + running top-k consumes each
/// panel, so the [rows, num_latents] pre-activation matrix never exists.
///
/// Batch invariance: a row's latents are bit-identical whichever rows are encoded with it,
/// and whatever `latentPanel`, `rowBlock` or the thread count are. Each pre-activation is one FMA
/// chain over d_in in order in every code path. OpenBLAS sgemm was not used because its
/// results change in the last bits with the shape of the call (measured with 0.3.21 on
/// Zen 3: row r of an M-row call differs from the same row in a 1-, 16- or 32-row call).
///
/// The kernels run on the kernel thread pool (`Kernels.threadCount` threads, shared with the
/// model) on the path `Kernels.path` names. `encode` serialises on an internal lock (its
/// scratch buffers are shared); instances on several threads share the pool, whose
/// dispatches are serialised, so the parallelism is inside each call.
public final class SparseAutoencoder: @unchecked Sendable {
    public let hookpoint: String
    /// The hookpoint folder holding cfg.json and sae.safetensors.
    public let directory: String
    public let config: SAEConfig
    public let dIn: Int
    public let numLatents: Int
    public let k: Int
    public let activation: SAEActivation
    /// dtype of encoder.weight (F32 or BF16).
    public let weightDType: TensorDType
    /// Whether W_dec is present, i.e. whether `reconstruct` and the FVU are available.
    public var hasDecoder: Bool { decoderWeight != nil }
    /// See `SAEFingerprint` for what it covers.
    public private(set) var fingerprint: String = ""

    let file: SafeTensorsFile
    let encoderWeight: TensorView          // [numLatents, dIn]
    let decoderWeight: TensorView?         // [numLatents, dIn]
    let skipWeight: TensorView?            // [dIn, dIn], only with skip_connection
    let encoderBias: [Float]               // [numLatents]
    let decoderBias: [Float]               // [dIn] (b_dec)

    /// Latents per pass: bounds the pre-activation block [rowBlock, latentPanel] that the
    /// fused ReLU + top-k consumes. Results do not depend on it.
    public var latentPanel: Int
    /// Rows encoded per pass: bounds scratch for any number of rows. Results do not depend on it.
    public static let rowBlock = 512

    private let lock = NSLock()
    private var workspace: EncodeWorkspace?

    /// Opens `checkpoint/hookpoint/{cfg.json,sae.safetensors}`.
    /// - Parameter expectedDIn: the model's hidden size; a different `d_in` is refused.
    public convenience init(checkpoint: String, hookpoint: String, expectedDIn: Int? = nil) throws {
        try self.init(try SAECheckpoint(checkpoint: checkpoint, hookpoint: hookpoint), expectedDIn: expectedDIn)
    }

    /// Opens a single hookpoint folder.
    public convenience init(hookpointDirectory folder: String, hookpoint: String? = nil, expectedDIn: Int? = nil) throws {
        try self.init(try SAECheckpoint(hookpointDirectory: folder, hookpoint: hookpoint), expectedDIn: expectedDIn)
    }

    public init(_ checkpoint: SAECheckpoint, expectedDIn: Int? = nil) throws {
        let config = checkpoint.config
        let cfgPath = checkpoint.configPath, weightsPath = checkpoint.weightsPath
        if let expectedDIn, expectedDIn != config.dIn {
            throw SAEError(path: cfgPath, reason: "d_in is \(config.dIn) but the model's hidden size is \(expectedDIn); this SAE was trained on a different model or hookpoint")
        }
        let file = try checkpoint.openWeights()
        let n = config.numLatents, d = config.dIn
        func view(_ name: String, _ shape: [Int]) throws -> TensorView {
            guard let info = file.tensors[name] else {
                throw SAEError(path: weightsPath, reason: "tensor '\(name)' is missing (a sparsify SAE has encoder.weight, encoder.bias, b_dec, W_dec)")
            }
            guard info.shape == shape else {
                throw SAEError(path: weightsPath, reason: "tensor '\(name)' has shape \(info.shape) but cfg.json (d_in \(d), num_latents \(n)) implies \(shape)")
            }
            guard info.dtype == .f32 || info.dtype == .bf16 else {
                throw SAEError(path: weightsPath, reason: "tensor '\(name)' has dtype \(info.dtype.rawValue); only F32 and BF16 SAEs are supported")
            }
            return try file.tensor(name)
        }
        self.encoderWeight = try view("encoder.weight", [n, d])
        self.encoderBias = try view("encoder.bias", [n]).floats()
        self.decoderBias = try view("b_dec", [d]).floats()
        self.decoderWeight = file.contains("W_dec") ? try view("W_dec", [n, d]) : nil
        if config.skipConnection {
            // Encoding never needs W_skip; reconstruction does, and checks for it there.
            self.skipWeight = file.contains("W_skip") ? try view("W_skip", [d, d]) : nil
        } else {
            self.skipWeight = nil
        }
        self.file = file
        self.config = config
        self.directory = checkpoint.directory
        self.hookpoint = checkpoint.hookpoint
        self.dIn = d
        self.numLatents = n
        self.k = config.k
        self.activation = config.activationKind
        self.weightDType = encoderWeight.dtype
        self.latentPanel = SparseAutoencoder.defaultLatentPanel(dtype: encoderWeight.dtype)
        self.fingerprint = SAEFingerprint.compute(config: config, weights: file)
    }

    /// Opens several hookpoints of one checkpoint, in the order given (e.g. a worker's
    /// layers.5.mlp, layers.10.mlp, layers.20.mlp); the first failure is thrown.
    public static func load(checkpoint: String, hookpoints: [String], expectedDIn: Int? = nil) throws -> [SparseAutoencoder] {
        try hookpoints.map { try SparseAutoencoder(checkpoint: checkpoint, hookpoint: $0, expectedDIn: expectedDIn) }
    }

    /// 4096 latents: a [400, 4096] pre-activation block is 6.6 MB, and fewer, larger passes
    /// wake the thread pool fewer times. The same for F32 and BF16, since bf16 is widened while packing.
    public static func defaultLatentPanel(dtype: TensorDType) -> Int { 4096 }

    // MARK: - Encoding

    /// Encodes `rows` rows of `x` ([rows, dIn], row-major) into caller-owned buffers:
    /// `indices`/`activations` [rows, k], `positiveCounts` [rows] (optional).
    public func encode(_ x: UnsafePointer<Float>, rows: Int,
                       indices: UnsafeMutablePointer<Int32>,
                       activations: UnsafeMutablePointer<Float>,
                       positiveCounts: UnsafeMutablePointer<Int32>? = nil) {
        encode(x, rows: rows, indices: indices, activations: activations, positiveCounts: positiveCounts, selecting: true)
    }

    /// `selecting: false` runs only the encoder GEMM (benchmarks use it to split the time).
    func encode(_ x: UnsafePointer<Float>, rows: Int, indices: UnsafeMutablePointer<Int32>,
                activations: UnsafeMutablePointer<Float>, positiveCounts: UnsafeMutablePointer<Int32>?,
                selecting: Bool) {
        guard rows > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        let ws = preparedWorkspace()
        var rowStart = 0
        while rowStart < rows {
            let m = min(Self.rowBlock, rows - rowStart)
            encodeBlock(x + rowStart * dIn, rows: m, workspace: ws,
                        indices: indices + rowStart * k, activations: activations + rowStart * k,
                        positiveCounts: positiveCounts.map { $0 + rowStart }, selecting: selecting)
            rowStart += m
        }
        if Self.perturbedForTesting && selecting {
            for i in 0..<(rows * k) where activations[i] > 0 { activations[i] = activations[i].nextUp }
        }
    }

    /// Test-only fault: with `THINKLENS_TEST_PERTURB_SAE=1` in the environment every encoded
    /// activation is one ulp too large, as from a miscompiled kernel or a faulty CPU. The
    /// cross-check tests start one worker so, to see it caught; workers say loudly when it is on.
    public static let perturbedForTesting: Bool = ProcessInfo.processInfo.environment["THINKLENS_TEST_PERTURB_SAE"] == "1"

    /// Encodes `rows` rows of `x` ([rows, dIn]) into `latents`, reusing its storage when it
    /// already holds `rows` rows (a worker's loop then does not allocate).
    public func encode(_ x: UnsafePointer<Float>, rows: Int, into latents: inout SAELatents) {
        precondition(latents.k == k, "encode(into:): latents has k \(latents.k), this SAE has k \(k)")
        if latents.rows != rows {
            latents = SAELatents(k: k, indices: [Int32](repeating: 0, count: rows * k),
                                 activations: [Float](repeating: 0, count: rows * k),
                                 positiveCounts: [Int32](repeating: 0, count: rows))
        }
        guard rows > 0 else { return }
        latents.indices.withUnsafeMutableBufferPointer { ib in
            latents.activations.withUnsafeMutableBufferPointer { ab in
                latents.positiveCounts.withUnsafeMutableBufferPointer { pb in
                    encode(x, rows: rows, indices: ib.baseAddress!, activations: ab.baseAddress!, positiveCounts: pb.baseAddress!)
                }
            }
        }
    }

    /// Encodes `rows` rows of `x` ([rows, dIn]).
    public func encode(_ x: [Float], rows: Int) -> SAELatents {
        precondition(x.count == rows * dIn, "encode: x has \(x.count) values, expected rows \(rows) × d_in \(dIn)")
        var indices = [Int32](repeating: 0, count: rows * k)
        var activations = [Float](repeating: 0, count: rows * k)
        var positives = [Int32](repeating: 0, count: rows)
        x.withUnsafeBufferPointer { xs in
            indices.withUnsafeMutableBufferPointer { ib in
                activations.withUnsafeMutableBufferPointer { ab in
                    positives.withUnsafeMutableBufferPointer { pb in
                        if rows > 0 {
                            encode(xs.baseAddress!, rows: rows, indices: ib.baseAddress!,
                                   activations: ab.baseAddress!, positiveCounts: pb.baseAddress!)
                        }
                    }
                }
            }
        }
        return SAELatents(k: k, indices: indices, activations: activations, positiveCounts: positives)
    }

    /// Scratch for one row block, allocated once per instance (and again only if
    /// `latentPanel` changes).
    final class EncodeWorkspace {
        let panel: Int
        let paddedRows: Int                              // rowBlock rounded up to TL_SAE_MR
        let paddedPanel: Int                             // panel rounded up to TL_SAE_NR
        let centered: UnsafeMutablePointer<Float>        // [rowBlock, dIn] x − b_dec
        let packed: UnsafeMutablePointer<Float>          // [paddedRows / MR, dIn, MR] packed for the GEMM
        let pre: UnsafeMutablePointer<Float>             // [paddedPanel / NR, paddedRows, NR] pre-activations (strips)
        let groupBest: UnsafeMutablePointer<Float>       // [rowBlock, k] groupmax running best
        let groupIndex: UnsafeMutablePointer<Int32>      // [rowBlock, k]
        let filled: UnsafeMutablePointer<Int32>          // [rowBlock]

        init(rowBlock: Int, dIn: Int, panel: Int, k: Int) {
            self.panel = panel
            paddedRows = SparseAutoencoder.roundUp(rowBlock, Int(TL_SAE_MR))
            paddedPanel = SparseAutoencoder.roundUp(panel, Int(TL_SAE_NR))
            centered = .allocate(capacity: rowBlock * dIn)
            packed = .allocate(capacity: tl_sae_packed_rows_floats(rowBlock, dIn))
            pre = .allocate(capacity: paddedRows * paddedPanel)
            groupBest = .allocate(capacity: rowBlock * k)
            groupIndex = .allocate(capacity: rowBlock * k)
            filled = .allocate(capacity: rowBlock)
        }

        deinit {
            centered.deallocate(); packed.deallocate(); pre.deallocate()
            groupBest.deallocate(); groupIndex.deallocate(); filled.deallocate()
        }
    }

    static func roundUp(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

    /// Bytes of scratch `encode` holds (beyond the mapped weights and the widened
    /// [num_latents] encoder bias).
    public var encodeScratchBytes: Int {
        Self.encodeScratchBytes(dIn: dIn, k: k, latentPanel: max(1, min(latentPanel, numLatents)))
    }

    public static func encodeScratchBytes(dIn: Int, k: Int, latentPanel: Int) -> Int {
        let paddedRows = roundUp(rowBlock, Int(TL_SAE_MR))
        let floats = rowBlock * dIn + paddedRows * dIn + paddedRows * roundUp(latentPanel, Int(TL_SAE_NR))
            + 2 * rowBlock * k + rowBlock
        return floats * 4
    }

    private func preparedWorkspace() -> EncodeWorkspace {
        let panel = max(1, min(latentPanel, numLatents))
        if let ws = workspace, ws.panel == panel { return ws }
        let ws = EncodeWorkspace(rowBlock: Self.rowBlock, dIn: dIn, panel: panel, k: k)
        workspace = ws
        return ws
    }

    /// One block of at most `rowBlock` rows: every latent panel in order, folded into the outputs.
    private func encodeBlock(_ x: UnsafePointer<Float>, rows m: Int, workspace ws: EncodeWorkspace,
                             indices: UnsafeMutablePointer<Int32>, activations: UnsafeMutablePointer<Float>,
                             positiveCounts: UnsafeMutablePointer<Int32>?, selecting: Bool) {
        let d = dIn
        decoderBias.withUnsafeBufferPointer { bDec in
            for r in 0..<m {
                let src = x + r * d, dst = ws.centered + r * d
                for j in 0..<d { dst[j] = src[j] - bDec[j] }
            }
        }
        tl_sae_pack_rows(ws.centered, d, m, d, ws.packed)
        switch activation {
        case .topk:
            tl_sae_topk_reset(activations, indices, ws.filled, m, Int32(k))
        case .groupmax:
            for i in 0..<(m * k) { ws.groupBest[i] = -1; ws.groupIndex[i] = -1 }
        }
        let weightBase = encoderWeight.bytes.baseAddress!
        let isBF16: Int32 = encoderWeight.dtype == .bf16 ? 1 : 0
        let elementBytes = encoderWeight.dtype.byteSize
        encoderBias.withUnsafeBufferPointer { bias in
            var start = 0
            while start < numLatents {
                let width = min(ws.panel, numLatents - start)
                // pre[m, width] = centered[m, d] · encoder.weight[start ..< start + width, d]ᵀ
                let panelStart = start
                tl_sae_gemm(ws.packed, m, d, weightBase + panelStart * d * elementBytes, isBF16, d, width,
                            ws.pre, Kernels.path.rawValue)
                // Latent strips of the pre block lie this far apart (the padded row count of this block).
                let stripStride = Self.roundUp(m, Int(TL_SAE_MR)) * Int(TL_SAE_NR)
                start += width
                guard selecting else { continue }
                switch activation {
                case .topk:
                    tl_sae_topk_fold(ws.pre, stripStride, m, width, bias.baseAddress! + panelStart, Int32(panelStart), Int32(k),
                                     activations, indices, ws.filled, Kernels.path.rawValue)
                case .groupmax:
                    tl_sae_groupmax_fold(ws.pre, stripStride, m, width, bias.baseAddress! + panelStart, Int32(panelStart),
                                         Int32(numLatents / k), Int32(k), ws.groupBest, ws.groupIndex, Kernels.path.rawValue)
                }
            }
        }
        switch activation {
        case .topk:
            tl_sae_topk_finish(activations, indices, ws.filled, m, Int32(k))
            if let positiveCounts { for r in 0..<m { positiveCounts[r] = ws.filled[r] } }
        case .groupmax:
            for r in 0..<m {
                let order = (0..<k).sorted {
                    let a = ws.groupBest[r * k + $0], b = ws.groupBest[r * k + $1]
                    return a != b ? a > b : ws.groupIndex[r * k + $0] < ws.groupIndex[r * k + $1]
                }
                var positives: Int32 = 0
                for (slot, g) in order.enumerated() {
                    activations[r * k + slot] = ws.groupBest[r * k + g]
                    indices[r * k + slot] = ws.groupIndex[r * k + g]
                    if ws.groupBest[r * k + g] > 0 { positives += 1 }
                }
                positiveCounts?[r] = positives
            }
        }
    }

    /// Rows of encoder.weight as float32 ([rows.count, dIn]), exact for F32 and BF16.
    func widenEncoderRows(_ rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        Self.widenRows(of: encoderWeight, rows, columns: dIn, into: destination)
    }

    static func widenRows(of tensor: TensorView, _ rows: Range<Int>, columns: Int, into destination: UnsafeMutablePointer<Float>) {
        let base = tensor.bytes.baseAddress!
        let count = rows.count * columns
        switch tensor.dtype {
        case .f32:
            memcpy(destination, base + rows.lowerBound * columns * 4, count * 4)
        case .bf16:
            let src = base + rows.lowerBound * columns * 2
            if Int(bitPattern: src) % 2 == 0 {
                tl_sae_bf16_to_f32(src.assumingMemoryBound(to: UInt16.self), destination, count, Kernels.path.rawValue)
            } else {
                for i in 0..<count {
                    destination[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                }
            }
        default:
            preconditionFailure("SAE tensor \(tensor.name) has dtype \(tensor.dtype.rawValue); load() admits only F32 and BF16")
        }
    }
}
