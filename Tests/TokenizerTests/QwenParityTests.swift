import Foundation
import GSM8K
import Testing
import TestSupport
@testable import Tokenizer

/// Ids of the demo tokenizer (qwen.tiktoken + DeepSeek's added tokens) against Hugging Face
/// `tokenizers`, from fixtures written by scripts/make-tokenizer-fixtures.py.
@Suite(.enabled(if: TestEnvironment.available(TestEnvironment.tokenizerDirectoryVariable),
                "needs THINKLENS_TEST_TOKENIZER_DIR (scripts/test sets it; fails in CI when missing)"))
struct QwenParityTests {
    func reference() throws -> [String: Any] { try TokenizerFixtures.json("reference-ids.json") }

    @Test func hardAndRandomStringsEncodeAsHuggingFace() throws {
        let tokenizer = try TokenizerFixtures.demo()
        let cases = try #require(try reference()["strings"] as? [[String: Any]])
        var mismatches = 0
        for testCase in cases {
            let text = try #require(testCase["text"] as? String)
            let expected = try TokenizerFixtures.ids(testCase["ids"])
            let got = tokenizer.encode(text)
            if got != expected { mismatches += 1 }
            #expect(got == expected, "text: \(text.debugDescription)")
        }
        print("hard + random strings: \(cases.count) compared, \(mismatches) differ")
    }

    @Test func charactersFromEveryUnicodeVersionEncodeAsHuggingFace() throws {
        let tokenizer = try TokenizerFixtures.demo()
        let cases = try #require(try reference()["unicode_probes"] as? [[String: Any]])
        var mismatches = 0
        for testCase in cases {
            let text = try #require(testCase["text"] as? String)
            let got = tokenizer.encode(text)
            if got != (try TokenizerFixtures.ids(testCase["ids"])) { mismatches += 1 }
            #expect(got == (try TokenizerFixtures.ids(testCase["ids"])), "scalars: \(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        print("Unicode version probes: \(cases.count) compared, \(mismatches) differ")
    }

    @Test func hardAndRandomStringsDecodeAsHuggingFace() throws {
        let tokenizer = try TokenizerFixtures.demo()
        for testCase in try #require(try reference()["strings"] as? [[String: Any]]) {
            let ids = try TokenizerFixtures.ids(testCase["ids"])
            #expect(tokenizer.decode(ids) == testCase["decoded"] as? String)
        }
    }

