import Foundation

/// How a model's output compares with the gold answer.
public enum Verdict: String, Sendable, Codable, CaseIterable {
    case correct
    case wrong
    /// No (complete, non-empty) \boxed{…} answer, e.g. the output was cut at max_new_tokens.
    case none
}

/// Gold answers from GSM8K's "#### N" lines and model answers from the last \boxed{…}.
public enum AnswerChecker {
    /// The number after the last "####" with commas removed ("#### 1,080" → "1080"); nil if absent.
    public static func goldAnswer(from answerText: String) -> String? {
        guard let marker = answerText.range(of: "####", options: .backwards) else { return nil }
        let gold = answerText[marker.upperBound...].trimmingWhitespace().replacingOccurrences(of: ",", with: "")
        return gold.isEmpty ? nil : gold
    }

    /// Content of the last complete, non-empty `\boxed{…}` (nested braces counted, `\{` `\}`
    /// ignored); `\boxed 18` without braces takes the next word. Nil when there is none.
    public static func extractBoxed(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        let command = Array("\\boxed".utf8)
        var found: String?
        var i = 0
        while i + command.count <= bytes.count {
            guard bytes[i] == command[0], Array(bytes[i..<(i + command.count)]) == command else {
                i += 1
                continue
            }
            var j = i + command.count
            if j < bytes.count && bytes[j] == UInt8(ascii: "{") {
                if let close = matchingBrace(bytes, open: j) {
                    let content = String(decoding: bytes[(j + 1)..<close], as: UTF8.self).trimmingWhitespace()
                    if !content.isEmpty { found = content }
                    i = close + 1
                    continue
                }
            } else if j < bytes.count && bytes[j] == UInt8(ascii: " ") {
                while j < bytes.count && bytes[j] == UInt8(ascii: " ") { j += 1 }
                let start = j
                while j < bytes.count && !isWordEnd(bytes[j]) { j += 1 }
                if j > start { found = String(decoding: bytes[start..<j], as: UTF8.self) }
            }
            i += command.count
        }
        return found
    }

