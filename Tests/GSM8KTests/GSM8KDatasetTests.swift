import Foundation
import GSM8K
import Testing
import TestSupport

@Suite struct GSM8KDatasetTests {
    func parse(_ text: String) throws -> [GSM8KProblem] {
        try GSM8KDataset.parse(Data(text.utf8), split: .train, fileName: "train.jsonl")
    }

    func errorText(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "parsed without error"
        } catch {
            return "\(error)"
        }
    }

    let good = #"{"question": "Tom has 3 apples and buys 2. How many?", "answer": "3+2=<<3+2=5>>5\n#### 5"}"#

    @Test func readsProblemsWithStableIDsAndGold() throws {
        let problems = try parse(good + "\n" + #"{"question": "Q2", "answer": "x\n#### 1,080"}"# + "\n")
        #expect(problems.count == 2)
        #expect(problems[0].id == "gsm8k:train:0")
        #expect(problems[1].id == "gsm8k:train:1")
        #expect(problems[0].gold == "5")
        #expect(problems[1].gold == "1080")
    }

    @Test func badJSONNamesItsLine() {
        #expect(errorText(good + "\n" + good + "\n{\"question\": oops}\n").contains("train.jsonl line 3: not valid JSON"))
    }

    @Test func missingFieldNamesItsLineAndField() {
        let message = errorText(good + "\n" + #"{"question": "no answer"}"#)
        #expect(message.contains("line 2") && message.contains("\"answer\""), "\(message)")
    }

    @Test func answerWithoutGoldMarkerIsAnError() {
        #expect(errorText(#"{"question": "q", "answer": "no marker"}"#).contains("line 1: \"answer\" has no final \"#### <number>\""))
    }

    @Test func missingDirectoryTellsWhatToSet() {
        #expect(throws: GSM8KError.self) { try GSM8KDataset.locate(explicitDirectory: nil, environment: [:]) }
        let fromEnvironment = try? GSM8KDataset.locate(explicitDirectory: nil, environment: ["THINKLENS_GSM8K_DIR": "/d"])
        #expect(fromEnvironment?.directory == "/d")
        let explicit = try? GSM8KDataset.locate(explicitDirectory: "/x", environment: ["THINKLENS_GSM8K_DIR": "/d"])
        #expect(explicit?.directory == "/x")
    }

    @Test func missingSplitFileIsNamed() {
        do {
            _ = try GSM8KDataset(directory: "/nonexistent-gsm8k").load(split: .test)
            Issue.record("loaded a missing file")
        } catch {
            #expect("\(error)".contains("/nonexistent-gsm8k/test.jsonl"))
        }
    }

    @Test(.enabled(if: TestEnvironment.available(TestEnvironment.gsm8kVariable), "needs THINKLENS_GSM8K_DIR (fails in CI when missing)"))
    func officialFilesHaveTheKnownRowCounts() throws {
        let dataset = try GSM8KDataset.locate(explicitDirectory: nil)
        let train = try dataset.load(split: .train)
        let test = try dataset.load(split: .test)
        #expect(train.count == 7473)
        #expect(test.count == 1319)
        #expect(train[0].gold == "72")
        #expect(test.allSatisfy { Double($0.gold) != nil })
    }
}

@Suite struct ProblemSelectionTests {
    @Test func wholeSplit() throws {
        let selection = try ProblemSelection.parse("gsm8k:test")
        #expect(selection.split == .test)
        #expect(try selection.indices(splitCount: 5) == [0, 1, 2, 3, 4])
    }

    @Test(arguments: [
        ("gsm8k:train[0:3]", [0, 1, 2]),
        ("gsm8k:train[:2]", [0, 1]),
        ("gsm8k:train[8:]", [8, 9]),
        ("gsm8k:train[-2:]", [8, 9]),
        ("gsm8k:train[5:10]", [5, 6, 7, 8, 9]),
        ("gsm8k:train[-10:3]", [0, 1, 2]),
        ("gsm8k:train[1,5,9]", [1, 5, 9]),
        ("gsm8k:train[0:2, 7]", [0, 1, 7]),
        ("gsm8k:train:4", [4]),
        ("gsm8k:train[3,3]", [3]),
    ])
    func slicesAndIndexLists(text: String, expected: [Int]) throws {
        #expect(try ProblemSelection.parse(text).indices(splitCount: 10) == expected)
    }

    @Test(arguments: ["gsm8k:dev", "squad:train", "gsm8k:train[1:2:3]", "gsm8k:train[a]", "gsm8k:train[1,]", "gsm8k:train(0:3)"])
    func malformedSelectionsAreErrors(text: String) {
        #expect(throws: GSM8KError.self) { try ProblemSelection.parse(text) }
    }

    @Test(arguments: ["gsm8k:train[7:11]", "gsm8k:train[11:]", "gsm8k:train[-11:]", "gsm8k:train[:12]"])
    func aSliceBoundOutsideTheSplitIsAnErrorLikeAnIndex(text: String) throws {
        let selection = try ProblemSelection.parse(text)
        #expect(throws: GSM8KError.self) { try selection.indices(splitCount: 10) }
    }

    @Test func indexOutsideTheSplitIsAnError() throws {
        let selection = try ProblemSelection.parse("gsm8k:test[12]")
        #expect(throws: GSM8KError.self) { try selection.indices(splitCount: 10) }
    }

    @Test func seededSampleIsStableSortedAndWithoutRepeats() throws {
        let selection = try ProblemSelection.parse("gsm8k:train").sampling(32, seed: 1)
        let first = try selection.indices(splitCount: 7473)
        let second = try selection.indices(splitCount: 7473)
        #expect(first == second)
        #expect(first.count == 32)
        #expect(Set(first).count == 32)
        #expect(first == first.sorted())
        let otherSeed = try ProblemSelection.parse("gsm8k:train").sampling(32, seed: 2).indices(splitCount: 7473)
        #expect(otherSeed != first)
    }

    @Test func sampleDrawsFromTheSlice() throws {
        let indices = try ProblemSelection.parse("gsm8k:test[100:200]").sampling(10, seed: 7).indices(splitCount: 1319)
        #expect(indices.allSatisfy { (100..<200).contains($0) })
    }

    @Test func sampleLargerThanSelectionIsAnError() throws {
        let selection = try ProblemSelection.parse("gsm8k:test[0:4]").sampling(5, seed: 1)
        #expect(throws: GSM8KError.self) { try selection.indices(splitCount: 100) }
    }

    @Test func problemIDsNameSplitAndIndex() {
        #expect(GSM8KProblem.id(split: .test, index: 17) == "gsm8k:test:17")
    }
}

@Suite struct GSM8KFieldTests {
    @Test func wrongFieldTypeNamesTheField() {
        do {
            _ = try GSM8KDataset.parse(Data("{\"question\": 5, \"answer\": \"#### 1\"}".utf8), split: .test, fileName: "test.jsonl")
            Issue.record("parsed a number as a question")
        } catch {
            #expect("\(error)".contains("test.jsonl line 1: field \"question\" is not a string"))
        }
    }

    @Test func leadingByteOrderMarkInAQuestionIsKept() throws {
        let line = "{\"question\": \"\u{FEFF}Q\", \"answer\": \"#### 1\"}"
        let problems = try GSM8KDataset.parse(Data(line.utf8), split: .test, fileName: "test.jsonl")
        #expect(problems.first?.question.unicodeScalars.first == "\u{FEFF}")
    }
}
