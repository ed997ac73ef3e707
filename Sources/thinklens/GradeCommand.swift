import ArgumentParser
import Foundation
import GSM8K
import SafeTensors

/// `thinklens grade FILE.jsonl`: the run's answer checker for any model's outputs. One JSON
/// line out per line in, so line N's grade is on line N.
struct GradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grade",
        abstract: "Grade model responses against gold answers with ThinkLens's answer checker.",
        discussion: "Reads FILE.jsonl, one JSON object per line with a gold answer and a model response, and prints "
            + "one JSON object per line: {\"line\": N, \"answer\": the last \\boxed{...} normalised (null when none), "
            + "\"verdict\": \"correct\" | \"wrong\" | \"none\"}. A gold written as GSM8K's \"#### N\" is checked "
            + "numerically; any other gold (a \\boxed{...} in it unwrapped) is checked as LaTeX."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A JSONL file of responses and gold answers.")
    var file: String

    @Option(name: .long, help: "The field holding the gold answer.")
    var goldField: String = "gold"

    @Option(name: .long, help: "The field holding the model's response.")
    var responseField: String = "response"

    func run() throws {
        _ = global.bootstrapLogging()
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw GradeCommandError(description: "\(file): cannot read (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw GradeCommandError(description: "\(file): not valid UTF-8") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }  // the newline that ends the last line
        guard !lines.isEmpty else { throw GradeCommandError(description: "\(file): empty; expected one JSON object per line") }
        let grader = ResponseGrader(goldField: goldField, responseField: responseField)
        var output = ""
        // Lines graded before a bad line still reach stdout.
        defer { FileHandle.standardOutput.write(Data(output.utf8)) }
        for (offset, line) in lines.enumerated() {
            let grade: ResponseGrader.Grade
            do {
                grade = try grader.grade(line: line, lineNumber: offset + 1, fileName: file)
            } catch let error as GSM8KError {
                throw GradeCommandError(description: error.description)  // a bad line, not a usage error
            }
            let answer = grade.answer.map { JSONString.quoted($0) } ?? "null"
            output += "{\"line\":\(offset + 1),\"answer\":\(answer),\"verdict\":\"\(grade.verdict.rawValue)\"}\n"
            if output.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(output.utf8))
                output = ""
            }
        }
    }
}

struct GradeCommandError: Error, CustomStringConvertible {
    let description: String
}
