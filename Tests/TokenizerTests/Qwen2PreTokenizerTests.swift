import Testing
@testable import Tokenizer

/// Splits observed from Hugging Face `tokenizers` 0.23 (pre_tokenizers.Split with the Qwen2
/// pattern, `pre_tokenize_str`) for the cases where the regex semantics are subtle.
@Suite struct Qwen2PreTokenizerTests {
    func pieces(_ text: String) -> [String] {
        var copy = text
        return copy.withUTF8 { bytes in
            var out: [String] = []
            Qwen2PreTokenizer.split(bytes) { out.append(String(decoding: bytes[$0], as: UTF8.self)) }
            return out
        }
    }

    @Test func contractionsMatchInAnyCaseAndLongS() {
        #expect(pieces("x'LLy") == ["x", "'LL", "y"])
        #expect(pieces("'ſx") == ["'ſ", "x"])
        #expect(pieces("I'M") == ["I", "'M"])
        #expect(pieces("'really") == ["'re", "ally"])
    }

    @Test func whitespaceBeforeNewlinesStaysWithTheLastNewline() {
        #expect(pieces("a\r\n\r\n  b") == ["a", "\r\n\r\n", " ", " b"])
        #expect(pieces(" \t\n \t x") == [" \t\n", " \t", " x"])
    }

    @Test func whitespaceRunLeavesItsLastSpaceToTheNextWord() {
        #expect(pieces("a   b") == ["a", "  ", " b"])
        #expect(pieces("end   ") == ["end", "   "])
    }

    @Test func unicodeWhitespaceCountsAsSpace() {
        #expect(pieces("a\u{a0}\u{a0}b") == ["a", "\u{a0}", "\u{a0}b"])
        #expect(pieces("a\u{2028}b") == ["a", "\u{2028}b"])
        #expect(pieces("a \u{85} b") == ["a", " \u{85}", " b"])
    }

    @Test func everyNumberCharacterIsItsOwnPiece() {
        #expect(pieces("1²½Ⅷ") == ["1", "²", "½", "Ⅷ"])
        #expect(pieces("2024") == ["2", "0", "2", "4"])
    }

    /// U+088F (a letter since Unicode 17) is unassigned to tokenizers 0.23.3's regex engine.
    @Test func lettersNewerThanUnicode16CountAsOther() {
        #expect(pieces("a\u{88f}a") == ["a", "\u{88f}a"])
        #expect(pieces("a\u{88e}a") == ["a\u{88e}a"])  // U+088E, a Unicode 14 letter
    }

    @Test func punctuationTakesOneLeadingSpaceAndTrailingNewlines() {
        #expect(pieces("x = (y)\n\nz") == ["x", " =", " (", "y", ")\n\n", "z"])
        #expect(pieces("$abc") == ["$abc"])
    }
}
