import Foundation

/// A normalised LaTeX expression read as arithmetic: numbers, `+ - * / ^`, `\cdot`, `\times`,
/// `\div`, implicit products (`2\sqrt{3}`, `3\pi`, `4x`), `\frac{a}{b}`, `\sqrt{n}`,
/// `\sqrt[k]{n}`, `\pi`, `\infty`, a few functions (`\sin`, `\cos`, `\tan`, `\ln`, `\log`,
/// `\exp`), parentheses and braces, and single-letter variables.
///
/// Two answers are the same expression when they evaluate to the same value at the same
/// variable values, checked at more than one point; that is how `x^2+2x+1` equals `(x+1)^2`.
/// Runs of two or more letters are words, not products, so `Monday` is not an expression.
public struct LaTeXExpression: Sendable, Equatable {
    enum Node: Sendable, Equatable {
        case number(Double)
        case variable(Character)
        case pi, infinity
        indirect case negate(Node)
        indirect case binary(Character, Node, Node)
        indirect case root(index: Node, radicand: Node)
        indirect case function(String, Node)
    }

    static let maximumLength = 1000

    let root: Node
    /// The single-letter variables the expression uses.
    public let variables: Set<Character>

    /// Nil when `text` is not an expression this reader understands.
    public init?(_ text: String) {
        // A tree as long as its text is evaluated and freed recursively: answers are short,
        // so a longer text is not read as an expression rather than risk the stack.
        guard text.utf8.count <= Self.maximumLength, let tokens = Self.tokenize(text), !tokens.isEmpty else { return nil }
        var parser = Parser(tokens: tokens)
        guard let node = parser.parseExpression(), parser.position == tokens.count else { return nil }
        self.root = node
        self.variables = parser.variables
    }

    /// The value with each variable set from `values` (missing variables are nil).
    public func value(at values: [Character: Double] = [:]) -> Double? {
        Self.evaluate(root, values)
    }

    private static func evaluate(_ node: Node, _ values: [Character: Double]) -> Double? {
        switch node {
        case .number(let v): return v
        case .variable(let name): return values[name]
        case .pi: return Double.pi
        case .infinity: return Double.infinity
        case .negate(let inner): return evaluate(inner, values).map { -$0 }
        case .binary(let op, let l, let r):
            guard let a = evaluate(l, values), let b = evaluate(r, values) else { return nil }
            switch op {
            case "+": return a + b
            case "-": return a - b
            case "*": return a * b
            case "/": return b == 0 ? nil : a / b
            case "^": return Foundation.pow(a, b)
            default: return nil
            }
        case .root(let index, let radicand):
            guard let k = evaluate(index, values), let x = evaluate(radicand, values), k != 0 else { return nil }
            if x < 0 {
                // Odd roots of negatives are real; even ones are not numbers here.
                guard k == k.rounded(), abs(k) < 1e15, Int64(k) % 2 != 0 else { return nil }
                return -Foundation.pow(-x, 1 / k)
            }
            return Foundation.pow(x, 1 / k)
        case .function(let name, let argument):
            guard let x = evaluate(argument, values) else { return nil }
            switch name {
            case "sin": return Foundation.sin(x)
            case "cos": return Foundation.cos(x)
            case "tan": return Foundation.tan(x)
            case "ln": return x > 0 ? Foundation.log(x) : nil
            case "log": return x > 0 ? Foundation.log10(x) : nil
            case "exp": return Foundation.exp(x)
            default: return nil
            }
        }
    }

    enum Token: Equatable {
        case number(Double)
        case letter(Character)
        case command(String)
        case symbol(Character)
    }

    static let functions: Set<String> = ["sin", "cos", "tan", "ln", "log", "exp"]
    static let commands: Set<String> = Set(["frac", "sqrt", "pi", "infty", "cdot", "times", "div"]).union(functions)

