import Foundation

/// Byte-level BPE tokenizer of the Qwen2 kind (DeepSeek-R1-Distill-Qwen's): added tokens,
/// NFC, the Qwen2 split pattern, rank-based byte-pair merges; decoding back to UTF-8.
///
/// Encoding follows Hugging Face `tokenizers` exactly (`encode(text, add_special_tokens=False)`):
/// 1. added tokens with `normalized: false` are matched in the raw text;
/// 2. each remaining segment is NFC-normalized, then added tokens with `normalized: true` are matched;
/// 3. what remains is split by the Qwen2 pattern, and each piece's bytes are merged by BPE.
/// `encode(_:)` adds no BOS/EOS: prompts spell them out (see `ChatPrompt`);
/// `encode(_:addSpecialTokens: true)` applies the file's TemplateProcessing post-processor.
///
/// Thread safety: encode/decode may be called from several threads; the word cache is used
/// by one caller at a time and the others encode without it.
public final class BPETokenizer: @unchecked Sendable {
    let model: BytePairModel
    /// Added tokens in id order.
    public let addedTokens: [AddedToken]
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let addedByID: [Int32: AddedToken]
    private let addedByContent: [String: Int32]
    /// isSpecial[id] for ids below vocabularySize.  [vocabularySize]
    private let isSpecial: [Bool]
    /// The bytes decode gives per id, added tokens included; empty for unknown ids.  [vocabularySize]
    private let bytesByID: [[UInt8]]
    private let normalizesNFC: Bool

    private let cacheLock = NSLock()
    private var cache = WordCache()
    private var scratch = BPEScratch()

    /// Number of ids (the largest id + 1), added tokens included: 151,665 for DeepSeek-R1-Distill-Qwen.
    public let vocabularySize: Int
    /// Ids index dense tables, so the loaders refuse ids from this on (16,777,216): one absurd id
    /// in a tokenizer file would otherwise make loading allocate gigabytes.
    public static let idLimit: Int32 = 1 << 24
    /// SHA-256 (hex) of a canonical form of everything that decides ids: the bytes of every
    /// token by id, the merges in priority order as id pairs, the added tokens (id, content,
    /// flags) and the normalizer. A tokenizer.json and the tiktoken file it was built from
    /// have the same fingerprint.
    public let fingerprint: String
    /// From tokenizer_config.json's eos_token / bos_token when `load` finds one beside
    /// tokenizer.json, else the added token named like DeepSeek's (or Qwen's <|endoftext|>).
    public internal(set) var eosID: Int32?
    public internal(set) var bosID: Int32?
    /// What the post-processor (TemplateProcessing) adds around a single sequence when
    /// `encode(_:addSpecialTokens: true)` is asked for, e.g. DeepSeek's BOS.
    var specialPrefix: [Int32] = []
    var specialSuffix: [Int32] = []

    init(model: BytePairModel, addedTokens: [AddedToken], normalizesNFC: Bool) {
        self.model = model
        self.addedTokens = addedTokens.sorted { $0.id < $1.id }
        self.normalizesNFC = normalizesNFC
        rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        normalizedMatcher = AddedTokenMatcher(addedTokens.filter { $0.normalized })
        var addedByID: [Int32: AddedToken] = [:]
        var addedByContent: [String: Int32] = [:]
        for token in addedTokens {
            addedByID[token.id] = token
            addedByContent[token.content] = token.id
        }
        self.addedByID = addedByID
        self.addedByContent = addedByContent
        let size = max(model.tokenBytes.count, Int((addedTokens.map(\.id).max() ?? -1) + 1))
        vocabularySize = size
        var bytesByID = model.tokenBytes + Array(repeating: [], count: size - model.tokenBytes.count)
        var isSpecial = [Bool](repeating: false, count: size)
        for token in addedTokens {
            // Hugging Face's ByteLevel decoder maps a token's characters back to bytes when
            // every one is in the byte-level alphabet (so an added "é" decodes to the lone byte
            // E9), and uses the UTF-8 content otherwise (DeepSeek's "<｜User｜>").
            bytesByID[Int(token.id)] = ByteLevel.bytes(forVisible: token.content) ?? Array(token.content.utf8)
            isSpecial[Int(token.id)] = token.special
        }
        self.bytesByID = bytesByID
        self.isSpecial = isSpecial
        fingerprint = BPETokenizer.fingerprint(
            tokenBytes: model.tokenBytes, merges: model.merges, addedTokens: self.addedTokens, nfc: normalizesNFC)
        for token in addedTokens {
            if token.content.contains("end▁of▁sentence") || token.content == "<|endoftext|>" { eosID = eosID ?? token.id }
            if token.content.contains("begin▁of▁sentence") { bosID = bosID ?? token.id }
        }
    }