    @Test func decodeOfEncodeIsTheNFCText() throws {
        let tokenizer = try TokenizerFixtures.demo()
        var compared = 0
        for testCase in try #require(try reference()["strings"] as? [[String: Any]]) {
            let text = try #require(testCase["text"] as? String)
            // Added tokens cut NFC into segments; skip texts where that changes the result.
            let segmentsAgree = !text.unicodeScalars.contains { $0.properties.canonicalCombiningClass.rawValue != 0 }
                || !text.contains("<")
            guard segmentsAgree else { continue }
            #expect(tokenizer.decode(tokenizer.encode(text)) == NFC.normalize(text), "text: \(text.debugDescription)")
            compared += 1
        }
        print("decode(encode(x)) == NFC(x): \(compared) strings")
    }

    @Test func chatPromptsEncodeAsHuggingFace() throws {
        let tokenizer = try TokenizerFixtures.demo()
        let cases = try #require(try reference()["chat"] as? [[String: Any]])
        for testCase in cases {
            let question = try #require(testCase["question"] as? String)
            let prompt = ChatPrompt(thinkPrefix: try #require(testCase["think_prefix"] as? Bool))
            #expect(prompt.ids(for: question, tokenizer: tokenizer) == (try TokenizerFixtures.ids(testCase["ids"])))
        }
        print("chat prompts: \(cases.count) compared")
    }

    @Test func postProcessorAddsBOSLikeHuggingFace() throws {
        let tokenizer = try TokenizerFixtures.demo()
        let cases = try #require(try reference()["with_special_tokens"] as? [[String: Any]])
        for testCase in cases {
            let text = try #require(testCase["text"] as? String)
            #expect(tokenizer.encode(text, addSpecialTokens: true) == (try TokenizerFixtures.ids(testCase["ids"])))
        }
    }

    @Test func chatPromptStartsWithBOSAndUserAndEndsWithAssistant() throws {
        let tokenizer = try TokenizerFixtures.demo()
        let ids = ChatPrompt().ids(for: "What is 2+2?", tokenizer: tokenizer)
        #expect(Array(ids.prefix(2)) == [151646, 151644])
        #expect(ids.last == 151645)
        let thinking = ChatPrompt(thinkPrefix: true).ids(for: "What is 2+2?", tokenizer: tokenizer)
        #expect(Array(thinking.suffix(2)) == [151648, 198])
    }

    @Test func idDecodingMatchesHuggingFaceOnInvalidBytesSpecialAndUnknownIDs() throws {
        let tokenizer = try TokenizerFixtures.demo()
        let cases = try #require(try reference()["decode"] as? [[String: Any]])
        for testCase in cases {
            let ids = try TokenizerFixtures.ids(testCase["ids"])
            #expect(tokenizer.decode(ids) == testCase["text"] as? String, "ids: \(ids)")
            #expect(tokenizer.decode(ids, skipSpecialTokens: true) == testCase["skip_special_text"] as? String, "ids: \(ids)")
        }
        print("decode cases: \(cases.count) compared")
    }

    @Test func streamingDecoderPiecesJoinToTheBatchDecode() throws {
        let tokenizer = try TokenizerFixtures.demo()
        for testCase in try #require(try reference()["decode"] as? [[String: Any]]) {
            let ids = try TokenizerFixtures.ids(testCase["ids"])
            var decoder = tokenizer.streamingDecoder()
            var text = ""
            for id in ids { text += decoder.feed(id) }
            text += decoder.finish()
            #expect(text == testCase["text"] as? String, "ids: \(ids)")
        }
    }

    @Test func streamingDecoderHoldsBackAnIncompleteCharacter() throws {
        let tokenizer = try TokenizerFixtures.demo()
        // "😀" is F0 9F 98 80; feed it one byte token at a time.
        let byteIDs = [0xF0, 0x9F, 0x98, 0x80].map { tokenizer.id(forToken: ByteLevel.visible([UInt8($0)]))! }
        var decoder = tokenizer.streamingDecoder()
        let pieces = byteIDs.map { decoder.feed($0) }
        #expect(pieces == ["", "", "", "😀"])
        #expect(decoder.finish() == "")
    }

    @Test func tokenStringsMatchHuggingFace() throws {
        let tokenizer = try TokenizerFixtures.demo()
        for entry in try #require(try reference()["tokens"] as? [[String: Any]]) {
            let id = try #require((entry["id"] as? NSNumber)?.int32Value)
            let token = try #require(entry["token"] as? String)
            #expect(tokenizer.tokenString(for: id) == token)
            #expect(tokenizer.id(forToken: token) == id)
        }
    }

    @Test func vocabularyAndSpecialIDsAreDeepSeeks() throws {
        let tokenizer = try TokenizerFixtures.demo()
        #expect(tokenizer.vocabularySize == 151_665)
        #expect(tokenizer.eosID == 151_643)
        #expect(tokenizer.bosID == 151_646)
        #expect(tokenizer.thinkEndID == 151_649)
        #expect(tokenizer.decode([151_900, 9707, 151_935]) == "Hello")
    }

    @Test func thinkEndIsFoundInGeneratedIDs() throws {
        let tokenizer = try TokenizerFixtures.demo()
        let generated = tokenizer.encode("Let me add.\n</think>\n\nThe answer is \\boxed{4}.")
        let index = try #require(ChatPrompt.thinkEndIndex(in: generated, tokenizer: tokenizer))
        #expect(generated[index] == 151_649)
        #expect(ChatPrompt.thinkEndIndex(in: tokenizer.encode("no end"), tokenizer: tokenizer) == nil)
    }
}

