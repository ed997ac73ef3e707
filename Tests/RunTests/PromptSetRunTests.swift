import Foundation
import GSM8K
import Testing
import TestSupport
@testable import Tokenizer

/// A run over a JSONL prompt set with LaTeX answers and a custom prompt template, end to
/// end: the coordinator and a worker process, the bundle, its verdicts and the report. Needs
/// no GSM8K.
@Suite(.serialized)
struct PromptSetRunTests {
    static let fixture = RunFixture.shared
    static let problemsFile = TestEnvironment.fixtures("grading").appendingPathComponent("latex_problems.jsonl").path
    static let templateFile = TestEnvironment.fixtures("grading").appendingPathComponent("prompt_template.txt").path
    let scratch = TemporaryDirectory("prompt-set-run")

    static func arguments(out: String, template: String = templateFile, problems: String = problemsFile) -> [String] {
        ["run", "--workers", "1", "--threads", "1", "--batch", "2",
         "--model", fixture.model, "--sae", fixture.sae, "--problems", "jsonl:\(problems)[0:3]",
         "--dataset-name", "tiny-math", "--id-field", "unique_id", "--answer-field", "answer",
         "--prompt-template", template,
         "--hookpoints", RunFixture.hookpoints.joined(separator: ","), "--max-new-tokens", "16", "--seed", "7",
         "--out", out, "--heartbeat-interval", "0.2", "--lease-seconds", "2"]
    }

    static func sha256(ofFile path: String) throws -> String {
        var digest = SHA256()
        digest.update(try Data(contentsOf: URL(fileURLWithPath: path)))
        return digest.hexDigest()
    }

    static func inferences(_ out: String) throws -> [[String: Any]] {
        try String(contentsOfFile: out + "/inferences.jsonl", encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func aJSONLRunRecordsIDsGoldPromptsAndVerdictsAndItsReportBuilds() throws {
        let out = scratch.file("out")
        let run = try ThinkLensProcess(Self.arguments(out: out), name: "jsonl run")
        try #require(run.wait() == 0, "\(run.log)")

        let rows = try Self.inferences(out)
        #expect(rows.map { $0["id"] as? String } == ["tiny-math:test/algebra/1.json", "tiny-math:test/algebra/2.json", "tiny-math:test/prealgebra/3.json"])
        #expect(rows.map { $0["split"] as? String } == ["tiny-math", "tiny-math", "tiny-math"])
        #expect(rows.map { $0["index"] as? Int } == [0, 1, 2])
        #expect(rows.map { $0["gold"] as? String } == ["2\\sqrt{3}", "(3, 2)", "\\frac{3}{4}"], "a boxed gold is unwrapped")

        let problems = try JSONLPromptSet(path: Self.problemsFile, name: "tiny-math", answerField: "answer", idField: "unique_id").load()
        let template = try String(contentsOfFile: Self.templateFile, encoding: .utf8)
        let tokenizer = try BPETokenizer.load(modelDirectoryOrFile: Self.fixture.model)
        for (row, problem) in zip(rows, problems) {
            let expectedPrompt = tokenizer.encode(template.replacingOccurrences(of: "{question}", with: problem.question))
            #expect((row["prompt_ids"] as? [Int])?.map(Int32.init) == expectedPrompt, "the template's prompt, for \(problem.id)")
            let text = try #require(row["text"] as? String)
            let check = problem.check(modelOutput: text)
            #expect(row["verdict"] as? String == check.verdict.rawValue, "the LaTeX checker's verdict on the text, for \(problem.id)")
            #expect(row["answer"] as? String == check.answer)
        }

        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as? [String: Any])
        let dataset = try #require(manifest["dataset"] as? [String: Any])
        #expect(dataset["name"] as? String == "tiny-math")
        #expect(dataset["sha256"] as? String == (try Self.sha256(ofFile: Self.problemsFile)))
        #expect(dataset["id_field"] as? String == "unique_id")
        let prompt = try #require(manifest["prompt_format"] as? [String: Any])
        #expect(prompt["template"] as? String == template)
        #expect(prompt["template_sha256"] as? String == (try Self.sha256(ofFile: Self.templateFile)))

        let report = try ThinkLensProcess(["report", out], name: "report")
        try #require(report.wait() == 0, "\(report.log)")
        let list = try String(contentsOfFile: out + "/report/problems.html", encoding: .utf8)
        #expect(list.contains("tiny-math:test/algebra/1.json"))
        let pages = try FileManager.default.contentsOfDirectory(atPath: out + "/report/problems")
        #expect(pages.count == 3, "one page per problem: \(pages)")
    }

    @Test func resumingWithAnotherTemplateIsRefused() throws {
        let out = scratch.file("out")
        let first = try ThinkLensProcess(Self.arguments(out: out), name: "first")
        try #require(first.wait() == 0, "\(first.log)")
        let otherTemplate = scratch.file("other-template.txt")
        try "<｜User｜>{question}<｜Assistant｜>".write(toFile: otherTemplate, atomically: true, encoding: .utf8)
        let second = try ThinkLensProcess(Self.arguments(out: out, template: otherTemplate), name: "second")
        #expect(second.wait() != 0)
        #expect(second.log.contains("records a run with different settings"), "\(second.log)")
    }

    @Test func resumingWithADatasetFileOfOtherBytesIsRefused() throws {
        let out = scratch.file("out")
        let copy = scratch.file("problems.jsonl")
        try FileManager.default.copyItem(atPath: Self.problemsFile, toPath: copy)
        let first = try ThinkLensProcess(Self.arguments(out: out, problems: copy), name: "first")
        try #require(first.wait() == 0, "\(first.log)")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: copy))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"problem": "One more?", "answer": "1", "unique_id": "x"}"#.utf8) + Data([10]))
        try handle.close()
        let second = try ThinkLensProcess(Self.arguments(out: out, problems: copy), name: "second")
        #expect(second.wait() != 0)
        #expect(second.log.contains("records a run with different settings") && second.log.contains("sha256"), "\(second.log)")
    }
}
