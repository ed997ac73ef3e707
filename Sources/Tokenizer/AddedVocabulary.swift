/// A token matched whole in raw text before normalization and pre-tokenization
/// (Hugging Face's `added_tokens`), e.g. `<｜User｜>` or `<think>`.
public struct AddedToken: Hashable, Sendable {
    public var id: Int32
    public var content: String
    /// Special tokens are dropped by `decode(skipSpecialTokens: true)`.
    public var special: Bool
    /// Matched in NFC-normalized text (true) or in the raw text (false).
    public var normalized: Bool
    /// Swallow whitespace to the left / right of the match into the token.
    public var lstrip: Bool
    public var rstrip: Bool
    /// Match only when not inside a word.
    public var singleWord: Bool

    public init(
        id: Int32, content: String, special: Bool,
        normalized: Bool? = nil, lstrip: Bool = false, rstrip: Bool = false, singleWord: Bool = false
    ) {
        self.id = id
        self.content = content
        self.special = special
        // Hugging Face's default: special tokens match raw text, others normalized text.
        self.normalized = normalized ?? !special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.singleWord = singleWord
    }

    /// DeepSeek-R1-Distill-Qwen's 22 added tokens (ids 151643–151664), with the flags of its
    /// tokenizer.json: only BOS, EOS and the quad/vision tokens are special (`<｜User｜>`,
    /// `<｜Assistant｜>` and `<think>` survive skipSpecialTokens), and all 22 match raw text
    /// (normalized false, not the initializer's default). ｜ is U+FF5C, ▁ is U+2581.
    public static let deepSeekR1Distill: [AddedToken] = {
        let table: [(Int32, String, Bool)] = [
            (151643, "<｜end▁of▁sentence｜>", true),
            (151644, "<｜User｜>", false),
            (151645, "<｜Assistant｜>", false),
            (151646, "<｜begin▁of▁sentence｜>", true),
            (151647, "<|EOT|>", false),
            (151648, "<think>", false),
            (151649, "</think>", false),
            (151650, "<|quad_start|>", true),
            (151651, "<|quad_end|>", true),
            (151652, "<|vision_start|>", true),
            (151653, "<|vision_end|>", true),
            (151654, "<|vision_pad|>", true),
            (151655, "<|image_pad|>", true),
            (151656, "<|video_pad|>", true),
            (151657, "<tool_call>", false),
            (151658, "</tool_call>", false),
            (151659, "<|fim_prefix|>", false),
            (151660, "<|fim_middle|>", false),
            (151661, "<|fim_suffix|>", false),
            (151662, "<|fim_pad|>", false),
            (151663, "<|repo_name|>", false),
            (151664, "<|file_sep|>", false),
        ]
        return table.map { AddedToken(id: $0.0, content: $0.1, special: $0.2, normalized: false) }
    }()
}

/// Finds added tokens in text with Hugging Face's AddedVocabulary semantics: leftmost match,
/// longest at that position, non-overlapping; then `single_word`, `lstrip`, `rstrip`.
struct AddedTokenMatcher {
    private struct Pattern {
        var bytes: [UInt8]
        var token: AddedToken
    }
    /// byFirstByte[b] = patterns starting with byte b, longest first.  [256]
    private var byFirstByte: [[Pattern]] = Array(repeating: [], count: 256)
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        for token in tokens where !token.content.isEmpty {
            let bytes = Array(token.content.utf8)
            byFirstByte[Int(bytes[0])].append(Pattern(bytes: bytes, token: token))
        }
        for b in 0..<256 { byFirstByte[b].sort { $0.bytes.count > $1.bytes.count } }
        isEmpty = tokens.allSatisfy { $0.content.isEmpty }
    }

    enum Segment {
        case text(Range<Int>)
        case token(Int32)
    }

    /// Splits `text` into plain text ranges and matched tokens, in order.
    func split(_ text: UnsafeBufferPointer<UInt8>, _ emit: (Segment) -> Void) {
        if isEmpty {
            if !text.isEmpty { emit(.text(0..<text.count)) }
            return
        }
        var plainStart = 0
        var i = 0
        let n = text.count
        while i < n {
            guard let pattern = longestMatch(in: text, at: i) else {
                i += 1
                continue
            }
            var start = i
            var stop = i + pattern.bytes.count
            let token = pattern.token
            if token.singleWord {
                let startsClear = start == 0 || !lastScalarIsAlphanumeric(text, before: start)
                let stopsClear = stop == n || !firstScalarIsAlphanumeric(text, at: stop)
                if !startsClear || !stopsClear {
                    i += 1
                    continue
                }
            }
            if token.lstrip {
                // The whitespace may already belong to the previous match; do not take it twice.
                start = max(startOfTrailingWhitespace(text, before: start), plainStart)
            }
            if token.rstrip {
                stop = endOfLeadingWhitespace(text, from: stop)
            }
            if plainStart < start { emit(.text(plainStart..<start)) }
            emit(.token(token.id))
            plainStart = stop
            i = stop
        }
        if plainStart < n { emit(.text(plainStart..<n)) }
    }

    private func longestMatch(in text: UnsafeBufferPointer<UInt8>, at i: Int) -> Pattern? {
        let candidates = byFirstByte[Int(text[i])]
        if candidates.isEmpty { return nil }
        for pattern in candidates where pattern.bytes.count <= text.count - i {
            var k = 1
            while k < pattern.bytes.count && text[i + k] == pattern.bytes[k] { k += 1 }
            if k == pattern.bytes.count { return pattern }
        }
        return nil
    }

    // Rust's char::is_whitespace is Unicode White_Space; is_alphanumeric is Alphabetic or Numeric.

    private func startOfTrailingWhitespace(_ text: UnsafeBufferPointer<UInt8>, before end: Int) -> Int {
        var start = end
        while start > 0, let (scalar, scalarStart) = scalar(in: text, endingAt: start), scalar.properties.isWhitespace {
            start = scalarStart
        }
        return start
    }

    private func endOfLeadingWhitespace(_ text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var end = start
        while end < text.count, let (scalar, scalarEnd) = scalar(in: text, startingAt: end), scalar.properties.isWhitespace {
            end = scalarEnd
        }
        return end
    }

    private func lastScalarIsAlphanumeric(_ text: UnsafeBufferPointer<UInt8>, before end: Int) -> Bool {
        guard let (scalar, _) = scalar(in: text, endingAt: end) else { return false }
        return isAlphanumeric(scalar)
    }

    private func firstScalarIsAlphanumeric(_ text: UnsafeBufferPointer<UInt8>, at start: Int) -> Bool {
        guard let (scalar, _) = scalar(in: text, startingAt: start) else { return false }
        return isAlphanumeric(scalar)
    }

    private func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.properties.isAlphabetic { return true }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    private func scalar(in text: UnsafeBufferPointer<UInt8>, startingAt i: Int) -> (Unicode.Scalar, Int)? {
        var iterator = text[i...].makeIterator()
        var decoder = UTF8()
        guard case .scalarValue(let scalar) = decoder.decode(&iterator) else { return nil }
        return (scalar, i + UTF8.width(scalar))
    }

    private func scalar(in text: UnsafeBufferPointer<UInt8>, endingAt end: Int) -> (Unicode.Scalar, Int)? {
        var start = end - 1
        while start > 0 && text[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= 0, let (scalar, _) = scalar(in: text, startingAt: start) else { return nil }
        return (scalar, start)
    }
}