/// Every GSM8K question, answer and chat prompt against per-string id hashes.
@Suite(.enabled(if: TestEnvironment.available(TestEnvironment.tokenizerDirectoryVariable, TestEnvironment.gsm8kVariable),
                "needs THINKLENS_TEST_TOKENIZER_DIR and THINKLENS_GSM8K_DIR (fails in CI when missing)"))
struct GSM8KTokenizationParityTests {
    @Test func everyGSM8KStringEncodesAsHuggingFace() throws {
        let tokenizer = try TokenizerFixtures.demo()
        let dataset = GSM8KDataset(directory: try TestEnvironment.require(TestEnvironment.gsm8kVariable))
        let text = try String(contentsOfFile: TokenizerFixtures.fixture("gsm8k-id-hashes.txt"), encoding: .utf8)
        let expected = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        var lines: [String] = []
        var roundTripFailures = 0
        let prompt = ChatPrompt()
        for split in [GSM8KSplit.train, .test] {
            for problem in try dataset.load(split: split) {
                for ids in [tokenizer.encode(problem.question), tokenizer.encode(problem.answerText),
                            prompt.ids(for: problem.question, tokenizer: tokenizer)] {
                    lines.append("\(ids.count) \(TokenizerFixtures.idHash(ids))")
                }
                if tokenizer.decode(tokenizer.encode(problem.answerText)) != NFC.normalize(problem.answerText) {
                    roundTripFailures += 1
                }
            }
        }
        try #require(lines.count == expected.count,
                     "GSM8K gives \(lines.count) strings, the fixture has \(expected.count): a different data set?")
        let mismatches = zip(lines, expected).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        print("GSM8K: \(lines.count) strings compared by id hash, \(mismatches.count) differ; round trip failures \(roundTripFailures)")
        #expect(mismatches.isEmpty, "first differing string: #\(mismatches.first ?? -1) (problem \(mismatches.first.map { $0 / 3 } ?? -1))")
        #expect(roundTripFailures == 0)
    }
}

/// The tiktoken rank file and the tokenizer.json built from it are the same tokenizer.
@Suite(.enabled(if: TestEnvironment.available(TestEnvironment.tokenizerDirectoryVariable, TestEnvironment.tiktokenVariable),
                "needs THINKLENS_TEST_TOKENIZER_DIR and THINKLENS_QWEN_TIKTOKEN (fails in CI when missing)"))
struct TiktokenSourceTests {
    static let fromRanks: Result<BPETokenizer, Error> = Result {
        try BPETokenizer(tiktokenRanks: try TestEnvironment.require(TestEnvironment.tiktokenVariable),
                         addedTokens: AddedToken.deepSeekR1Distill)
    }

    @Test func rankFileAndTokenizerJSONHaveTheSameFingerprint() throws {
        #expect(try Self.fromRanks.get().fingerprint == (try TokenizerFixtures.demo().fingerprint))
    }

    @Test func rankFileGivesHuggingFaceIDs() throws {
        let tokenizer = try Self.fromRanks.get()
        let cases = try #require(try TokenizerFixtures.json("reference-ids.json")["strings"] as? [[String: Any]])
        for testCase in cases {
            let text = try #require(testCase["text"] as? String)
            #expect(tokenizer.encode(text) == (try TokenizerFixtures.ids(testCase["ids"])), "text: \(text.debugDescription)")
        }
        print("tiktoken source: \(cases.count) strings compared")
    }
}

@Suite struct TiktokenFileErrorTests {
    @Test func malformedRankLineIsNamed() throws {
        let scratch = TemporaryDirectory("tokenizer")
        let path = scratch.file("bad.tiktoken")
        try Data("IQ== 0\nnot-base64!! x\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: TokenizerError.self) { try BPETokenizer(tiktokenRanks: path, addedTokens: []) }
        do {
            _ = try BPETokenizer(tiktokenRanks: path, addedTokens: [])
        } catch {
            #expect("\(error)".contains("\(path):2"))
        }
    }
}
