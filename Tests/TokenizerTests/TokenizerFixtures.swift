import Foundation
import Testing
import TestSupport
@testable import Tokenizer

/// The tokenizer fixtures (Tests/Fixtures/tokenizer, written by scripts/make-tokenizer-fixtures.py)
/// and the demo tokenizer the parity tests compare with Hugging Face.
enum TokenizerFixtures {
    static let directory = TestEnvironment.fixtures("tokenizer")

    static func fixture(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture(name)))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The demo (Qwen2 + DeepSeek added tokens) tokenizer, loaded once for all tests.
    static let demoTokenizer: Result<BPETokenizer, Error> = Result {
        try BPETokenizer.load(modelDirectoryOrFile: try TestEnvironment.require(TestEnvironment.tokenizerDirectoryVariable))
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
