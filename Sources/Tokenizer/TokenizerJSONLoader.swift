import Foundation

extension BPETokenizer {
    /// Loads a Hugging Face tokenizer.json of the Qwen2 kind: BPE model over byte-level
    /// vocabulary, `merges` as "a b" strings or ["a", "b"] pairs, `added_tokens`, NFC (or no)
    /// normalizer, pre-tokenizer Sequence[Split(Qwen2 pattern, Isolated), ByteLevel(use_regex=false)].
    /// Anything else is refused with the field named, rather than tokenized differently.
    public convenience init(tokenizerJSON path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TokenizerError.file(path, "cannot read: \(error.localizedDescription)")
        }
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TokenizerError.file(path, "top level is not a JSON object")
            }
            root = object
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError.file(path, "is not valid JSON (\(error.localizedDescription))")
        }
        let parser = TokenizerJSONParser(path: path, root: root)
        let nfc = try parser.normalizerIsNFC()
        try parser.checkPreTokenizer()
        let addedTokens = try parser.addedTokens()
        try parser.checkDecoder()
        let (model, addedWithIDs) = try parser.model(addedTokens: addedTokens)
        let (prefix, suffix) = try parser.postProcessorSingleTemplate()
        self.init(model: model, addedTokens: addedWithIDs, normalizesNFC: nfc)
        if let unknown = (prefix + suffix).first(where: { tokenString(for: $0) == nil }) {
            throw parser.fail("post_processor.special_tokens", "id \(unknown) is neither in model.vocab nor an added token")
        }
        specialPrefix = prefix
        specialSuffix = suffix
    }
}

private struct TokenizerJSONParser {
    let path: String
    let root: [String: Any]

    func fail(_ field: String, _ problem: String) -> TokenizerError {
        TokenizerError.file(path, "\(field): \(problem)")
    }

    func normalizerIsNFC() throws -> Bool {
        guard let normalizer = root["normalizer"], !(normalizer is NSNull) else { return false }
        guard let object = normalizer as? [String: Any], let type = object["type"] as? String else {
            throw fail("normalizer", "expected an object with a \"type\"")
        }
        switch type {
        case "NFC":
            return true
        case "Sequence":
            let steps = object["normalizers"] as? [[String: Any]] ?? []
            let types = steps.compactMap { $0["type"] as? String }
            if types.isEmpty { return false }
            if types == ["NFC"] { return true }
            throw fail("normalizer", "Sequence \(types) is not supported (only NFC)")
        default:
            throw fail("normalizer.type", "\"\(type)\" is not supported (only NFC or none, as Qwen2 tokenizers use)")
        }
    }

