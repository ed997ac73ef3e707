import Foundation

/// Grades one JSONL line holding a model's response and its gold answer, as `thinklens grade`
/// does for a whole file, with the same checker a run uses (`AnswerChecker.verdict(modelOutput:writtenGold:)`).
public struct ResponseGrader: Sendable {
    public var goldField: String
    public var responseField: String

    public init(goldField: String = "gold", responseField: String = "response") {
        self.goldField = goldField
        self.responseField = responseField
    }

    public struct Grade: Sendable, Equatable {
        /// The last `\boxed{…}` in normalised form; nil when the response has none.
        public var answer: String?
        public var verdict: Verdict

        public init(answer: String?, verdict: Verdict) {
            self.answer = answer
            self.verdict = verdict
        }
    }

    /// One field's value as the line holds it: only strings are usable.
    private enum FieldValue: Decodable {
        case string(String)
        case other(String)

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .string(text)
            } else if container.decodeNil() {
                self = .other("null")
            } else if (try? container.decode(Double.self)) != nil {
                self = .other("a number")
            } else if (try? container.decode(Bool.self)) != nil {
                self = .other("a boolean")
            } else {
                self = .other("an array or object")
            }
        }
    }

    /// The grade of `line` (line `lineNumber` of `fileName`); a line that is not a JSON object
    /// or lacks a string field is an error naming the file, line and field.
    public func grade(line: Substring, lineNumber: Int, fileName: String) throws -> Grade {
        let where_ = "\(fileName) line \(lineNumber)"
        let fields: [String: FieldValue]
        do {
            // JSONDecoder, not JSONSerialization: the latter drops a raw U+FEFF that starts a string.
            fields = try JSONDecoder().decode([String: FieldValue].self, from: Data(line.utf8))
        } catch {
            throw GSM8KError("\(where_): not a JSON object (\(line.prefix(60))); each line must be one object with \"\(goldField)\" and \"\(responseField)\"")
        }
        func string(_ field: String, option: String) throws -> String {
            switch fields[field] {
            case .string(let text)?: return text
            case .other(let kind)?:
                throw GSM8KError("\(where_): field \"\(field)\" is \(kind), not a string")
            case nil:
                throw GSM8KError("\(where_): missing field \"\(field)\" (name another with \(option))")
            }
        }
        let gold = try string(goldField, option: "--gold-field")
        let response = try string(responseField, option: "--response-field")
        let check = AnswerChecker.verdict(modelOutput: response, writtenGold: gold)
        return Grade(answer: check.answer, verdict: check.verdict)
    }
}
