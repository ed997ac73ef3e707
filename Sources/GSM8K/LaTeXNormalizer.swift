/// Rewrites a LaTeX answer (a `\boxed{…}`'s content or a gold answer as written) into one
/// canonical spelling, so that answers that differ only in typesetting compare equal:
///
/// - `\left`/`\right`, spacing commands (`\!`, `\,`, `\;`, `\:`, `\quad`, `~`), `\displaystyle`,
///   `$` and `\$` are dropped;
/// - `\dfrac`/`\tfrac` become `\frac`, and brace-less arguments get braces (`\frac12` →
///   `\frac{1}{2}`, `\sqrt3` → `\sqrt{3}`);
/// - degrees (`^\circ`, `^{\circ}`, `°`) are dropped, `\%` is dropped and remembered;
/// - `\text{…}`-style wrappers are unwrapped, and words after a number (units: `5\text{ cm}`,
///   `12 inches^2`) are dropped;
/// - thousands separators go (`1,000` and `1{,}000` → `1000`) when the whole answer is one number;
/// - surrounding spaces and a trailing period go.
///
/// The result keeps its structure (brackets, commas, `\cup`) for `MathAnswer` to read.
public enum LaTeXNormalizer {
    /// An answer in canonical spelling, and whether it was written as a percentage.
    public struct Normalized: Sendable, Equatable {
        public var text: String
        public var isPercent: Bool
    }

    public static func normalize(_ answer: String) -> Normalized {
        // A matrix's row break `\\` is kept aside so the spacing rules below cannot split it.
        var s = answer.replacingOccurrences(of: "\\\\", with: rowBreak)
        s = s.replacingOccurrences(of: "\u{2212}", with: "-")
        s = s.replacingOccurrences(of: "π", with: "\\pi ")
        s = s.replacingOccurrences(of: "∞", with: "\\infty ")
        s = s.replacingOccurrences(of: "√", with: "\\sqrt")
        s = s.replacingOccurrences(of: "\\$", with: "")
        s = s.replacingOccurrences(of: "$", with: "")
        s = removeCommand("\\left", in: s)
        s = removeCommand("\\right", in: s)
        s = removeCommand("\\displaystyle", in: s)
        s = removeCommand("\\quad", in: s)
        s = removeCommand("\\qquad", in: s)
        for spacing in ["\\!", "\\,", "\\;", "\\:"] { s = s.replacingOccurrences(of: spacing, with: "") }
        s = s.replacingOccurrences(of: "\\ ", with: " ").replacingOccurrences(of: "~", with: " ")
        s = s.replacingOccurrences(of: "\\dfrac", with: "\\frac").replacingOccurrences(of: "\\tfrac", with: "\\frac")
        s = s.replacingOccurrences(of: "{,}", with: ",")
        for degree in ["^{\\circ}", "^\\circ", "^{\\circ }", "\\circ", "°", "\\degree"] {
            s = s.replacingOccurrences(of: degree, with: "")
        }
        var isPercent = false
        for percent in ["\\%", "%"] where s.contains(percent) {
            isPercent = true
            s = s.replacingOccurrences(of: percent, with: "")
        }
        s = dropTextUnits(in: s)
        s = braceArguments(of: "\\frac", count: 2, in: s)
        s = braceArguments(of: "\\sqrt", count: 1, in: s)
        s = s.trimmingWhitespace()
        while s.hasSuffix(".") || s.hasSuffix("\\") {
            s = String(s.dropLast()).trimmingWhitespace()
        }
        s = dropBareUnits(in: s)
        s = removeThousandsSeparators(in: s)
        s = s.replacingOccurrences(of: rowBreak, with: "\\\\")
        return Normalized(text: s, isPercent: isPercent)
    }

    private static let rowBreak = "\u{1}"

    /// `\name` removed where it is the whole command (so `\right` goes but `\rightarrow` stays).
    private static func removeCommand(_ name: String, in text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let range = rest.range(of: name) {
            out += rest[..<range.lowerBound]
            let after = rest[range.upperBound...]
            if let next = after.first, next.isLetter {
                out += name
            }
            rest = after
        }
        return out + rest
    }

    static let textCommands = ["\\text", "\\textbf", "\\textit", "\\textrm", "\\mathrm", "\\mathbf", "\\mbox", "\\operatorname", "\\boxed"]

