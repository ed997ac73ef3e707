/// A gold answer as a prompt set writes it, sorted by how it is checked.
public enum GoldAnswer: Sendable, Equatable {
    /// GSM8K's format: the number after the last "####", commas removed; checked numerically.
    case number(String)
    /// Anything else, as written (trimmed, a surrounding `\boxed{…}` unwrapped); checked as LaTeX.
    case latex(String)

    public init(written text: String) {
        if let number = AnswerChecker.goldAnswer(from: text) {
            self = .number(number)
            return
        }
        let trimmed = text.trimmingWhitespace()
        if let boxed = AnswerChecker.extractBoxed(trimmed) {
            self = .latex(boxed)
        } else {
            self = .latex(trimmed)
        }
    }

    /// The gold as a bundle records it: the number, or the LaTeX as written.
    public var text: String {
        switch self {
        case .number(let number): return number
        case .latex(let latex): return latex
        }
    }
}
