import Foundation
import Testing
import TestSupport
@testable import Tokenizer

/// A hand-made tokenizer.json with a few dozen tokens, ids from Hugging Face `tokenizers`;
/// needs no environment.
@Suite struct TinyTokenizerTests {
    static let forms = ["tiny-tokenizer-string-merges.json", "tiny-tokenizer-pair-merges.json"]

    func expectedCases() throws -> [[String: Any]] {
        try #require(try TokenizerFixtures.json("tiny-expected.json")["strings"] as? [[String: Any]])
    }

    @Test(arguments: forms)
    func idsMatchHuggingFace(file: String) throws {
        let tokenizer = try BPETokenizer(tokenizerJSON: TokenizerFixtures.fixture(file))
        var compared = 0
        for testCase in try expectedCases() {
            let text = try #require(testCase["text"] as? String)
            #expect(tokenizer.encode(text) == (try TokenizerFixtures.ids(testCase["ids"])), "text: \(text.debugDescription)")
            compared += 1
        }
        print("tiny tokenizer \(file): \(compared) strings compared")
    }

    @Test func bothMergeFormsGiveTheSameFingerprint() throws {
        let strings = try BPETokenizer(tokenizerJSON: TokenizerFixtures.fixture(Self.forms[0]))
        let pairs = try BPETokenizer(tokenizerJSON: TokenizerFixtures.fixture(Self.forms[1]))
        #expect(strings.fingerprint == pairs.fingerprint)
        #expect(strings.fingerprint.count == 64)
    }

    @Test func decodeMatchesHuggingFaceWithAndWithoutSpecialTokens() throws {
        let tokenizer = try BPETokenizer(tokenizerJSON: TokenizerFixtures.fixture(Self.forms[0]))
        for testCase in try expectedCases() {
            let ids = try TokenizerFixtures.ids(testCase["ids"])
            #expect(tokenizer.decode(ids) == testCase["decoded"] as? String)
            #expect(tokenizer.decode(ids, skipSpecialTokens: true) == testCase["decoded_skip_special"] as? String)
        }
    }

    @Test func byteLevelPostProcessorAddsNothing() throws {
        let tokenizer = try BPETokenizer(tokenizerJSON: TokenizerFixtures.fixture(Self.forms[0]))
        #expect(tokenizer.encode("hello world", addSpecialTokens: true) == tokenizer.encode("hello world"))
    }

    @Test func vocabularySizeCountsAddedTokens() throws {
        let tokenizer = try BPETokenizer(tokenizerJSON: TokenizerFixtures.fixture(Self.forms[0]))
        let expected = try #require(try TokenizerFixtures.json("tiny-expected.json")["vocab_size"] as? Int)
        #expect(tokenizer.vocabularySize == expected)
    }

    @Test func tokenStringsRoundTripThroughIDs() throws {
        let tokenizer = try BPETokenizer(tokenizerJSON: TokenizerFixtures.fixture(Self.forms[0]))
        #expect(tokenizer.tokenString(for: 0) == "Ġ")
        #expect(tokenizer.tokenBytes(for: 0) == [0x20])
        for id in Int32(0)..<Int32(tokenizer.vocabularySize) {
            let token = try #require(tokenizer.tokenString(for: id))
            #expect(tokenizer.id(forToken: token) == id)
        }
        #expect(tokenizer.tokenString(for: Int32(tokenizer.vocabularySize)) == nil)
        #expect(tokenizer.id(forToken: "not a token") == nil)
    }

