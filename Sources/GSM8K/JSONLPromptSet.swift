import Foundation

/// A prompt set in a JSONL file, one problem per line (MATH-500, AIME, GPQA exports, one's
/// own): a question field, an optional answer field and an optional id field. Selected with
/// `--problems jsonl:PATH[SLICE]`; indices count the file's non-blank lines from 0.
public struct JSONLPromptSet: Sendable {
    public var path: String
    /// Problem ids are "<name>:<index or id>"; by default the file's base name without extension.
    public var name: String
    /// nil: "question", or "problem" on lines without a "question" (MATH's spelling).
    public var questionField: String?
    /// nil: "answer" where a line has it (verdicts are `none` on lines without);
    /// a named field must be on every line.
    public var answerField: String?
    /// nil: the line index is the id.
    public var idField: String?

    public init(path: String, name: String? = nil, questionField: String? = nil, answerField: String? = nil, idField: String? = nil) {
        self.path = path
        self.name = name ?? JSONLPromptSet.defaultName(for: path)
        self.questionField = questionField
        self.answerField = answerField
        self.idField = idField
    }

    /// "math500" for "data/math500.jsonl".
    public static func defaultName(for path: String) -> String {
        let base = (path as NSString).lastPathComponent
        return (base as NSString).deletingPathExtension
    }

    /// The file's bytes, for its checksum.
    public func contents() throws -> Data {
        guard FileManager.default.fileExists(atPath: path) else {
            throw GSM8KError("\(path): no such file; --problems jsonl:PATH names a JSONL file with one problem per line")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw GSM8KError("\(path): cannot read (\(error.localizedDescription))")
        }
    }

    /// Every problem, in file order. A bad line is an error naming the file, line and field.
    public func load() throws -> [PromptSetProblem] {
        try parse(try contents())
    }

    /// One field's value as a line holds it.
    private enum FieldValue: Decodable {
        case string(String)
        case integer(Int)
        case decimal(Double)
        case other(String)

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .string(text)
            } else if let number = try? container.decode(Int.self) {
                self = .integer(number)
            } else if container.decodeNil() {
                self = .other("null")
            } else if let number = try? container.decode(Double.self) {
                self = .decimal(number)
            } else if (try? container.decode(Bool.self)) != nil {
                self = .other("a boolean")
            } else {
                self = .other("an array or object")
            }
        }

        var kind: String {
            switch self {
            case .string: return "a string"
            case .integer: return "a number"
            case .decimal: return "a non-integer number"
            case .other(let kind): return kind
            }
        }
    }

    /// Parses the file's bytes (`path` names it in errors).
    public func parse(_ data: Data) throws -> [PromptSetProblem] {
        guard let text = String(data: data, encoding: .utf8) else { throw GSM8KError("\(path): not valid UTF-8") }
        let decoder = JSONDecoder()
        var problems: [PromptSetProblem] = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0.isWhitespace }) { continue }
            let at = "\(path) line \(lineNumber)"
            // JSONDecoder, not JSONSerialization: the latter drops a raw U+FEFF that starts a string.
            guard let fields = try? decoder.decode([String: FieldValue].self, from: Data(line.utf8)) else {
                throw GSM8KError("\(at): not a JSON object (\(line.prefix(60))…); each line must be one object such as {\"question\": ..., \"answer\": ...}")
            }
            let questionName = questionField ?? (fields["question"] == nil && fields["problem"] != nil ? "problem" : "question")
            guard let questionValue = fields[questionName] else {
                let hint = questionField == nil ? "\"question\" or \"problem\"" : "\"\(questionName)\""
                throw GSM8KError("\(at): missing field \(hint); name the question's field with --question-field")
            }
            guard case .string(let question) = questionValue else {
                throw GSM8KError("\(at): field \"\(questionName)\" is \(questionValue.kind), not a string")
            }
            var gold: GoldAnswer?
            let answerName = answerField ?? "answer"
            switch fields[answerName] {
            case .string(let answer)?: gold = GoldAnswer(written: answer)
            case .integer(let answer)?: gold = .latex(String(answer))  // AIME-style integer answers
            case .decimal(let answer)?: gold = .latex(String(answer))
            case let other?: throw GSM8KError("\(at): field \"\(answerName)\" is \(other.kind), not a string")
            case nil:
                if answerField != nil {
                    throw GSM8KError("\(at): missing field \"\(answerName)\" (named by --answer-field)")
                }
            }
            let index = problems.count
            var idText = String(index)
            if let idField {
                switch fields[idField] {
                case .string(let id)?: idText = id
                case .integer(let id)?: idText = String(id)
                case let other?: throw GSM8KError("\(at): field \"\(idField)\" is \(other.kind), not a string or integer")
                case nil: throw GSM8KError("\(at): missing field \"\(idField)\" (named by --id-field)")
                }
            }
            problems.append(PromptSetProblem(id: "\(name):\(idText)", split: name, index: index, question: question, gold: gold))
        }
        guard !problems.isEmpty else { throw GSM8KError("\(path): empty; expected one JSON object per line") }
        return problems
    }
}
