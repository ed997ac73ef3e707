import Foundation
import GSM8K
import Testing
import TestSupport

/// JSONL prompt sets: `--problems jsonl:PATH[SLICE]` and the fields of each line.
@Suite struct JSONLPromptSetTests {
    func parse(_ text: String, _ set: JSONLPromptSet = JSONLPromptSet(path: "data/math500.jsonl")) throws -> [PromptSetProblem] {
        try set.parse(Data(text.utf8))
    }

    func error(_ text: String, _ set: JSONLPromptSet = JSONLPromptSet(path: "data/math500.jsonl")) -> String? {
        do {
            _ = try parse(text, set)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func idsAreTheFileBaseNameAndTheLineIndex() throws {
        let problems = try parse("{\"question\": \"q0\", \"answer\": \"1\"}\n\n{\"question\": \"q1\", \"answer\": \"2\"}\n")
        #expect(problems.map(\.id) == ["math500:0", "math500:1"])
        #expect(problems.map(\.split) == ["math500", "math500"])
        #expect(problems.map(\.index) == [0, 1])
    }

    @Test func datasetNameAndIDFieldMakeTheIDs() throws {
        let set = JSONLPromptSet(path: "x.jsonl", name: "MATH-500", idField: "unique_id")
        let problems = try parse(#"{"problem": "q", "answer": "1", "unique_id": "test/algebra/7.json"}"#, set)
        #expect(problems.map(\.id) == ["MATH-500:test/algebra/7.json"])
    }

    @Test func theQuestionFieldDefaultsToQuestionThenProblem() throws {
        #expect(try parse(#"{"problem": "from problem", "question": "from question"}"#).map(\.question) == ["from question"])
        #expect(try parse(#"{"problem": "from problem"}"#).map(\.question) == ["from problem"])
        let named = JSONLPromptSet(path: "f.jsonl", questionField: "prompt")
        #expect(try parse(#"{"prompt": "p"}"#, named).map(\.question) == ["p"])
    }

    @Test func goldAnswersAreTakenAsWrittenWithABoxUnwrappedAndGSM8KsMarkerRecognised() throws {
        let problems = try parse("""
            {"question": "a", "answer": "\\\\frac{3}{4}"}
            {"question": "b", "answer": "So it is $\\\\boxed{(1, -2)}$."}
            {"question": "c", "answer": "48 + 24 = 72\\n#### 72"}
            {"question": "d", "answer": 204}
            {"question": "e", "answer": 0.5}
            """)
        #expect(problems.map(\.gold) == [.latex("\\frac{3}{4}"), .latex("(1, -2)"), .number("72"), .latex("204"), .latex("0.5")])
    }

    @Test func withoutAnAnswerTheVerdictIsNone() throws {
        let problem = try #require(try parse(#"{"question": "q"}"#).first)
        #expect(problem.gold == nil)
        #expect(problem.check(modelOutput: "\\boxed{5}").verdict == .none)
        #expect(problem.check(modelOutput: "\\boxed{5}").answer == "5")
    }

    @Test func aLineThatIsNotJSONNamesFileAndLine() {
        #expect(error("{\"question\": \"q\"}\n{oops") == "data/math500.jsonl line 2: not a JSON object ({oops…); each line must be one object such as {\"question\": ..., \"answer\": ...}")
    }

    @Test func aMissingQuestionNamesTheFieldsTried() {
        #expect(error(#"{"answer": "1"}"#) == "data/math500.jsonl line 1: missing field \"question\" or \"problem\"; name the question's field with --question-field")
    }

    @Test func aNonStringQuestionSaysWhatItIs() {
        #expect(error(#"{"question": ["a"]}"#) == "data/math500.jsonl line 1: field \"question\" is an array or object, not a string")
    }

    @Test func aNamedAnswerFieldMustBeOnEveryLine() {
        let set = JSONLPromptSet(path: "f.jsonl", answerField: "solution")
        #expect(error(#"{"question": "q"}"#, set) == "f.jsonl line 1: missing field \"solution\" (named by --answer-field)")
    }

    @Test func aNamedIDFieldMustBeOnEveryLine() {
        let set = JSONLPromptSet(path: "f.jsonl", idField: "uid")
        #expect(error(#"{"question": "q"}"#, set) == "f.jsonl line 1: missing field \"uid\" (named by --id-field)")
    }

    @Test func anEmptyFileIsAnError() {
        #expect(error("\n\n") == "data/math500.jsonl: empty; expected one JSON object per line")
    }

    @Test func aMissingFileIsNamed() {
        let set = JSONLPromptSet(path: "/nonexistent/math500.jsonl")
        #expect(throws: GSM8KError.self) { try set.load() }
    }

    @Test func selectionsOfAJSONLFileUseGSM8KsGrammar() throws {
        let selection = try ProblemSelection.parse("jsonl:data/math[v2].jsonl[0:2,5]")
        #expect(selection.source == .jsonl(path: "data/math[v2].jsonl"))
        #expect(selection.split == nil)
        #expect(try selection.indices(splitCount: 10) == [0, 1, 5])
        #expect(try ProblemSelection.parse("jsonl:data/m.jsonl").indices(splitCount: 3) == [0, 1, 2])
        #expect(try ProblemSelection.parse("jsonl:data/m.jsonl").sampling(2, seed: 1).indices(splitCount: 3).count == 2)
    }

    @Test func aSliceOutsideTheFileNamesTheFile() throws {
        let selection = try ProblemSelection.parse("jsonl:data/m.jsonl[0:12]")
        #expect(throws: GSM8KError("problem selection \"jsonl:data/m.jsonl[0:12]\": slice bound 12 is outside jsonl:data/m.jsonl (10 problems: bounds run from -10 to 10; leave a bound out to mean the end)")) {
            try selection.indices(splitCount: 10)
        }
    }

    @Test func jsonlWithoutAFileIsAnError() {
        #expect(throws: GSM8KError.self) { try ProblemSelection.parse("jsonl:") }
    }
}