    private static func tokenize(_ text: String) -> [Token]? {
        var tokens: [Token] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\n" || c == "\t" {
                i += 1
            } else if c.isASCIIDigit || (c == "." && i + 1 < chars.count && chars[i + 1].isASCIIDigit) {
                var literal = ""
                while i < chars.count, chars[i].isASCIIDigit || chars[i] == "." {
                    literal.append(chars[i])
                    i += 1
                }
                guard let value = Double(literal.hasPrefix(".") ? "0" + literal : literal) else { return nil }
                if case .number? = tokens.last { return nil }  // "1 000": not one expression
                tokens.append(.number(value))
            } else if c == "\\" {
                var name = ""
                i += 1
                while i < chars.count, chars[i].isLetter {
                    name.append(chars[i])
                    i += 1
                }
                guard commands.contains(name) else { return nil }
                tokens.append(.command(name))
            } else if c.isASCII && c.isLetter {
                // Two letters in a row are a word, not a product of variables.
                if i + 1 < chars.count, chars[i + 1].isASCII, chars[i + 1].isLetter { return nil }
                // Lower case, as math-verify reads symbols: X and x are one variable.
                tokens.append(.letter(Character(c.lowercased())))
                i += 1
            } else if "+-*/^(){}[]".contains(c) {
                tokens.append(.symbol(c))
                i += 1
            } else {
                return nil
            }
        }
        return tokens
    }

    struct Parser {
        let tokens: [Token]
        var position = 0
        var variables = Set<Character>()
        /// Groups open at the current token: past `maximumDepth` the text is not read as an
        /// expression, so a model's runaway "((((…" cannot exhaust the stack.
        var depth = 0
        static let maximumDepth = 64

        var current: Token? { position < tokens.count ? tokens[position] : nil }

        mutating func parseExpression() -> Node? {
            guard var node = parseTerm() else { return nil }
            while case .symbol(let op)? = current, op == "+" || op == "-" {
                position += 1
                guard let right = parseTerm() else { return nil }
                node = .binary(op, node, right)
            }
            return node
        }

        mutating func parseTerm() -> Node? {
            guard var node = parseSigned() else { return nil }
            while true {
                if case .symbol(let op)? = current, op == "*" || op == "/" {
                    position += 1
                    guard let right = parseSigned() else { return nil }
                    node = .binary(op, node, right)
                } else if case .command(let name)? = current, name == "cdot" || name == "times" || name == "div" {
                    position += 1
                    guard let right = parseSigned() else { return nil }
                    node = .binary(name == "div" ? "/" : "*", node, right)
                } else if case .number(let whole) = node, whole == whole.rounded(), let fraction = mixedFraction() {
                    // "2\frac{1}{4}" is the mixed number 2 1/4, as MATH writes them, not 2 · 1/4.
                    node = .binary("+", node, fraction)
                } else if startsAtom() {
                    guard let right = parsePower() else { return nil }
                    node = .binary("*", node, right)
                } else {
                    return node
                }
            }
        }

        /// `\frac{p}{q}` of two whole numbers at the current token, consumed; else nil.
        mutating func mixedFraction() -> Node? {
            guard position + 7 <= tokens.count,
                tokens[position] == .command("frac"), tokens[position + 1] == .symbol("{"),
                case .number(let p) = tokens[position + 2], p == p.rounded(), tokens[position + 3] == .symbol("}"),
                tokens[position + 4] == .symbol("{"), case .number(let q) = tokens[position + 5], q == q.rounded(),
                tokens[position + 6] == .symbol("}")
            else { return nil }
            position += 7
            return .binary("/", .number(p), .number(q))
        }

        mutating func parseSigned() -> Node? {
            if case .symbol(let sign)? = current, sign == "-" || sign == "+" {
                position += 1
                depth += 1
                defer { depth -= 1 }
                guard depth <= Parser.maximumDepth else { return nil }
                guard let inner = parseSigned() else { return nil }
                return sign == "-" ? .negate(inner) : inner
            }
            return parsePower()
        }

        mutating func parsePower() -> Node? {
            guard let base = parseAtom() else { return nil }
            if case .symbol("^")? = current {
                position += 1
                depth += 1
                defer { depth -= 1 }
                guard depth <= Parser.maximumDepth else { return nil }
                // -x^2 is -(x^2); 2^-1 is allowed.
                guard let exponent = parseSignedAtomPower() else { return nil }
                return .binary("^", base, exponent)
            }
            return base
        }

        mutating func parseSignedAtomPower() -> Node? {
            if case .symbol("-")? = current {
                position += 1
                return parsePower().map { .negate($0) }
            }
            return parsePower()
        }

        func startsAtom() -> Bool {
            switch current {
            case .number?, .letter?: return true
            case .symbol(let c)?: return c == "(" || c == "{"
            case .command(let name)?: return name != "cdot" && name != "times" && name != "div"
            case nil: return false
            }
        }

        mutating func parseAtom() -> Node? {
            guard let token = current else { return nil }
            position += 1
            switch token {
            case .number(let v): return .number(v)
            case .letter(let c):
                variables.insert(c)
                return .variable(c)
            case .symbol("("): return parseGroup(closing: ")")
            case .symbol("{"): return parseGroup(closing: "}")
            case .symbol: return nil
            case .command("pi"): return .pi
            case .command("infty"): return .infinity
            case .command("frac"):
                guard let numerator = parseBraced(), let denominator = parseBraced() else { return nil }
                return .binary("/", numerator, denominator)
            case .command("sqrt"):
                var index = Node.number(2)
                if case .symbol("[")? = current {
                    position += 1
                    depth += 1
                    defer { depth -= 1 }
                    guard depth <= Parser.maximumDepth, let k = parseExpression(), case .symbol("]")? = current else { return nil }
                    position += 1
                    index = k
                }
                guard let radicand = parseBraced() else { return nil }
                return .root(index: index, radicand: radicand)
            case .command(let name) where LaTeXExpression.functions.contains(name):
                depth += 1
                defer { depth -= 1 }
                guard depth <= Parser.maximumDepth, let argument = parsePower() else { return nil }
                return .function(name, argument)
            case .command: return nil
            }
        }

        mutating func parseBraced() -> Node? {
            guard case .symbol("{")? = current else { return nil }
            position += 1
            return parseGroup(closing: "}")
        }

        mutating func parseGroup(closing: Character) -> Node? {
            depth += 1
            defer { depth -= 1 }
            guard depth <= Parser.maximumDepth else { return nil }
            guard let inner = parseExpression(), case .symbol(closing)? = current else { return nil }
            position += 1
            return inner
        }
    }
}
