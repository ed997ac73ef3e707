import Experiment
import Foundation
import Protocol
import ResultBundle
import Testing
@testable import Coordinator

/// `--intervene`: every problem also runs under each condition, as tasks of their own.
@Suite struct InterventionMachineTests {
    typealias F = MachineFixture
    let a: [UInt8] = [1]
    static let ablate = InterventionCondition(name: "ablate-7", edits: [FeatureEdit(hookpoint: F.hookpoint.sae, feature: 7, operation: .ablate)])
    static let boost = InterventionCondition(name: "boost", edits: [FeatureEdit(hookpoint: F.hookpoint.sae, feature: 3, operation: .clamp(8))])

    static func configuration(problems: Int = 2, conditions: [InterventionCondition] = [ablate], latents: Bool = true) -> CoordinatorConfiguration {
        var c = F.configuration(problems: problems)
        c.conditions = conditions
        c.interventionLatents = latents
        return c
    }

    /// Runs every task to the end with one honest worker; returns the assigns and the commits.
    static func runToEnd(_ m: inout CoordinatorStateMachine, worker: [UInt8], hookpoints: Bool = true)
        -> (assigns: [Assign], commits: [CoordinatorStateMachine.PendingCommit]) {
        F.join(&m, worker, credit: 1)
        var given: [Assign] = [], commits: [CoordinatorStateMachine.PendingCommit] = []
        for step in 1...50 where !m.isFinished {
            for (_, assign) in assigns(m.tick(now: Double(step))) {
                given.append(assign)
                if assign.streamsLatents {
                    for chunk in F.chunks(for: assign) { _ = m.received(.latentChunk(chunk), from: worker, now: Double(step)) }
                }
                _ = m.received(.taskDone(F.done(for: assign)), from: worker, now: Double(step))
                _ = m.received(.credit(Credit(count: 1)), from: worker, now: Double(step))
            }
            let batch = m.takePendingCommits()
            commits += batch
            _ = m.committed(batch, outcomes: batch.map { _ in .committed }, now: Double(step))
        }
        return (given, commits)
    }

    @Test func everyProblemRunsOnceUnderTheBaselineAndOnceUnderEachConditionWithItsEdits() throws {
        var m = try F.machine(Self.configuration(conditions: [Self.ablate, Self.boost]))
        let (given, commits) = Self.runToEnd(&m, worker: a)
        #expect(m.isFinished)
        #expect(given.count == 6 && Set(given.map(\.taskID)).count == 6)
        for problem in ["gsm8k:test:0", "gsm8k:test:1"] {
            let edits = given.filter { $0.problemID == problem }.map(\.edits)
            #expect(edits.count == 3)
            #expect(edits.contains([]) && edits.contains(Self.ablate.edits) && edits.contains(Self.boost.edits))
        }
        #expect(commits.map(\.condition).sorted() == [0, 0, 1, 1, 2, 2])
        for commit in commits {
            #expect(commit.committed.record.id == given.first { $0.taskID == UInt64(commit.task) }?.problemID, "a condition's result is filed under its problem's id")
        }
        #expect(m.progress.total == 6 && m.progress.done == 6)
    }

    @Test func aConditionsManifestNamesItsEditsAndTheBaselinesDoesNot() throws {
        var m = try F.machine(Self.configuration())
        _ = Self.runToEnd(&m, worker: a)
        #expect(m.manifest().intervention == nil)
        let intervention = try #require(m.manifest(condition: 1).intervention)
        #expect(intervention["name"]?.stringValue == "ablate-7")
        #expect(intervention["edits"]?.arrayValue?.first?["text"]?.stringValue == "layers.1.mlp:7:ablate")
        #expect(m.manifest(condition: 1).hookpoints == m.manifest().hookpoints)
    }

    @Test func withoutConditionLatentsAConditionsTasksStreamNone() throws {
        var m = try F.machine(Self.configuration(latents: false))
        let (given, commits) = Self.runToEnd(&m, worker: a)
        // Every task captures the run's hookpoints (a batch shares one capture set); only the
        // baseline's stream their latents.
        #expect(given.allSatisfy { $0.hookpoints == [F.hookpoint] })
        #expect(given.filter { !$0.edits.isEmpty }.allSatisfy { !$0.streamsLatents })
        #expect(given.filter { $0.edits.isEmpty }.allSatisfy { $0.streamsLatents })
        #expect(commits.filter { $0.condition == 1 }.allSatisfy { $0.committed.latents.isEmpty })
        #expect(m.manifest(condition: 1).hookpoints.isEmpty)
        #expect(m.isFinished)
    }

    @Test func aRestartRunsOnlyTheConditionTasksNotYetCommitted() throws {
        var m = try CoordinatorStateMachine(
            configuration: Self.configuration(), committedIDs: ["gsm8k:test:0", "gsm8k:test:1"], earlierFailures: [:],
            conditionCommittedIDs: [["gsm8k:test:1"]], runID: "again", now: 0)
        _ = m.listening(on: "tcp://127.0.0.1:5555", now: 0)
        let (given, _) = Self.runToEnd(&m, worker: a)
        #expect(given.count == 1)
        #expect(given.first?.problemID == "gsm8k:test:0" && given.first?.edits == Self.ablate.edits)
    }

    @Test func aConditionTaskOutOfAttemptsIsRecordedInItsConditionsJournal() throws {
        var configuration = Self.configuration(problems: 1)
        configuration.maxAttempts = 1
        var m = try F.machine(configuration)
        F.join(&m, a, credit: 2)
        var recorded: [(String, Int)] = []
        for (_, assign) in assigns(m.tick(now: 1)) where !assign.edits.isEmpty {
            _ = m.received(.taskFailed(TaskFailed(taskID: assign.taskID, attempt: assign.attempt, reason: "boom", handedBack: false)), from: a, now: 1)
        }
        for action in m.tick(now: 2) + m.recordNewFailures() {
            if case .recordFailure(let entry, let condition) = action { recorded.append((entry.id, condition)) }
        }
        #expect(recorded.count == 1 && recorded.first?.0 == "gsm8k:test:0" && recorded.first?.1 == 1)
        #expect(m.failedProblems.keys.sorted() == ["ablate-7/gsm8k:test:0"])
        #expect(m.manifest(condition: 1).failed.map(\.id) == ["gsm8k:test:0"])
        #expect(m.manifest().failed.isEmpty)
    }

    @Test func aWorkerWithoutTheSAEAnEditNeedsIsRejected() throws {
        var configuration = Self.configuration(conditions: [InterventionCondition(
            name: "deep", edits: [FeatureEdit(hookpoint: "layers.2.mlp", feature: 1, operation: .ablate)])])
        configuration.saes["layers.2.mlp"] = RunManifest.SAE(cfg: .object([:]), fingerprint: "sae2-test")
        var m = try F.machine(configuration)
        let actions = m.received(F.hello("w1"), from: a, now: 0)
        let reasons = actions.compactMap { if case .sendBestEffort(.reject(let r), _) = $0 { return r.reason } else { return nil } }
        #expect(reasons.first?.contains("layers.2.mlp") == true)
    }
}
