import FuzzSupport
import Foundation
import GSM8K

/// What a run reads from a model and a prompt set: `AnswerChecker.verdict(modelOutput:writtenGold:)`
/// on a (model output, gold) pair split at the input's first NUL byte (the whole input is the
/// output when there is none), `ResponseGrader` and `JSONLPromptSet.parse` on the input as a
/// file. The checker runs inside the coordinator on every output, and an output that crashed it
/// would crash it again on every resume (the seeded rerun writes the same text).
/// Invariants: no crash; an answer exactly when the verdict is not `none` (a gold exists);
/// an answer compared with itself as gold is correct; a prompt set's ids carry its name and its
/// indices count its problems.
@main struct FuzzAnswer {
    static func main() { runFuzzer(fuzzAnswer) }
}

func fuzzAnswer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let split = bytes.firstIndex(of: 0) ?? size
    let output = String(decoding: bytes[..<split], as: UTF8.self)
    let gold = split < size ? String(decoding: bytes[(split + 1)...], as: UTF8.self) : ""
    verdicts(output: output, gold: gold)
    reflexive(output)
    promptSet(Data(bytes))
    grader(String(decoding: bytes, as: UTF8.self))
    return 0
}

private func verdicts(output: String, gold: String) {
    let result = AnswerChecker.verdict(modelOutput: output, writtenGold: gold)
    check((result.answer == nil) == (result.verdict == .none),
          "output \(output.debugDescription) gold \(gold.debugDescription): answer \(result.answer.debugDescription) with verdict \(result.verdict)")
}

/// A boxed answer is equal to itself written as the gold (when the gold reads back as that
/// answer: no "####", which makes a GSM8K gold, and no \boxed inside, which the gold unwraps).
private func reflexive(_ text: String) {
    guard !text.contains("####"), !text.contains("\\boxed"), text.utf8.count < 2000,
          let boxed = AnswerChecker.extractBoxed("\\boxed{\(text)}"), boxed == text.trimmingCharacters(in: .whitespacesAndNewlines),
          !boxed.isEmpty
    else { return }
    let result = AnswerChecker.verdict(modelOutput: "\\boxed{\(text)}", writtenGold: text)
    check(result.verdict == .correct, "\\boxed{\(text.debugDescription)} against itself as gold is \(result.verdict)")
}

private func promptSet(_ data: Data) {
    let set = JSONLPromptSet(path: "fuzz.jsonl", name: "fuzz")
    guard let problems = try? set.parse(data) else { return }
    check(!problems.isEmpty, "a prompt set parses to no problems")
    for (i, problem) in problems.enumerated() {
        check(problem.index == i && problem.id == "fuzz:\(i)" && problem.split == "fuzz",
              "problem \(i) of a prompt set is \(problem.id) at index \(problem.index)")
        let result = problem.check(modelOutput: problem.question)
        if problem.gold == nil { check(result.verdict == .none, "no gold but verdict \(result.verdict)") }
    }
}

private func grader(_ text: String) {
    let grader = ResponseGrader()
    for (n, line) in text.split(separator: "\n").prefix(8).enumerated() {
        guard let grade = try? grader.grade(line: line, lineNumber: n + 1, fileName: "fuzz.jsonl") else { continue }
        check((grade.answer == nil) == (grade.verdict == .none), "line \(n + 1): answer \(grade.answer.debugDescription) with verdict \(grade.verdict)")
    }
}