    /// `\text{…}` and its relatives unwrapped; a wrapper holding only words that follows a
    /// number or expression (a unit, with an optional `^2`) is dropped instead.
    private static func dropTextUnits(in text: String) -> String {
        var s = text
        var changed = true
        while changed {
            changed = false
            for command in textCommands {
                guard let range = s.range(of: command + "{") else { continue }
                let bytes = Array(s.utf8)
                let commandStart = s.utf8.distance(from: s.utf8.startIndex, to: range.lowerBound)
                let open = commandStart + command.utf8.count
                guard let close = LaTeXScanner.matchingBrace(bytes, open: open) else { continue }
                let before = String(decoding: bytes[..<commandStart], as: UTF8.self)
                let inner = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
                var afterStart = close + 1
                let isUnit = !before.trimmingWhitespace().isEmpty && isUnitWords(inner)
                    && before.trimmingWhitespace().last.map { $0.isNumber || $0 == "}" || $0 == ")" } == true
                if isUnit { afterStart = skipExponent(bytes, from: afterStart) }
                let after = String(decoding: bytes[afterStart...], as: UTF8.self)
                s = before + (isUnit ? "" : inner) + after
                changed = true
            }
        }
        return s
    }

    /// Words, as units are written: letters, spaces and a few joiners ("square units", "cm", "km/h").
    private static func isUnitWords(_ text: String) -> Bool {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.count >= 1, trimmed.contains(where: { $0.isLetter }) else { return false }
        return trimmed.allSatisfy { $0.isLetter || $0 == " " || $0 == "/" || $0 == "-" || $0 == "." }
    }

    /// Past `^2`, `^{2}` or `^3` at `index`, else `index`.
    private static func skipExponent(_ bytes: [UInt8], from index: Int) -> Int {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "^") else { return index }
        if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "{"),
            let close = LaTeXScanner.matchingBrace(bytes, open: index + 1)
        {
            return close + 1
        }
        return min(index + 2, bytes.count)
    }

    /// "12 inches", "5 cm^2": a number followed by plain words only keeps the number.
    private static func dropBareUnits(in text: String) -> String {
        let scalars = Array(text)
        var end = 0
        if end < scalars.count, scalars[end] == "-" { end += 1 }
        let digitsStart = end
        while end < scalars.count, scalars[end].isNumber || scalars[end] == "." || scalars[end] == "," { end += 1 }
        guard end > digitsStart, end < scalars.count, scalars[end] == " " else { return text }
        let tail = String(scalars[end...]).trimmingWhitespace()
        let unit = tail.split(separator: "^").first.map(String.init) ?? tail
        guard unit.count >= 2, unit.allSatisfy({ $0.isLetter || $0 == " " }), !unit.contains("\\") else { return text }
        return String(scalars[..<end])
    }

    /// "1,000,000" → "1000000" when the whole answer is one number written with separators.
    private static func removeThousandsSeparators(in text: String) -> String {
        let body = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let groups = parts[0].split(separator: ",", omittingEmptySubsequences: false)
        guard groups.count > 1,
            (1...3).contains(groups[0].count),
            groups.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }),
            groups.dropFirst().allSatisfy({ $0.count == 3 }),
            parts.count == 1 || parts[1].allSatisfy(\.isASCIIDigit)
        else { return text }
        return text.replacingOccurrences(of: ",", with: "")
    }

    /// `\frac12` → `\frac{1}{2}`, `\frac1{2}` → `\frac{1}{2}`, `\sqrt3` → `\sqrt{3}`: each
    /// argument written without braces is one character (or one `\command`).
    private static func braceArguments(of command: String, count: Int, in text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let range = rest.range(of: command) {
            out += rest[..<range.lowerBound] + command
            rest = rest[range.upperBound...]
            if let next = rest.first, next.isLetter { continue }  // \fraction, not \frac
            if command == "\\sqrt", rest.first == "[" {  // \sqrt[3]{x}: the index stays as written
                guard let close = rest.firstIndex(of: "]") else { continue }
                out += rest[...close]
                rest = rest[rest.index(after: close)...]
            }
            for _ in 0..<count {
                let trimmed = rest.drop(while: { $0 == " " })
                guard let first = trimmed.first else { break }
                if first == "{" {
                    let bytes = Array(String(trimmed).utf8)
                    guard let close = LaTeXScanner.matchingBrace(bytes, open: 0) else { break }
                    let group = String(decoding: bytes[...close], as: UTF8.self)
                    out += group
                    rest = Substring(String(decoding: bytes[(close + 1)...], as: UTF8.self))
                } else if first == "\\" {
                    let name = trimmed.dropFirst().prefix(while: { $0.isLetter })
                    out += "{\\" + name + "}"
                    rest = trimmed.dropFirst(1 + name.count)
                } else {
                    out += "{" + String(first) + "}"
                    rest = trimmed.dropFirst()
                }
            }
        }
        return out + rest
    }
}

/// Brace matching shared by the normaliser and the expression reader.
enum LaTeXScanner {
    /// Index of the `}` that closes the `{` at `open` (`\{` and `\}` are literal), or nil.
    static func matchingBrace(_ bytes: [UInt8], open: Int) -> Int? {
        var depth = 0
        var k = open
        while k < bytes.count {
            let b = bytes[k]
            if b == UInt8(ascii: "\\") {
                k += 2
                continue
            }
            if b == UInt8(ascii: "{") { depth += 1 }
            if b == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return k }
            }
            k += 1
        }
        return nil
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
