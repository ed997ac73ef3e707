/// Splits normalized text into the pieces that Qwen2's pre-tokenizer regex produces, by
/// hand, with the regex's exact semantics (as Oniguruma, which Hugging Face uses, runs it):
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// Alternatives are tried in order at each position (first match wins, not longest).
/// \p{L} is general category L*, \p{N} is N*, \s is Unicode White_Space (Oniguruma's \s:
/// U+0009–000D, U+0085 and Z*, the same set). Case-insensitive matching folds ſ (U+017F)
/// to s, so "'ſ" is a contraction. Every character falls in some alternative, so the
/// pieces cover the text; with `Isolated` behaviour each match is its own piece.
///
/// Hugging Face's Oniguruma knows Unicode 16.0; the standard library may know a newer
/// version. Characters assigned later are unassigned to Oniguruma, so they count as
/// "other" here too (checked over every scalar against tokenizers 0.23.3).
enum Qwen2PreTokenizer {
    /// The exact pattern string this scanner implements; tokenizer.json must carry this one.
    static let pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    enum CharacterClass: UInt8 {
        case letter, number, space, newline, other
    }

    private static let asciiClasses: [CharacterClass] = (0..<128).map { b -> CharacterClass in
        switch b {
        case 0x0A, 0x0D: return .newline
        case 0x09, 0x0B, 0x0C, 0x20: return .space
        case 0x30...0x39: return .number
        case 0x41...0x5A, 0x61...0x7A: return .letter
        default: return .other
        }
    }

    /// Classes of the Basic Multilingual Plane, computed once.  [65536]
    private static let bmpClasses: [CharacterClass] = (0..<0x10000).map { value in
        Unicode.Scalar(UInt32(value)).map(computeClass) ?? .other
    }

    static func characterClass(of scalar: Unicode.Scalar) -> CharacterClass {
        scalar.value < 0x10000 ? bmpClasses[Int(scalar.value)] : computeClass(scalar)
    }

    /// The Unicode version of Hugging Face's regex engine (Oniguruma in tokenizers 0.23).
    static let regexUnicodeVersion = (major: 16, minor: 0)

    private static func computeClass(_ scalar: Unicode.Scalar) -> CharacterClass {
        if scalar.value < 128 { return asciiClasses[Int(scalar.value)] }
        if let age = scalar.properties.age,
           (age.major, age.minor) > (regexUnicodeVersion.major, regexUnicodeVersion.minor) {
            return .other
        }
        if scalar.properties.isWhitespace { return .space }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    /// Calls `piece` with the byte range of each piece of `text` (valid UTF-8), in order.
    static func split(_ text: UnsafeBufferPointer<UInt8>, piece: (Range<Int>) -> Void) {
        let end = text.count
        let scanner = Scanner(bytes: text)
        var i = 0
        while i < end {
            let pieceEnd = scanner.matchEnd(at: i)
            piece(i..<pieceEnd)
            i = pieceEnd
        }
    }

    /// Decodes scalars from UTF-8 and classifies them; the alternatives are written against it.
    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>

        /// The class of the character at byte `i` and the byte index after it.
        @inline(__always)
        func classify(_ i: Int) -> (CharacterClass, Int) {
            let b0 = bytes[i]
            if b0 < 0x80 { return (asciiClasses[Int(b0)], i + 1) }
            var value: UInt32
            var length: Int
            if b0 < 0xE0 {
                value = UInt32(b0 & 0x1F); length = 2
            } else if b0 < 0xF0 {
                value = UInt32(b0 & 0x0F); length = 3
            } else {
                value = UInt32(b0 & 0x07); length = 4
            }
            for k in 1..<length { value = (value << 6) | UInt32(bytes[i + k] & 0x3F) }
            return (characterClass(of: Unicode.Scalar(value)!), i + length)
        }

        /// End of the first alternative that matches at byte `i` (there always is one).
        func matchEnd(at i: Int) -> Int {
            let end = bytes.count
            if bytes[i] == UInt8(ascii: "'"), let contractionEnd = contraction(at: i) {
                return contractionEnd
            }
            let (c0, next) = classify(i)
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if c0 == .letter {
                return letters(from: next)
            }
            if c0 != .newline && c0 != .number && next < end {
                let (c1, afterC1) = classify(next)
                if c1 == .letter { return letters(from: afterC1) }
            }
            // \p{N}
            if c0 == .number { return next }
            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            if c0 == .other { return othersThenNewlines(from: next) }
            if bytes[i] == 0x20 && next < end {
                let (c1, afterC1) = classify(next)
                if c1 == .other { return othersThenNewlines(from: afterC1) }
            }
            // c0 is whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
            var runEnd = next
            var lastNewlineEnd = c0 == .newline ? next : -1
            var lastScalarStart = i
            while runEnd < end {
                let (c, after) = classify(runEnd)
                guard c == .space || c == .newline else { break }
                if c == .newline { lastNewlineEnd = after }
                lastScalarStart = runEnd
                runEnd = after
            }
            if lastNewlineEnd >= 0 { return lastNewlineEnd }
            if runEnd == end || lastScalarStart == i { return runEnd }
            return lastScalarStart
        }

        private func letters(from start: Int) -> Int {
            var j = start
            while j < bytes.count {
                let (c, after) = classify(j)
                guard c == .letter else { break }
                j = after
            }
            return j
        }

        private func othersThenNewlines(from start: Int) -> Int {
            var j = start
            while j < bytes.count {
                let (c, after) = classify(j)
                guard c == .other else { break }
                j = after
            }
            while j < bytes.count && (bytes[j] == 0x0A || bytes[j] == 0x0D) { j += 1 }
            return j
        }

        /// 's 't 're 've 'm 'll 'd, any case (ſ counts as s), starting at the apostrophe at `i`.
        private func contraction(at i: Int) -> Int? {
            let end = bytes.count
            guard i + 1 < end else { return nil }
            let b1 = bytes[i + 1] | 0x20  // ASCII lower case; non-letters never match below
            switch b1 {
            case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
                return i + 2
            case UInt8(ascii: "r"), UInt8(ascii: "v"):
                if i + 2 < end && bytes[i + 2] | 0x20 == UInt8(ascii: "e") { return i + 3 }
            case UInt8(ascii: "l"):
                if i + 2 < end && bytes[i + 2] | 0x20 == UInt8(ascii: "l") { return i + 3 }
            default:
                break
            }
            // U+017F LATIN SMALL LETTER LONG S is C5 BF in UTF-8.
            if bytes[i + 1] == 0xC5 && i + 2 < end && bytes[i + 2] == 0xBF { return i + 3 }
            return nil
        }
    }
}