    private static func isWordEnd(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "\n") || b == UInt8(ascii: "$") || b == UInt8(ascii: "\t")
    }

    /// Index of the `}` that closes the `{` at `open`, or nil when the text ends first.
    private static func matchingBrace(_ bytes: [UInt8], open: Int) -> Int? {
        LaTeXScanner.matchingBrace(bytes, open: open)
    }

    /// A boxed answer in canonical form: a plain number ("1080", "-3", "2.5") when the answer
    /// is one number once `$`, `\%`, commas, `\text{…}`, units and `x =` are stripped
    /// (`\frac{a}{b}` counts as a/b); otherwise the cleaned text.
    public static func normalize(_ answer: String) -> String {
        var s = answer.replacingOccurrences(of: "\u{2212}", with: "-")
        for command in ["\\text", "\\textbf", "\\mathrm", "\\mbox", "\\textrm", "\\mathbf", "\\boxed"] {
            s = unwrap(command, in: s)
        }
        for command in ["\\dfrac", "\\tfrac", "\\frac"] {
            s = replaceFractions(command, in: s)
        }
        for noise in ["\\$", "$", "\\%", "%", "\\,", "\\!", "\\;", "\\ ", "~", "\\left", "\\right", "{", "}", "^\\circ", "\\circ", "°"] {
            s = s.replacingOccurrences(of: noise, with: noise == "\\ " ? " " : "")
        }
        if let equals = s.range(of: "=", options: .backwards) { s = String(s[equals.upperBound...]) }
        s = s.trimmingWhitespace()
        let numbers = numberTokens(in: s)
        if numbers.count == 1 { return canonicalNumber(numbers[0].value) }
        if numbers.count == 2, numbers[1].value != 0 {
            // "a/b" and nothing else, as \frac{a}{b} becomes.
            let between = s[numbers[0].range.upperBound..<numbers[1].range.lowerBound].trimmingWhitespace()
            let outside = (s[..<numbers[0].range.lowerBound] + s[numbers[1].range.upperBound...]).trimmingWhitespace()
            if between == "/" && outside.isEmpty { return canonicalNumber(numbers[0].value / numbers[1].value) }
        }
        return s
    }

    /// Compares the last boxed answer of `modelOutput` with `gold` numerically.
    public static func verdict(modelOutput: String, gold: String) -> (answer: String?, verdict: Verdict) {
        guard let boxed = extractBoxed(modelOutput) else { return (nil, .none) }
        let answer = normalize(boxed)
        guard let answerValue = Double(answer), let goldValue = Double(normalize(gold)) else {
            return (answer, answer == gold.trimmingWhitespace() ? .correct : .wrong)
        }
        let tolerance = 1e-6 * max(1, abs(goldValue))
        return (answer, abs(answerValue - goldValue) <= tolerance ? .correct : .wrong)
    }

    /// Checks `modelOutput` against a gold answer as a prompt set writes it: GSM8K's
    /// "… #### N" is checked numerically, exactly as `verdict(modelOutput:gold:)` does for GSM8K;
    /// any other gold (a `\boxed{…}` in it unwrapped) is LaTeX, checked by `MathAnswer`. The
    /// answer returned is the boxed content in normalised form.
    public static func verdict(modelOutput: String, writtenGold: String) -> (answer: String?, verdict: Verdict) {
        switch GoldAnswer(written: writtenGold) {
        case .number(let number): return verdict(modelOutput: modelOutput, gold: number)
        case .latex(let latex): return latexVerdict(modelOutput: modelOutput, gold: latex)
        }
    }

    /// The LaTeX check: the last `\boxed{…}` and `gold`, both normalised by `LaTeXNormalizer`
    /// and compared as `MathAnswer`s.
    public static func latexVerdict(modelOutput: String, gold: String) -> (answer: String?, verdict: Verdict) {
        guard let boxed = extractBoxed(modelOutput) else { return (nil, .none) }
        let answer = LaTeXNormalizer.normalize(boxed)
        let goldForm = LaTeXNormalizer.normalize(gold)
        let matches = MathAnswer(normalized: answer.text)
            .matches(gold: MathAnswer(normalized: goldForm.text), goldIsPercent: goldForm.isPercent)
        return (answer.text, matches ? .correct : .wrong)
    }

    /// `\command{X}` → `X`, innermost-safe (the braces are matched).
    private static func unwrap(_ command: String, in text: String) -> String {
        var s = text
        while let range = s.range(of: command + "{") {
            let bytes = Array(s.utf8)
            let open = s.utf8.distance(from: s.utf8.startIndex, to: range.upperBound.samePosition(in: s.utf8)!) - 1
            guard let close = matchingBrace(bytes, open: open) else { break }
            let before = String(decoding: bytes[..<(open - command.utf8.count)], as: UTF8.self)
            let inner = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
            let after = String(decoding: bytes[(close + 1)...], as: UTF8.self)
            s = before + inner + after
        }
        return s
    }

    /// `\frac{A}{B}` → `A/B`.
    private static func replaceFractions(_ command: String, in text: String) -> String {
        var s = text
        while let range = s.range(of: command + "{") {
            let bytes = Array(s.utf8)
            let open = s.utf8.distance(from: s.utf8.startIndex, to: range.upperBound.samePosition(in: s.utf8)!) - 1
            guard let close = matchingBrace(bytes, open: open), close + 1 < bytes.count, bytes[close + 1] == UInt8(ascii: "{"),
                  let close2 = matchingBrace(bytes, open: close + 1) else { break }
            let before = String(decoding: bytes[..<(open - command.utf8.count)], as: UTF8.self)
            let numerator = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
            let denominator = String(decoding: bytes[(close + 2)..<close2], as: UTF8.self)
            let after = String(decoding: bytes[(close2 + 1)...], as: UTF8.self)
            s = before + numerator + "/" + denominator + after
        }
        return s
    }

    private struct NumberToken {
        var range: Range<String.Index>
        var value: Double
    }

    /// Numbers in `text`: optional minus, digits with optional thousands commas, optional decimals.
    private static func numberTokens(in text: String) -> [NumberToken] {
        var tokens: [NumberToken] = []
        let chars = Array(text.unicodeScalars)
        var indices: [String.Index] = []
        var index = text.unicodeScalars.startIndex
        for _ in chars {
            indices.append(index)
            index = text.unicodeScalars.index(after: index)
        }
        indices.append(text.unicodeScalars.endIndex)
        func isDigit(_ k: Int) -> Bool { k < chars.count && chars[k].value >= 48 && chars[k].value <= 57 }
        var k = 0
        while k < chars.count {
            let startsNumber = isDigit(k) || (chars[k] == "-" && (isDigit(k + 1) || (k + 2 < chars.count && chars[k + 1] == "." && isDigit(k + 2))))
                || (chars[k] == "." && isDigit(k + 1) && (k == 0 || !isDigit(k - 1)))
            guard startsNumber else {
                k += 1
                continue
            }
            let start = k
            var literal = ""
            if chars[k] == "-" {
                literal = "-"
                k += 1
            }
            while k < chars.count {
                if isDigit(k) {
                    literal.unicodeScalars.append(chars[k])
                } else if chars[k] == "," && isDigit(k + 1) && k > start {
                    // thousands separator
                } else {
                    break
                }
                k += 1
            }
            if k < chars.count && chars[k] == "." && isDigit(k + 1) {
                literal += "."
                k += 1
                while isDigit(k) {
                    literal.unicodeScalars.append(chars[k])
                    k += 1
                }
            }
            if literal.hasPrefix(".") || literal.hasPrefix("-.") { literal = literal.replacingOccurrences(of: ".", with: "0.") }
            if let value = Double(literal) {
                tokens.append(NumberToken(range: indices[start]..<indices[k], value: value))
            }
        }
        return tokens
    }

    /// "18" for 18.0, "2.5" for 2.50, "-3" for -3.
    static func canonicalNumber(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 {
            return String(Int64(value))
        }
        return String(value)
    }
}