    @Test func tokenizerConfigBesideTheFileNamesEOSAndBOS() throws {
        let directory = TemporaryDirectory("tokenizer")
        try FileManager.default.copyItem(atPath: TokenizerFixtures.fixture(Self.forms[0]), toPath: directory.file("tokenizer.json"))
        let config = URL(fileURLWithPath: directory.file("tokenizer_config.json"))
        try Data(#"{"eos_token": "<tiny>", "bos_token": {"content": "[L]"}}"#.utf8).write(to: config)
        let tokenizer = try BPETokenizer.load(modelDirectoryOrFile: directory.path)
        #expect(tokenizer.eosID == tokenizer.id(forToken: "<tiny>"))
        #expect(tokenizer.bosID == tokenizer.id(forToken: "[L]"))
        try Data(#"{"eos_token": "<missing>"}"#.utf8).write(to: config)
        #expect(throws: TokenizerError.self) { try BPETokenizer.load(modelDirectoryOrFile: directory.path) }
    }

    @Test func loadAcceptsADirectoryOrAFile() throws {
        let directory = TemporaryDirectory("tokenizer")
        try FileManager.default.copyItem(atPath: TokenizerFixtures.fixture(Self.forms[0]), toPath: directory.file("tokenizer.json"))
        let fromDirectory = try BPETokenizer.load(modelDirectoryOrFile: directory.path)
        let fromFile = try BPETokenizer.load(modelDirectoryOrFile: TokenizerFixtures.fixture(Self.forms[0]))
        #expect(fromDirectory.fingerprint == fromFile.fingerprint)
    }
}

/// Bad tokenizer files fail with the file and field named.
@Suite struct TokenizerJSONErrorTests {
    /// Each test's files, removed after it.
    let scratch = TemporaryDirectory("tokenizer")

    func writeVariant(_ edit: (inout [String: Any]) -> Void) throws -> String {
        var root = try TokenizerFixtures.json(TinyTokenizerTests.forms[0])
        edit(&root)
        let path = scratch.file("bad.json")
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        return path
    }

    func loadError(_ path: String) -> String {
        do {
            _ = try BPETokenizer(tokenizerJSON: path)
            return "loaded without error"
        } catch {
            return "\(error)"
        }
    }

    @Test func missingFileIsNamed() {
        #expect(loadError("/nonexistent/tokenizer.json").contains("/nonexistent/tokenizer.json"))
    }

    @Test func invalidJSONIsReported() throws {
        let path = scratch.file("broken.json")
        try Data("{\"model\": ".utf8).write(to: URL(fileURLWithPath: path))
        #expect(loadError(path).contains("not valid JSON"))
    }

    @Test func mergeWithUnknownTokenNamesItsIndex() throws {
        let path = try writeVariant { root in
            var model = root["model"] as! [String: Any]
            var merges = model["merges"] as! [Any]
            merges[3] = "q z"
            model["merges"] = merges
            root["model"] = model
        }
        let message = loadError(path)
        #expect(message.contains("model.merges[3]") && message.contains("not in model.vocab"), "\(message)")
    }

    @Test func otherPreTokenizerPatternIsRefused() throws {
        let path = try writeVariant { root in
            root["pre_tokenizer"] = [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": "\\s+"], "behavior": "Isolated", "invert": false],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
                ],
            ]
        }
        #expect(loadError(path).contains("not the Qwen2 split pattern"))
    }

    /// Found by `scripts/fuzz tokenizer` (this is its input, minimized): one vocabulary id of
    /// 237,203,206 made loading size its tables by it (the fuzzer's first had 1,010,302,979: 8 GB).
    @Test func anAbsurdVocabularyIDIsRefusedBeforeAnyTableIsSized() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("huge-id-\(UUID().uuidString).json").path
        try Data(#"{"ven":{"tpe":"NFC"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"":"Ied","rt":false},{"type":"ByteLevel","a_pr":false,"use_regex":false}]},"model":{"tg":false,"vocab":{"Ąą":237203206,"ã":22},"merges":[]}}"#.utf8).write(to: URL(fileURLWithPath: path))
        let message = loadError(path)
        #expect(message.contains(#"model.vocab["Ąą"]: id 237203206 is not an integer in 0..<16777216"#), "\(message)")
    }

    /// Ids are read exactly: 2^32 + 5 was read as 5.
    @Test func aVocabularyIDBeyondInt32IsRefusedNotTruncated() throws {
        let path = try writeVariant { root in
            var model = root["model"] as! [String: Any]
            var vocab = model["vocab"] as! [String: Any]
            vocab["a"] = 4_294_967_301
            model["vocab"] = vocab
            root["model"] = model
        }
        #expect(loadError(path).contains("id 4294967301 is not an integer in 0..<16777216"))
    }

    /// Found by `scripts/fuzz tokenizer` (this is its input, minimized): the post-processor's
    /// template names id 45, which no token has, and `encode(_:addSpecialTokens: true)` emitted it.
    @Test func aTemplateIDThatIsNoTokenIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("template-id-\(UUID().uuidString).json").path
        try Data(#"{"en": [{}], "pre_tokenizer": {"type": "Sequence", "pretokenizers":[{"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "h": false}, {"type": "ByteLevel", "use_regex": false}]}, "post_processor": {"type": "Sequence", "processors": [{"type": "TemplateProcessing","single": [{"SpecialToken":{"id": "<tiny>","": 1}}], "special_tokens": {"<tiny>": {"i":"<t>","ids":[45]}}}]}, "model": {"es":false,"vocab":{"Ġ":  3, "or": 33, "Ġwor": 4,"Ġw":44}, "merges": ["Ġw or"]}}"#.utf8).write(to: URL(fileURLWithPath: path))
        let message = loadError(path)
        #expect(message.contains("post_processor.special_tokens: id 45 is neither in model.vocab nor an added token"), "\(message)")
    }

    @Test func unsupportedNormalizerIsRefused() throws {
        let path = try writeVariant { root in root["normalizer"] = ["type": "Lowercase"] }
        #expect(loadError(path).contains("normalizer.type"))
    }
}

/// Added tokens made of byte-level characters decode through the byte map, as Hugging Face's
/// ByteLevel decoder does (observed with tokenizers 0.23: "é" → U+FFFD, "Ġx" → " x").
@Suite struct ByteLevelAddedTokenTests {
    func tokenizer() throws -> (BPETokenizer, Int32) {
        var root = try TokenizerFixtures.json(TinyTokenizerTests.forms[0])
        let model = try #require(root["model"] as? [String: Any])
        let first = Int32(try #require((model["vocab"] as? [String: Any])?.count))
        root["added_tokens"] = [
            ["id": first, "content": "é", "special": false, "normalized": false],
            ["id": first + 1, "content": "Ġx", "special": true, "normalized": false],
        ]
        let scratch = TemporaryDirectory("tokenizer")
        let path = scratch.file("byte-added.json")
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        return (try BPETokenizer(tokenizerJSON: path), first)
    }

    @Test func decodeMapsTheirCharactersToBytes() throws {
        let (tokenizer, first) = try tokenizer()
        #expect(tokenizer.decode([first]) == "\u{FFFD}")
        #expect(tokenizer.decode([3, first + 1, 3]) == "a xa")
    }

    @Test func encodeMatchesThemInRawText() throws {
        let (tokenizer, first) = try tokenizer()
        #expect(tokenizer.encode("aéa Ġx") == [3, first, 3, 0, first + 1])
    }
}

/// A merges list naming a pair twice: Hugging Face keeps the later priority
/// (observed with tokenizers 0.23: merges "h e", "e l", "l l", "h e" split "hell" as h|el|l).
@Suite struct DuplicateMergeTests {
    @Test func laterDuplicateSetsThePriority() throws {
        var root = try TokenizerFixtures.json(TinyTokenizerTests.forms[0])
        var model = try #require(root["model"] as? [String: Any])
        var vocab = try #require(model["vocab"] as? [String: Any])
        vocab["el"] = vocab.count
        model["vocab"] = vocab
        model["merges"] = ["h e", "e l", "l l", "h e"]
        root["model"] = model
        root["added_tokens"] = []
        let scratch = TemporaryDirectory("tokenizer")
        let path = scratch.file("duplicate-merge.json")
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        let tokenizer = try BPETokenizer(tokenizerJSON: path)
        #expect(tokenizer.encode("hell").compactMap { tokenizer.tokenString(for: $0) } == ["h", "el", "l"])
    }
}

/// Hugging Face ignores declared added-token ids and numbers them itself (observed with
/// tokenizers 0.23.3: declared 100, 5, 46, 101 (repeat), 3 became 45, 30 (in vocab), 46, —, 47).
@Suite struct AddedTokenNumberingTests {
    @Test func addedTokenIDsFollowHuggingFaceNumbering() throws {
        var root = try TokenizerFixtures.json(TinyTokenizerTests.forms[0])
        func added(_ content: String, _ id: Int, special: Bool = false) -> [String: Any] {
            ["id": id, "content": content, "special": special, "normalized": false]
        }
        root["added_tokens"] = [added("<zz>", 100, special: true), added("hell", 5), added("<yy>", 46),
                                added("<zz>", 101), added("<ww>", 3)]
        let scratch = TemporaryDirectory("tokenizer")
        let path = scratch.file("added-ids.json")
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        let tokenizer = try BPETokenizer(tokenizerJSON: path)
        #expect(tokenizer.encode("<zz>hell<yy><ww>a") == [45, 30, 46, 47, 3])
        #expect(tokenizer.vocabularySize == 48)
    }
}
