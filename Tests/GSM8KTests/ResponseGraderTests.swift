import GSM8K
import Testing
import TestSupport

/// `thinklens grade`'s per-line reading: fields, verdicts and the errors for bad lines.
@Suite struct ResponseGraderTests {
    let grader = ResponseGrader()

    func grade(_ line: String) throws -> ResponseGrader.Grade {
        try grader.grade(line: Substring(line), lineNumber: 3, fileName: "outputs.jsonl")
    }

    func error(_ line: String, grader: ResponseGrader = ResponseGrader()) -> String? {
        do {
            _ = try grader.grade(line: Substring(line), lineNumber: 3, fileName: "outputs.jsonl")
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func gradesALaTeXGold() throws {
        let grade = try grade(#"{"gold": "\\frac{3}{4}", "response": "... so \\boxed{0.75}."}"#)
        #expect(grade == ResponseGrader.Grade(answer: "0.75", verdict: .correct))
    }

    @Test func gradesAGSM8KGoldNumerically() throws {
        let grade = try grade(#"{"gold": "48 + 24 = 72\n#### 72", "response": "\\boxed{\\$72.00}"}"#)
        #expect(grade == ResponseGrader.Grade(answer: "72", verdict: .correct))
    }

    @Test func aResponseWithoutABoxIsNone() throws {
        #expect(try grade(#"{"gold": "7", "response": "seven"}"#) == ResponseGrader.Grade(answer: nil, verdict: .none))
    }

    @Test func otherFieldNamesAreRead() throws {
        let grader = ResponseGrader(goldField: "answer", responseField: "output")
        let grade = try grader.grade(line: #"{"answer": "2", "output": "\\boxed{3}"}"#, lineNumber: 1, fileName: "f")
        #expect(grade.verdict == .wrong)
    }

    @Test func aLineThatIsNotJSONNamesFileAndLine() {
        #expect(error("not json")?.hasPrefix("outputs.jsonl line 3: not a JSON object") == true)
    }

    @Test func aMissingFieldNamesTheFieldAndTheOption() {
        #expect(error(#"{"response": "\\boxed{1}"}"#) == "outputs.jsonl line 3: missing field \"gold\" (name another with --gold-field)")
    }

    @Test func aNonStringFieldSaysWhatItIs() {
        #expect(error(#"{"gold": 7, "response": "\\boxed{7}"}"#) == "outputs.jsonl line 3: field \"gold\" is a number, not a string")
    }
}