    func checkPreTokenizer() throws {
        guard let object = root["pre_tokenizer"] as? [String: Any], object["type"] as? String == "Sequence",
              let steps = object["pretokenizers"] as? [[String: Any]] else {
            throw fail("pre_tokenizer", "expected Sequence[Split(Qwen2 pattern), ByteLevel(use_regex=false)] as in Qwen2 tokenizers")
        }
        guard steps.count == 2, steps[0]["type"] as? String == "Split", steps[1]["type"] as? String == "ByteLevel" else {
            let types = steps.map { $0["type"] as? String ?? "?" }
            throw fail("pre_tokenizer.pretokenizers", "\(types) is not supported; expected [Split, ByteLevel]")
        }
        let pattern = (steps[0]["pattern"] as? [String: Any])?["Regex"] as? String
        guard pattern == Qwen2PreTokenizer.pattern else {
            throw fail("pre_tokenizer.pretokenizers[0].pattern.Regex",
                       "\(pattern.map { "\"\($0)\"" } ?? "missing") is not the Qwen2 split pattern, the only one implemented")
        }
        let behavior = steps[0]["behavior"] as? String ?? "Isolated"
        guard behavior == "Isolated", (steps[0]["invert"] as? Bool ?? false) == false else {
            throw fail("pre_tokenizer.pretokenizers[0]", "behavior \(behavior) / invert is not supported (only Isolated, invert false)")
        }
        guard (steps[1]["use_regex"] as? Bool ?? true) == false, (steps[1]["add_prefix_space"] as? Bool ?? false) == false else {
            throw fail("pre_tokenizer.pretokenizers[1]", "ByteLevel must have use_regex false and add_prefix_space false")
        }
    }

    func checkDecoder() throws {
        guard let decoder = root["decoder"], !(decoder is NSNull) else { return }
        guard let type = (decoder as? [String: Any])?["type"] as? String, type == "ByteLevel" else {
            throw fail("decoder", "only ByteLevel is supported (as in Qwen2 tokenizers)")
        }
    }

    /// The ids TemplateProcessing's "single" template puts before and after the sequence.
    func postProcessorSingleTemplate() throws -> ([Int32], [Int32]) {
        guard let processor = root["post_processor"] as? [String: Any] else { return ([], []) }
        var candidates = [processor]
        if processor["type"] as? String == "Sequence" {
            candidates = processor["processors"] as? [[String: Any]] ?? []
        }
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        for candidate in candidates {
            switch candidate["type"] as? String {
            case "ByteLevel":
                continue
            case "TemplateProcessing":
                let specials = candidate["special_tokens"] as? [String: Any] ?? [:]
                guard let single = candidate["single"] as? [[String: Any]] else {
                    throw fail("post_processor.single", "expected a list of template pieces")
                }
                var seenSequence = false
                for piece in single {
                    if piece["Sequence"] != nil {
                        seenSequence = true
                    } else if let special = piece["SpecialToken"] as? [String: Any], let name = special["id"] as? String {
                        guard let entry = specials[name] as? [String: Any], let list = entry["ids"] as? [Any] else {
                            throw fail("post_processor.special_tokens", "\"\(name)\" is used by the template but not defined")
                        }
                        let ids = try list.map { value in
                            guard let id = Self.tokenID(value) else {
                                throw fail("post_processor.special_tokens[\"\(name)\"].ids", "\(value) is not an integer in 0..<\(BPETokenizer.idLimit)")
                            }
                            return id
                        }
                        if seenSequence { suffix += ids } else { prefix += ids }
                    } else {
                        throw fail("post_processor.single", "unrecognised template piece \(piece.keys.sorted())")
                    }
                }
            case let other:
                throw fail("post_processor.type", "\"\(other ?? "?")\" is not supported (ByteLevel or TemplateProcessing)")
            }
        }
        return (prefix, suffix)
    }

    func addedTokens() throws -> [AddedToken] {
        guard let list = root["added_tokens"] else { return [] }
        if list is NSNull { return [] }
        guard let entries = list as? [[String: Any]] else { throw fail("added_tokens", "expected an array of objects") }
        return try entries.enumerated().map { index, entry in
            guard let id = Self.tokenID(entry["id"]), let content = entry["content"] as? String else {
                throw fail("added_tokens[\(index)]", "needs an \"id\" in 0..<\(BPETokenizer.idLimit) and a \"content\" string")
            }
            let special = entry["special"] as? Bool ?? false
            return AddedToken(
                id: id, content: content, special: special,
                normalized: entry["normalized"] as? Bool ?? !special,
                lstrip: entry["lstrip"] as? Bool ?? false,
                rstrip: entry["rstrip"] as? Bool ?? false,
                singleWord: entry["single_word"] as? Bool ?? false
            )
        }
    }

    /// The BPE model, and the added tokens with the ids Hugging Face gives them.
    func model(addedTokens: [AddedToken]) throws -> (BytePairModel, [AddedToken]) {
        guard let model = root["model"] as? [String: Any] else { throw fail("model", "missing or not an object") }
        if let type = model["type"] as? String, type != "BPE" {
            throw fail("model.type", "\"\(type)\" is not supported (only BPE)")
        }
        if model["byte_fallback"] as? Bool == true { throw fail("model.byte_fallback", "true is not supported") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = model[key] as? String, !affix.isEmpty { throw fail("model.\(key)", "\"\(affix)\" is not supported") }
        }
        if let dropout = model["dropout"] as? NSNumber, dropout.doubleValue > 0 {
            throw fail("model.dropout", "\(dropout) is not supported (only none)")
        }
        guard let vocab = model["vocab"] as? [String: Any] else { throw fail("model.vocab", "missing or not an object") }
        let addedContents = Set(addedTokens.map(\.content))

        // Keyed by bytes, not String: byte-level strings are non-ASCII, and String hashing and
        // comparison normalize non-ASCII text, which made loading several times slower.
        var idsByBytes = TokenIndex(expectedCount: vocab.count)
        var otherVocabulary: [String: Int32] = [:]
        var entries: [(bytes: [UInt8], id: Int32)] = []
        entries.reserveCapacity(vocab.count)
        var maxID: Int32 = -1
        for (token, value) in vocab {
            guard let id = Self.tokenID(value) else {
                throw fail("model.vocab[\"\(token)\"]", "id \(value) is not an integer in 0..<\(BPETokenizer.idLimit)")
            }
            guard let bytes = ByteLevel.bytes(forVisible: token) else {
                // Some files list added tokens in the vocabulary too; those are handled as added tokens.
                guard addedContents.contains(token) else {
                    throw fail("model.vocab[\"\(token)\"]", "has characters outside the byte-level alphabet; not a byte-level BPE vocabulary")
                }
                otherVocabulary[token] = id
                continue
            }
            entries.append((bytes, id))
            maxID = max(maxID, id)
        }
        var tokenBytes = [[UInt8]](repeating: [], count: Int(maxID) + 1)
        for (bytes, id) in entries {
            guard tokenBytes[Int(id)].isEmpty else {
                throw fail("model.vocab[\"\(ByteLevel.visible(bytes))\"]", "id \(id) is used by two tokens")
            }
            tokenBytes[Int(id)] = bytes
            idsByBytes.insert(bytes, id: id)
        }
        func mergedID(_ left: Substring, _ right: Substring) -> Int32? {
            if let leftBytes = ByteLevel.bytes(forVisible: left), let rightBytes = ByteLevel.bytes(forVisible: right) {
                return idsByBytes.id(concatenating: leftBytes, rightBytes)
            }
            return otherVocabulary[String(left) + String(right)]
        }
        func vocabularyID(_ token: Substring) -> Int32? {
            if let bytes = ByteLevel.bytes(forVisible: token) { return idsByBytes.id(for: bytes) }
            return otherVocabulary[String(token)]
        }

        guard let mergeList = model["merges"] as? [Any] else { throw fail("model.merges", "missing or not an array") }
        var merges: [Merge] = []
        merges.reserveCapacity(mergeList.count)
        for (index, entry) in mergeList.enumerated() {
            let left: Substring
            let right: Substring
            if let line = entry as? String {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw fail("model.merges[\(index)]", "\"\(line)\" is not two tokens separated by one space")
                }
                left = parts[0]
                right = parts[1]
            } else if let pair = entry as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String {
                left = Substring(a)
                right = Substring(b)
            } else {
                throw fail("model.merges[\(index)]", "expected \"a b\" or [\"a\", \"b\"]")
            }
            guard let leftID = vocabularyID(left) else {
                throw fail("model.merges[\(index)]", "token \"\(left)\" is not in model.vocab")
            }
            guard let rightID = vocabularyID(right) else {
                throw fail("model.merges[\(index)]", "token \"\(right)\" is not in model.vocab")
            }
            guard let mergedID = mergedID(left, right) else {
                throw fail("model.merges[\(index)]", "merged token \"\(left)\(right)\" is not in model.vocab")
            }
            merges.append(Merge(left: leftID, right: rightID, merged: mergedID))
        }
        let ignoreMerges = model["ignore_merges"] as? Bool ?? false
        let bpe = BytePairModel(tokenBytes: tokenBytes, idsByBytes: idsByBytes, merges: merges, ignoreMerges: ignoreMerges)
        let numbered = TokenizerJSONParser.huggingFaceIDs(
            for: addedTokens, vocabularyCount: vocab.count, vocabularyID: { vocabularyID(Substring($0)) })
        return (bpe, numbered)
    }

    /// A JSON number that is an integer in 0..<`BPETokenizer.idLimit`; nil for anything else
    /// (fractions, booleans, larger values: `int32Value` would silently truncate them).
    static func tokenID(_ value: Any?) -> Int32? {
        guard let number = value as? NSNumber, number.objCType.pointee != CChar(UInt8(ascii: "c")) else { return nil }
        let d = number.doubleValue
        guard d.rounded() == d, d >= 0, d < Double(BPETokenizer.idLimit) else { return nil }
        return Int32(d)
    }

    /// The ids Hugging Face gives added tokens when it reads a tokenizer.json: it ignores the
    /// declared "id" and adds the tokens in file order, each taking its id in model.vocab
    /// when its content is there, else the next id after the vocabulary and the added
    /// tokens so far; a repeated content keeps its first id. For consistent files (every
    /// DeepSeek/Qwen one) this is the declared id.
    static func huggingFaceIDs(
        for tokens: [AddedToken], vocabularyCount: Int, vocabularyID: (String) -> Int32?
    ) -> [AddedToken] {
        var assigned: [AddedToken] = []
        var seen = Set<String>()
        var largest: Int32?
        let vocabularyCount = Int32(vocabularyCount)
        for var token in tokens where seen.insert(token.content).inserted {
            if let id = vocabularyID(token.content) {
                token.id = id
            } else if let top = largest, top >= vocabularyCount {
                token.id = top + 1
            } else {
                token.id = vocabularyCount
            }
            largest = max(largest ?? token.id, token.id)
            assigned.append(token)
        }
        return assigned
    }
}
