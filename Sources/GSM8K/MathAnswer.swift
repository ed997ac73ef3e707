import Foundation

/// A LaTeX answer read into the shape it compares by: a scalar (an expression, or text when it
/// is not one), an ordered sequence (tuple, interval, vector), or an unordered collection (a
/// set, a bare list of solutions, a union of intervals).
///
/// Equivalence: scalars are equal when both are expressions with the same value (or the same
/// value at every test point, for expressions with variables), else when their normalised
/// spellings are equal ignoring spaces; sequences element-wise with the same brackets;
/// collections element-wise in any order. A percentage equals the decimal it stands for only
/// when the gold is the percentage.
public indirect enum MathAnswer: Sendable, Equatable {
    case scalar(String)
    /// Brackets as written: "(" ")" for tuples and open intervals, "[" ")" for half-open ones.
    case sequence(open: Character, close: Character, [MathAnswer])
    case collection([MathAnswer])

    /// Reads a normalised answer (see `LaTeXNormalizer`).
    public init(normalized text: String) {
        self.init(normalized: text, depth: 0)
    }

    /// Nesting past this depth is read as text: a model's runaway brackets cannot exhaust the stack.
    static let maximumDepth = 16

    private init(normalized text: String, depth: Int) {
        var s = text.trimmingWhitespace()
        guard depth < MathAnswer.maximumDepth else {
            self = .scalar(s)
            return
        }
        // "x = 5", "y=\frac{1}{2}": the value is what follows the last "=" of a simple left side.
        if let equals = MathAnswer.simpleAssignment(s) { s = equals }
        let unionParts = MathAnswer.splitTopLevel(s, separator: "\\cup")
        if unionParts.count > 1 {
            self = .collection(unionParts.map { MathAnswer(normalized: $0, depth: depth + 1) })
            return
        }
        if let matrix = MathAnswer.matrixEntries(s) {
            self = .sequence(open: "(", close: ")", matrix.map { .scalar($0) })
            return
        }
        if s.hasPrefix("\\{"), s.hasSuffix("\\}"), MathAnswer.enclosesAll(s, open: "\\{", close: "\\}") {
            let inner = String(s.dropFirst(2).dropLast(2))
            self = .collection(MathAnswer.splitTopLevel(inner, separator: ",").map { MathAnswer(normalized: $0, depth: depth + 1) })
            return
        }
        if let first = s.first, let last = s.last, "([".contains(first), ")]".contains(last),
            MathAnswer.bracketSpansAll(s)
        {
            let inner = String(s.dropFirst().dropLast())
            let parts = MathAnswer.splitTopLevel(inner, separator: ",")
            if parts.count > 1 {
                self = .sequence(open: first, close: last, parts.map { MathAnswer(normalized: $0, depth: depth + 1) })
                return
            }
        }
        let parts = MathAnswer.splitTopLevel(s, separator: ",")
        if parts.count > 1 {
            self = .collection(parts.map { MathAnswer(normalized: $0, depth: depth + 1) })
            return
        }
        self = .scalar(s)
    }

    /// Whether `self` (a model's answer) equals `gold`; `goldIsPercent` lets a decimal answer
    /// stand for the gold percentage (gold `25\%`, answer `0.25`).
    public func matches(gold: MathAnswer, goldIsPercent: Bool = false) -> Bool {
        switch (self, gold) {
        case (.scalar(let a), .scalar(let g)):
            return MathAnswer.scalarsMatch(a, g, goldIsPercent: goldIsPercent)
        case (.sequence(let ao, let ac, let a), .sequence(let go, let gc, let g)):
            guard a.count == g.count, zip(a, g).allSatisfy({ $0.matches(gold: $1) }) else { return false }
            // Brackets matter for an interval (two increasing ends), except at an infinite end,
            // which is open however it is written; a tuple may be written in ( ) or [ ].
            guard let ends = MathAnswer.intervalEnds(g) else {
                return (ao == go && ac == gc) || (MathAnswer.pairedBrackets(ao, ac) && MathAnswer.pairedBrackets(go, gc))
            }
            return (ao == go || ends.lower.isInfinite) && (ac == gc || ends.upper.isInfinite)
        case (.collection(let a), .collection(let g)):
            guard a.count == g.count else { return false }
            var unused = g
            for element in a {
                guard let k = unused.firstIndex(where: { element.matches(gold: $0) }) else { return false }
                unused.remove(at: k)
            }
            return true
        default:
            return false
        }
    }

    /// "( )" or "[ ]": a tuple's brackets; "[ )" and "( ]" only make sense for an interval.
    private static func pairedBrackets(_ open: Character, _ close: Character) -> Bool {
        (open == "(" && close == ")") || (open == "[" && close == "]")
    }

    /// The ends of a two-element sequence that reads as an interval (lower < upper), else nil.
    private static func intervalEnds(_ elements: [MathAnswer]) -> (lower: Double, upper: Double)? {
        guard elements.count == 2, case .scalar(let low) = elements[0], case .scalar(let high) = elements[1],
            let lower = LaTeXExpression(low)?.value(), let upper = LaTeXExpression(high)?.value(), lower < upper
        else { return nil }
        return (lower, upper)
    }

    private static func scalarsMatch(_ answer: String, _ gold: String, goldIsPercent: Bool) -> Bool {
        // Text compares without spaces and case, as math-verify does ("Tuesday", "tuesday").
        func spelling(_ s: String) -> String { s.filter { $0 != " " }.lowercased() }
        if spelling(answer) == spelling(gold) { return true }
        guard let a = LaTeXExpression(answer), let g = LaTeXExpression(gold), a.variables == g.variables else {
            return false
        }
        // Two sets of variable values: an identity that held by chance at one would not at both.
        let points: [[Character: Double]] = [
            Dictionary(uniqueKeysWithValues: a.variables.map { ($0, 1.0 + Double($0.asciiValue ?? 0) / 97.0) }),
            Dictionary(uniqueKeysWithValues: a.variables.map { ($0, 0.3 + Double($0.asciiValue ?? 0) / 41.0) }),
        ]
        for point in points.prefix(a.variables.isEmpty ? 1 : 2) {
            guard let av = a.value(at: point), let gv = g.value(at: point) else { return false }
            if close(av, gv) { continue }
            if goldIsPercent, close(av * 100, gv) { continue }
            return false
        }
        return true
    }

    /// Equal to six decimals (so 0.333333 stands for 1/3 and 0.33 does not, and 1000001 is not
    /// 1000000), with a relative 1e-9 for rounding in large values; infinities by sign.
    static func close(_ a: Double, _ b: Double) -> Bool {
        if a.isInfinite || b.isInfinite { return a == b }
        guard a.isFinite, b.isFinite else { return false }
        return abs(a - b) <= 1e-6 + 1e-9 * abs(b)
    }

    /// The right side of "v = …" when the left side is one variable (with an optional subscript).
    private static func simpleAssignment(_ s: String) -> String? {
        let parts = splitTopLevel(s, separator: "=")
        guard parts.count >= 2 else { return nil }
        for lhs in parts.dropLast() {
            let name = lhs.trimmingWhitespace()
            let base = name.split(separator: "_", maxSplits: 1).first.map(String.init) ?? name
            let isVariable = (base.count == 1 && base.first!.isLetter)
                || ["\\theta", "\\alpha", "\\beta", "\\lambda", "\\phi"].contains(base)
            guard isVariable else { return nil }
        }
        return parts.last!.trimmingWhitespace()
    }

    /// `\begin{pmatrix} a \\ b \end{pmatrix}` (or bmatrix) → its entries in reading order.
    private static func matrixEntries(_ s: String) -> [String]? {
        for kind in ["pmatrix", "bmatrix"] {
            let begin = "\\begin{\(kind)}", end = "\\end{\(kind)}"
            guard s.hasPrefix(begin), s.hasSuffix(end) else { continue }
            let body = s.dropFirst(begin.count).dropLast(end.count)
            return body.replacingOccurrences(of: "\\\\", with: "&").split(separator: "&")
                .map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
        }
        return nil
    }

    /// True when the bracket that opens `s` closes at its end (so "(1,2)" but not "(1)+(2)").
    private static func bracketSpansAll(_ s: String) -> Bool {
        var depth = 0
        let chars = Array(s)
        for (k, c) in chars.enumerated() {
            if "([{".contains(c) { depth += 1 }
            if ")]}".contains(c) { depth -= 1 }
            if depth == 0 && k < chars.count - 1 { return false }
        }
        return depth == 0
    }

    /// True when the `open` that starts `s` is closed by the `close` that ends it.
    private static func enclosesAll(_ s: String, open: String, close: String) -> Bool {
        var depth = 0
        var rest = Substring(s)
        while !rest.isEmpty {
            if rest.hasPrefix(open) {
                depth += 1
                rest = rest.dropFirst(open.count)
            } else if rest.hasPrefix(close) {
                depth -= 1
                rest = rest.dropFirst(close.count)
                if depth == 0 && !rest.isEmpty { return false }
            } else {
                rest = rest.dropFirst()
            }
        }
        return depth == 0
    }

    /// `s` split at each `separator` outside brackets and braces (`\{ \}` count as brackets).
    static func splitTopLevel(_ s: String, separator: String) -> [String] {
        var parts: [String] = []
        var depth = 0
        var current = ""
        var rest = Substring(s)
        while let c = rest.first {
            if rest.hasPrefix("\\{") || rest.hasPrefix("\\}") {
                depth += rest.hasPrefix("\\{") ? 1 : -1
                current += rest.prefix(2)
                rest = rest.dropFirst(2)
                continue
            }
            if depth == 0, rest.hasPrefix(separator) {
                parts.append(current)
                current = ""
                rest = rest.dropFirst(separator.count)
                continue
            }
            if "([{".contains(c) { depth += 1 }
            if ")]}".contains(c) { depth -= 1 }
            current.append(c)
            rest = rest.dropFirst()
        }
        parts.append(current)
        return parts.map { $0.trimmingWhitespace() }
    }
}
