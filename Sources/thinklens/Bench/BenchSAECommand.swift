import Platform
import Checkpoints
import ArgumentParser
import Compute
import Foundation

/// `thinklens bench sae`: the Swift side of scripts/bench-sae. Times encoding (and its GEMM
/// alone) and a bare OpenBLAS sgemm of the same shape in the same process, and prints one
/// JSON object for the script, which adds torch and prints the table.
struct BenchSAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sae", abstract: "Benchmark: SAE encoding.")

    @Option(name: .long, help: "sparsify checkpoint directory.")
    var sae: String

    @Option(name: .long, help: "Hookpoint folder inside the checkpoint.")
    var hookpoint: String = "layers.10.mlp"

    @Option(name: .long, help: "safetensors file with 'x' [T, d_in]; without it, T random rows.")
    var input: String?

    @Option(name: .long, help: "Rows to encode (the first T of --input, or T random rows).")
    var tokens: Int = 400

    @Option(name: .long, help: "Smaller batches also timed, in ms per token (comma-separated).")
    var smallBatches: String = "1,32,64"

    @Option(name: .long, help: "Timed repetitions of each measurement (the median is reported).")
    var repeats: Int = 5

    @Option(name: .long, help: "Threads for our encoder and for OpenBLAS (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .long, help: "Skip the OpenBLAS sgemm baseline (it needs a float32 copy of encoder.weight).")
    var noSgemm = false

    func validate() throws {
        guard tokens >= 1, repeats >= 1, threads >= 1 else {
            throw ValidationError("--tokens, --repeats and --threads must be at least 1")
        }
        guard smallBatches.split(separator: ",").allSatisfy({ Int($0).map { $0 >= 1 } ?? false }) else {
            throw ValidationError("--small-batches '\(smallBatches)' is not a comma-separated list of positive integers")
        }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// CPU time of the whole process (all threads), in nanoseconds.
    static func cpuNow() -> UInt64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = UInt64(usage.ru_utime.tv_sec) * 1_000_000_000 + UInt64(usage.ru_utime.tv_usec) * 1000
        let system = UInt64(usage.ru_stime.tv_sec) * 1_000_000_000 + UInt64(usage.ru_stime.tv_usec) * 1000
        return user + system
    }

    struct Timing {
        /// Median wall time, ms.
        var wallMs: Double
        /// Median CPU time over all threads, ms: less sensitive than wall time to other
        /// processes on a shared machine.
        var cpuMs: Double
    }

    /// Times the measurements round-robin (one warm-up round, then `repeats` rounds), so a
    /// burst of load from other processes hits them alike; medians per measurement.
    func measure(_ bodies: [() -> Void]) -> [Timing] {
        for body in bodies { body() }
        var wall = [[Double]](repeating: [], count: bodies.count)
        var cpu = [[Double]](repeating: [], count: bodies.count)
        for _ in 0..<repeats {
            for (i, body) in bodies.enumerated() {
                let start = Self.now(), cpuStart = Self.cpuNow()
                body()
                wall[i].append(Double(Self.now() - start) / 1e6)
                cpu[i].append(Double(Self.cpuNow() - cpuStart) / 1e6)
            }
        }
        return (0..<bodies.count).map { i in
            Timing(wallMs: wall[i].sorted()[repeats / 2], cpuMs: cpu[i].sorted()[repeats / 2])
        }
    }


    func run() throws {
        let loadStart = Self.now()
        let encoder = try SparseAutoencoder(checkpoint: sae, hookpoint: hookpoint)
        let loadMs = Double(Self.now() - loadStart) / 1e6
        Kernels.threadCount = threads
        BLAS.threadCount = threads  // the sgemm baseline
        let fingerprintStart = Self.now()
        _ = try SAECheckpoint(checkpoint: sae, hookpoint: hookpoint).fingerprint()
        let fingerprintMs = Double(Self.now() - fingerprintStart) / 1e6

        let d = encoder.dIn, n = encoder.numLatents
        var x: [Float]
        if let input {
            let loaded = try SAEInput.load(path: input)
            guard loaded.columns == d else {
                throw ValidationError("\(input): 'x' has \(loaded.columns) columns, the SAE's d_in is \(d)")
            }
            guard loaded.rows >= tokens else {
                throw ValidationError("\(input): 'x' has \(loaded.rows) rows, fewer than --tokens \(tokens)")
            }
            x = Array(loaded.x[0..<(tokens * d)])
        } else {
            var state: UInt64 = 0x5AE
            x = (0..<(tokens * d)).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
            }
        }
        let flops = 2.0 * Double(tokens) * Double(d) * Double(n)

        // Touch every weight page once so the first timed run is not a page-cache read.
        let anonBefore = ProcessStatus.current().residentAnonymous
        var latents = encoder.encode(x, rows: tokens)
        let anonAfter = ProcessStatus.current().residentAnonymous
        var bodies: [() -> Void] = [
            { latents = encoder.encode(x, rows: tokens) },
            { encoder.encoderGEMMOnly(x, rows: tokens) },
        ]
        var weight: [Float] = []  // [n, d] f32 copy for the OpenBLAS baseline
        var pre: [Float] = []     // [tokens, n]
        if !noSgemm {
            weight = encoder.widenedEncoderWeight()
            pre = [Float](repeating: 0, count: tokens * n)
            bodies.append {
                x.withUnsafeBufferPointer { xs in
                    weight.withUnsafeBufferPointer { w in
                        pre.withUnsafeMutableBufferPointer { c in
                            BLAS.gemmABt(m: tokens, n: n, k: d, a: xs.baseAddress!, lda: d, b: w.baseAddress!, ldb: d,
                                         c: c.baseAddress!, ldc: n)
                        }
                    }
                }
            }
        }
        let timings = measure(bodies)
        let encode = timings[0], gemm = timings[1]
        weight = []
        pre = []

        var batches: [[String: Any]] = []
        for batch in smallBatches.split(separator: ",").compactMap({ Int($0) }) where batch <= tokens {
            let rows = Array(x[0..<(batch * d)])
            let timing = measure([{ _ = encoder.encode(rows, rows: batch) }])[0]
            batches.append(["tokens": batch, "ms": timing.wallMs, "ms_per_token": timing.wallMs / Double(batch)])
        }

        let shortRows = latents.positiveCounts.filter { Int($0) < encoder.k }.count
        var result: [String: Any] = [
            "hookpoint": hookpoint, "dtype": encoder.weightDType.rawValue, "d_in": d, "num_latents": n, "k": encoder.k,
            "tokens": tokens, "threads": threads, "repeats": repeats,
            "cpu": BLAS.cpuDescription, "openblas": BLAS.configuration,
            "load_ms": loadMs, "fingerprint_ms": fingerprintMs, "fingerprint": encoder.fingerprint,
            "encode_ms": encode.wallMs, "encode_cpu_ms": encode.cpuMs,
            "encode_tokens_per_s": Double(tokens) / (encode.wallMs / 1e3),
            "encode_gflops": flops / (encode.wallMs / 1e3) / 1e9,
            "gemm_only_ms": gemm.wallMs, "gemm_only_cpu_ms": gemm.cpuMs,
            "rows_with_fewer_than_k_positive": shortRows,
            "scratch_bytes": encoder.encodeScratchBytes,
            "small_batches": batches,
        ]
        result["rss_anon_growth_bytes"] = anonAfter - anonBefore
        if timings.count > 2 {
            result["sgemm_ms"] = timings[2].wallMs
            result["sgemm_cpu_ms"] = timings[2].cpuMs
            result["sgemm_gflops"] = flops / (timings[2].wallMs / 1e3) / 1e9
        }
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