    /// Loads `tokenizer.json` from a model directory, or the given tokenizer file.
    public static func load(modelDirectoryOrFile path: String) throws -> BPETokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TokenizerError.file(path, "no such file or directory", fix: "pass a model directory holding tokenizer.json, or a tokenizer.json file")
        }
        if isDirectory.boolValue {
            let file = (path as NSString).appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: file) else {
                throw TokenizerError.file(path, "directory has no tokenizer.json", fix: "pass the model directory that holds tokenizer.json")
            }
            let tokenizer = try BPETokenizer(tokenizerJSON: file)
            try tokenizer.readSpecialTokenNames(
                configPath: (path as NSString).appendingPathComponent("tokenizer_config.json"))
            return tokenizer
        }
        return try BPETokenizer(tokenizerJSON: path)
    }

    /// Takes eos_token / bos_token from a tokenizer_config.json, when there is one.
    private func readSpecialTokenNames(configPath: String) throws {
        guard let data = FileManager.default.contents(atPath: configPath) else { return }
        guard let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError.file(configPath, "is not a JSON object")
        }
        func tokenName(_ key: String) -> String? {
            // Either "<eos>" or {"content": "<eos>", ...}.
            (config[key] as? String) ?? ((config[key] as? [String: Any])?["content"] as? String)
        }
        for (key, assign) in [("eos_token", { (id: Int32) in self.eosID = id }), ("bos_token", { self.bosID = $0 })] {
            guard let name = tokenName(key) else { continue }
            guard let id = id(forToken: name) else {
                throw TokenizerError.file(configPath, "\(key) \"\(name)\" is not a token of tokenizer.json")
            }
            assign(id)
        }
    }

    // MARK: Encoding

    /// Like `encode(_:)`, and with `addSpecialTokens` the ids the tokenizer.json post-processor
    /// adds (Hugging Face's `add_special_tokens=True`; DeepSeek's adds BOS).
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        guard addSpecialTokens else { return encode(text) }
        return specialPrefix + encode(text) + specialSuffix
    }

    /// Ids of `text` as Hugging Face `encode(text, add_special_tokens=False)` gives them.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        if cacheLock.try() {
            defer { cacheLock.unlock() }
            encode(text, into: &ids, cache: &cache, scratch: &scratch)
        } else {
            var privateCache = WordCache(maxEntries: 1024)
            var privateScratch = BPEScratch()
            encode(text, into: &ids, cache: &privateCache, scratch: &privateScratch)
        }
        return ids
    }

    private func encode(_ text: String, into ids: inout [Int32], cache: inout WordCache, scratch: inout BPEScratch) {
        var text = text
        text.withUTF8 { raw in
            rawMatcher.split(raw) { segment in
                switch segment {
                case .token(let id):
                    ids.append(id)
                case .text(let range):
                    encodeUnmatched(UnsafeBufferPointer(rebasing: raw[range]), into: &ids, cache: &cache, scratch: &scratch)
                }
            }
        }
    }

    private func encodeUnmatched(
        _ raw: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], cache: inout WordCache, scratch: inout BPEScratch
    ) {
        if normalizesNFC, var normalized = NFC.normalizeIfNeeded(raw) {
            normalized.withUTF8 { encodeNormalized($0, into: &ids, cache: &cache, scratch: &scratch) }
        } else {
            encodeNormalized(raw, into: &ids, cache: &cache, scratch: &scratch)
        }
    }

    private func encodeNormalized(
        _ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], cache: inout WordCache, scratch: inout BPEScratch
    ) {
        normalizedMatcher.split(text) { segment in
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let range):
                let part = UnsafeBufferPointer(rebasing: text[range])
                Qwen2PreTokenizer.split(part) { pieceRange in
                    let piece = UnsafeBufferPointer(rebasing: part[pieceRange])
                    encodePiece(piece, into: &ids, cache: &cache, scratch: &scratch)
                }
            }
        }
    }

    @inline(__always)
    private func encodePiece(
        _ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], cache: inout WordCache, scratch: inout BPEScratch
    ) {
        if piece.count == 1 || piece.count > WordCache.maxKeyLength {
            model.encode(piece, into: &ids, scratch: &scratch)
            return
        }
        let hash = WordCache.hash(piece)
        if cache.appendIDs(for: piece, hash: hash, to: &ids) { return }
        let start = ids.count
        model.encode(piece, into: &ids, scratch: &scratch)
        cache.insert(key: piece, hash: hash, ids: ids[start...])
    }

    // MARK: Decoding

    /// Token ids → text. Unknown ids (e.g. the embedding's padding rows past the vocabulary)
    /// are skipped; invalid UTF-8 becomes one U+FFFD per maximal invalid subsequence.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &bytes) }
        return LossyUTF8.decode(bytes)
    }

    func appendBytes(of id: Int32, skipSpecialTokens: Bool, to bytes: inout [UInt8]) {
        guard id >= 0 && Int(id) < vocabularySize else { return }
        if skipSpecialTokens && isSpecial[Int(id)] { return }
        bytes.append(contentsOf: bytesByID[Int(id)])
    }

    /// A decoder fed one id at a time (for printing tokens as they are generated).
    public func streamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }

    // MARK: Vocabulary

    /// The token as Hugging Face's `id_to_token` shows it: byte-level characters
    /// (space as "Ġ"), or an added token's content. Nil for unknown ids.
    public func tokenString(for id: Int32) -> String? {
        if let added = addedByID[id] { return added.content }
        guard id >= 0 && Int(id) < model.tokenBytes.count, !model.tokenBytes[Int(id)].isEmpty else { return nil }
        return ByteLevel.visible(model.tokenBytes[Int(id)])
    }

    /// The bytes `decode` produces for token `id` (for added tokens, usually their UTF-8
    /// content). Nil for unknown ids.
    public func tokenBytes(for id: Int32) -> [UInt8]? {
        guard id >= 0 && Int(id) < vocabularySize, !bytesByID[Int(id)].isEmpty else { return nil }
        return bytesByID[Int(id)]
    }

    /// The id of a token written as `tokenString(for:)` writes it, or of an added token's content.
    public func id(forToken token: String) -> Int32? {
        if let id = addedByContent[token] { return id }
        guard let bytes = ByteLevel.bytes(forVisible: token) else { return nil }
        return model.idsByBytes.id(for: bytes)
    }

    public func isSpecialToken(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < vocabularySize && isSpecial[Int(id)]
    }

    /// Number of merges (priority order is their order).
    public var mergeCount: Int { model.merges.count }

    private static func fingerprint(tokenBytes: [[UInt8]], merges: [Merge], addedTokens: [AddedToken], nfc: Bool) -> String {
        var hasher = SHA256()
        hasher.update("thinklens-bpe-fingerprint-v1\n")
        hasher.update(nfc ? "normalizer=NFC\n" : "normalizer=none\n")
        hasher.update("pre_tokenizer=\(Qwen2PreTokenizer.pattern)\n")
        hasher.update(Int32(tokenBytes.count))
        for bytes in tokenBytes {
            hasher.update(Int32(bytes.count))
            hasher.update(bytes)
        }
        hasher.update(Int32(merges.count))
        for merge in merges {
            hasher.update(merge.left)
            hasher.update(merge.right)
        }
        hasher.update(Int32(addedTokens.count))
        for token in addedTokens {
            hasher.update(token.id)
            hasher.update(Int32(token.content.utf8.count))
            hasher.update(token.content)
            let flags = [token.special, token.normalized, token.lstrip, token.rstrip, token.singleWord]
            hasher.update(flags.map { $0 ? UInt8(1) : UInt8(0) })
        }
        return hasher.hexDigest()
    }
}
