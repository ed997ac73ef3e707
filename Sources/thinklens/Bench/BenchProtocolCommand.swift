import ArgumentParser
import Protocol

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// `thinklens bench protocol`: encode and decode throughput of `LatentChunk` messages.
/// Prints one JSON object; `scripts/bench-protocol` runs Python's msgpack on the same
/// message (read from `--sample-out`) and prints the comparison table.
struct BenchProtocolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "protocol",
        abstract: "Benchmark: encode + decode of LatentChunk messages (JSON on stdout)."
    )

    @Option(help: "Tokens per chunk.")
    var tokens: Int = 64

    @Option(help: "Latents per token.")
    var k: Int = 32

    @Option(help: "Seconds to run each of encode and decode.")
    var seconds: Double = 2

    @Option(help: "Write the encoded benchmark message here, so a peer can run the identical message.")
    var sampleOut: String?

    func validate() throws {
        guard tokens >= 1, k >= 1 else { throw ValidationError("--tokens and --k must be at least 1") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
    }

    func run() throws {
        let chunk = Self.benchmarkChunk(tokens: tokens, k: k)
        let message = Message.latentChunk(chunk)
        let encoded = message.encode()
        guard try Message.decode(encoded) == message else {
            throw ValidationError("the benchmark message does not round-trip; the protocol is broken")
        }
        if let sampleOut {
            try writeFile(sampleOut, encoded)
        }

        var encodedBytes = 0
        let encode = measure(seconds: seconds) {
            encodedBytes &+= message.encode().count
        }
        var decodedLatents = 0
        let decode = try encoded.withUnsafeBytes { buffer in
            try measureThrowing(seconds: seconds) {
                if case .latentChunk(let decoded) = try Message.decode(buffer) {
                    decodedLatents &+= decoded.indices.count
                }
            }
        }
        // The sums keep the optimizer from dropping the work; they are checked, not printed.
        guard encodedBytes > 0, decodedLatents > 0 else { throw ValidationError("benchmark did no work") }

        let megabytes = Double(encoded.count) / 1e6
        print("""
            {"implementation": "thinklens", "tokens": \(tokens), "k": \(k), "message_bytes": \(encoded.count), \
            "encode_messages_per_second": \(encode), "encode_megabytes_per_second": \(encode * megabytes), \
            "decode_messages_per_second": \(decode), "decode_megabytes_per_second": \(decode * megabytes)}
            """)
    }

    /// A chunk shaped like real output: token ids below Qwen2's vocabulary, latent
    /// indices below 65,536, positive activations. Deterministic, so every run measures the same bytes.
    static func benchmarkChunk(tokens: Int, k: Int) -> LatentChunk {
        var state: UInt64 = 0x1234_5678
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        return LatentChunk(
            taskID: 123_456, attempt: 1, hookpoint: "layers.10.mlp", firstPosition: 512,
            tokens: (0..<tokens).map { _ in Int32(next() % 151_936) }, k: k,
            indices: (0..<tokens * k).map { _ in Int32(next() % 65_536) },
            activations: (0..<tokens * k).map { _ in Float(next() % 10_000) / 1000 })
    }

    /// Operations per second, over batches until `seconds` have passed (after one warm-up batch).
    private func measure(seconds: Double, _ body: () -> Void) -> Double {
        try! measureThrowing(seconds: seconds, body)
    }

    private func measureThrowing(seconds: Double, _ body: () throws -> Void) throws -> Double {
        let batch = 1000
        for _ in 0..<batch { try body() }
        let clock = ContinuousClock()
        let start = clock.now
        var operations = 0
        var elapsed = 0.0
        repeat {
            for _ in 0..<batch { try body() }
            operations += batch
            let duration = clock.now - start
            elapsed = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        } while elapsed < seconds
        return Double(operations) / elapsed
    }

    private func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        guard let file = fopen(path, "wb") else {
            throw ValidationError("cannot write --sample-out \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        guard fwrite(bytes, 1, bytes.count, file) == bytes.count else {
            throw ValidationError("cannot write --sample-out \(path): \(String(cString: strerror(errno)))")
        }
    }
}
