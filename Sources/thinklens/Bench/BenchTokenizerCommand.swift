import ArgumentParser
import Foundation
import GSM8K
import Tokenizer

/// `thinklens bench tokenizer`: encoding throughput on every GSM8K train question and answer,
/// one thread. scripts/bench-tokenizer runs Hugging Face `tokenizers` on the same strings in
/// the same run and compares; `ids_sha256` lets it check both produced the same ids.
struct BenchTokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Benchmark: tokenizer encoding MB/s on GSM8K train questions and answers (one thread).")

    @Option(name: .long, help: "Model directory (its tokenizer.json) or a tokenizer.json file.")
    var model: String

    @Option(name: .long, help: "GSM8K directory (default: $THINKLENS_GSM8K_DIR).")
    var gsm8kDir: String?

    @Option(name: .long, help: "Timed passes over the text; the best is reported.")
    var passes: Int = 5

    func validate() throws {
        guard passes >= 1 else { throw ValidationError("--passes must be at least 1") }
    }

    func run() throws {
        let loadStart = Date()
        let tokenizer = try BPETokenizer.load(modelDirectoryOrFile: model)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let problems = try GSM8KDataset.locate(explicitDirectory: gsm8kDir).load(split: .train)
        let texts = problems.flatMap { [$0.question, $0.answerText] }
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }

        // Cold: the word cache starts empty, as on a fresh worker.
        let coldSeconds = time(texts, tokenizer)
        var hasher = SHA256()
        var tokens = 0
        for text in texts {
            let ids = tokenizer.encode(text)
            tokens += ids.count
            hashIDs(ids, into: &hasher)
        }
        let passSeconds = (0..<passes).map { _ in time(texts, tokenizer) }
        let best = passSeconds.min()!
        let report: [String: Any] = [
            "implementation": "thinklens",
            "strings": texts.count,
            "bytes": bytes,
            "tokens": tokens,
            "ids_sha256": hasher.hexDigest(),
            "load_seconds": loadSeconds,
            "cold_mb_per_s": Double(bytes) / coldSeconds / 1e6,
            "best_seconds": best,
            "mb_per_s": Double(bytes) / best / 1e6,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    /// One id list per line as "1,2,3\n", the form the Python side hashes too.
    private func hashIDs(_ ids: [Int32], into hasher: inout SHA256) {
        hasher.update(ids.map { String($0) }.joined(separator: ",").utf8)
        hasher.update([UInt8(ascii: "\n")])
    }

    private func time(_ texts: [String], _ tokenizer: BPETokenizer) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        var sink = 0
        for text in texts { sink &+= tokenizer.encode(text).count }
        precondition(sink >= 0)
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
