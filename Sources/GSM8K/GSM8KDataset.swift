import Foundation

public enum GSM8KSplit: String, Sendable, CaseIterable {
    case train, test
}

/// One GSM8K problem. `id` ("gsm8k:test:17") is split + 0-based row index in the official
/// file, so it is stable across runs and machines.
public struct GSM8KProblem: Sendable, Equatable, Hashable {
    public var id: String
    public var split: GSM8KSplit
    public var index: Int
    public var question: String
    /// The full reference solution, ending in "#### <answer>".
    public var answerText: String
    /// The number after "####", commas removed (e.g. "1080").
    public var gold: String

    public init(split: GSM8KSplit, index: Int, question: String, answerText: String, gold: String) {
        self.id = GSM8KProblem.id(split: split, index: index)
        self.split = split
        self.index = index
        self.question = question
        self.answerText = answerText
        self.gold = gold
    }

    public static func id(split: GSM8KSplit, index: Int) -> String { "gsm8k:\(split.rawValue):\(index)" }
}

public struct GSM8KError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// GSM8K in its original JSONL form: a directory with train.jsonl and test.jsonl, one
/// `{"question": ..., "answer": ...}` object per line.
public struct GSM8KDataset: Sendable {
    public static let environmentVariable = "THINKLENS_GSM8K_DIR"
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The dataset at `explicitDirectory` (e.g. --gsm8k-dir), else at $THINKLENS_GSM8K_DIR.
    public static func locate(
        explicitDirectory: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> GSM8KDataset {
        if let explicitDirectory, !explicitDirectory.isEmpty { return GSM8KDataset(directory: explicitDirectory) }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty {
            return GSM8KDataset(directory: fromEnvironment)
        }
        throw GSM8KError(
            "no GSM8K directory: pass --gsm8k-dir DIR or set \(environmentVariable) to a directory holding "
                + "train.jsonl and test.jsonl (scripts/fetch-gsm8k downloads them)")
    }

    public func path(of split: GSM8KSplit) -> String {
        (directory as NSString).appendingPathComponent("\(split.rawValue).jsonl")
    }

    /// All problems of a split, in file order. A malformed line is an error naming the file and line.
    public func load(split: GSM8KSplit) throws -> [GSM8KProblem] {
        let file = path(of: split)
        guard FileManager.default.fileExists(atPath: file) else {
            throw GSM8KError(
                "\(file): no such file; the GSM8K directory (--gsm8k-dir or \(GSM8KDataset.environmentVariable)) "
                    + "must hold train.jsonl and test.jsonl (scripts/fetch-gsm8k downloads them)")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw GSM8KError("\(file): cannot read (\(error.localizedDescription))")
        }
        return try GSM8KDataset.parse(data, split: split, fileName: file)
    }

    private struct Row: Decodable {
        var question: String?
        var answer: String?
    }

    /// Parses JSONL text; `fileName` appears in errors.
    public static func parse(_ data: Data, split: GSM8KSplit, fileName: String) throws -> [GSM8KProblem] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw GSM8KError("\(fileName): not valid UTF-8")
        }
        let decoder = JSONDecoder()
        var problems: [GSM8KProblem] = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0.isWhitespace }) { continue }
            // JSONDecoder, not JSONSerialization: the latter drops a raw U+FEFF that starts a string.
            let row: Row
            do {
                row = try decoder.decode(Row.self, from: Data(line.utf8))
            } catch DecodingError.typeMismatch(_, let context) {
                let field = context.codingPath.map(\.stringValue).joined(separator: ".")
                throw GSM8KError("\(fileName) line \(lineNumber): \(field.isEmpty ? "expected a JSON object with \"question\" and \"answer\"" : "field \"\(field)\" is not a string")")
            } catch {
                throw GSM8KError("\(fileName) line \(lineNumber): not valid JSON (\(line.prefix(60))…)")
            }
            guard let question = row.question else {
                throw GSM8KError("\(fileName) line \(lineNumber): missing string field \"question\"")
            }
            guard let answer = row.answer else {
                throw GSM8KError("\(fileName) line \(lineNumber): missing string field \"answer\"")
            }
            guard let gold = AnswerChecker.goldAnswer(from: answer) else {
                throw GSM8KError("\(fileName) line \(lineNumber): \"answer\" has no final \"#### <number>\" line")
            }
            problems.append(GSM8KProblem(
                split: split, index: problems.count, question: question, answerText: answer, gold: gold))
        }
        return problems
    }
}
