import Experiment
import Foundation
import Protocol
import ResultBundle
import Testing
@testable import Coordinator

/// A small cluster driven to the end of a run: scripted honest and faulty workers, the
/// coordinator's machine, and a stand-in for the journal that keeps results by problem id
/// (what `RunStore` does for the machine's commits, replacements and records).
struct ClusterSimulation {
    typealias F = MachineFixture
    var machine: CoordinatorStateMachine
    /// Peers whose SAE activations are one ulp off, as from a faulty kernel.
    let faulty: Set<[UInt8]>
    var journal: [String: CommittedTask] = [:]
    var records: [VerificationRecord] = []
    var rejected: Set<[UInt8]> = []
    var joined: [[UInt8]] = []
    var now = 0.0

    init(_ configuration: CoordinatorConfiguration, faulty: Set<[UInt8]> = []) throws {
        machine = try F.machine(configuration)
        self.faulty = faulty
    }

    mutating func join(_ peer: [UInt8], credit: Int = 1) {
        F.join(&machine, peer, credit: credit, now: now)
        joined.append(peer)
    }

    /// One pass: tick, every assigned worker delivers its result and grants the credit back,
    /// then the group commit. Returns the assignments of the pass.
    @discardableResult
    mutating func step() -> [(peer: [UInt8], assign: Assign)] {
        now += 1
        for peer in joined where !rejected.contains(peer) {
            perform(machine.received(.heartbeat(Heartbeat(sequence: UInt64(now))), from: peer, now: now))
        }
        let ticked = machine.tick(now: now)
        perform(ticked)
        let given = assigns(ticked).filter { !rejected.contains($0.peer) }
        for (peer, assign) in given {
            var chunks = F.chunks(for: assign)
            if faulty.contains(peer) {
                for i in chunks.indices { chunks[i].activations = chunks[i].activations.map { $0.nextUp } }
            }
            for chunk in chunks { perform(machine.received(.latentChunk(chunk), from: peer, now: now)) }
            perform(machine.received(.taskDone(F.done(for: assign)), from: peer, now: now))
            perform(machine.received(.credit(Credit(count: 1)), from: peer, now: now))
        }
        let batch = machine.takePendingCommits()
        let outcomes: [RunStore.CommitOutcome] = batch.map { entry in
            let id = entry.committed.record.id
            guard let first = journal[id] else {
                journal[id] = entry.committed
                return .committed
            }
            return first == entry.committed ? .duplicateIdentical : .duplicateDifferent
        }
        perform(machine.committed(batch, outcomes: outcomes, now: now))
        return given
    }

    mutating func runToEnd(maxSteps: Int = 200) {
        var steps = 0
        while !machine.isFinished && steps < maxSteps {
            step()
            steps += 1
        }
    }

    mutating func perform(_ actions: [CoordinatorStateMachine.Action]) {
        for action in actions {
            switch action {
            case .recordVerification(let record): records.append(record)
            case .replaceResult(let result, _): journal[result.record.id] = result
            case .sendBestEffort(.reject, let peer): rejected.insert(peer)
            default: break
            }
        }
    }

    func events(of problem: String) -> [VerificationRecord.Event] {
        records.filter { $0.problem == problem }.map(\.event)
    }
}

@Suite struct CrossCheckSelectionTests {
    let ids = (0..<10_000).map { "gsm8k:train:\($0)" }

    @Test func aFractionOfZeroChecksNothingAndOneChecksEverything() {
        #expect(!ids.contains { CrossCheck.isSelected($0, seed: 1, fraction: 0) })
        #expect(ids.allSatisfy { CrossCheck.isSelected($0, seed: 1, fraction: 1) })
    }

    @Test func aboutTheFractionOfProblemsIsSelected() {
        let chosen = ids.filter { CrossCheck.isSelected($0, seed: 3, fraction: 0.05) }.count
        // Binomial(10,000, 0.05): mean 500, standard deviation 21.8.
        #expect((435...565).contains(chosen), "\(chosen) of 10,000 selected at 0.05")
    }

    @Test func theSelectionDependsOnTheSeedAndTheProblemOnly() {
        let once = ids.filter { CrossCheck.isSelected($0, seed: 3, fraction: 0.05) }
        let reversed = ids.reversed().filter { CrossCheck.isSelected($0, seed: 3, fraction: 0.05) }
        let otherSeed = ids.filter { CrossCheck.isSelected($0, seed: 4, fraction: 0.05) }
        #expect(Set(once) == Set(reversed))
        #expect(Set(once) != Set(otherSeed))
    }
}

/// `--verify-fraction`: a second run on another worker, a third to decide, quarantine.
@Suite struct CrossCheckMachineTests {
    typealias F = MachineFixture
    let a: [UInt8] = [1], b: [UInt8] = [2], c: [UInt8] = [3]

    static func configuration(problems: Int, fraction: Double = 1) -> CoordinatorConfiguration {
        var c = F.configuration(problems: problems)
        c.verifyFraction = fraction
        return c
    }

    @Test func withoutAFractionNothingRunsTwice() throws {
        var sim = try ClusterSimulation(Self.configuration(problems: 3, fraction: 0))
        sim.join(a)
        sim.join(b)
        var runs = 0
        for _ in 0..<10 where !sim.machine.isFinished { runs += sim.step().count }
        #expect(sim.machine.isFinished)
        #expect(runs == 3)
        #expect(sim.records.isEmpty)
        #expect(sim.machine.manifest().verification == nil)
    }

    @Test func aCheckRunsOnAnotherWorkerThanTheFirstResultAndMatches() throws {
        var sim = try ClusterSimulation(Self.configuration(problems: 1))
        sim.join(a)
        #expect(sim.step().map(\.peer) == [a])
        sim.join(b)
        let check = sim.step()
        #expect(check.map(\.peer) == [b], "the check goes to b, not to a which ran the problem")
        #expect(check.first?.assign.problemID == "gsm8k:test:0")
        #expect(sim.events(of: "gsm8k:test:0") == [.match])
        #expect(sim.records.first?.workers == ["w1@host", "w2@host"])
        #expect(sim.machine.isFinished)
        #expect(sim.machine.progress.done == 1, "a check is not a second result")
    }

    @Test func aWorkerThatDisagreesWithTwoOthersIsQuarantinedAndItsResultsRunAgain() throws {
        // b is faulty. a commits problem 0, b problem 1; b's check of 0 disagrees, c decides.
        var sim = try ClusterSimulation(Self.configuration(problems: 2), faulty: [b])
        sim.join(a)
        sim.join(b)
        sim.join(c)
        sim.runToEnd()
        #expect(sim.machine.isFinished)
        #expect(sim.machine.quarantinedWorkers == ["w2@host"])
        #expect(sim.records.contains { $0.event == .resolved && $0.oddWorker == "w2@host" })
        #expect(sim.rejected == [b])
        // Whatever b committed was run again and replaced: the journal holds honest results only.
        var honest = try ClusterSimulation(Self.configuration(problems: 2, fraction: 0))
        honest.join(a)
        honest.runToEnd()
        #expect(sim.journal == honest.journal)
        #expect(sim.machine.failedProblems.isEmpty)
    }

    @Test func whenTheFirstResultIsTheOddOneTheThirdReplacesIt() throws {
        var sim = try ClusterSimulation(Self.configuration(problems: 1), faulty: [a])
        sim.join(a)
        sim.step()                      // a commits a wrong result
        sim.join(b)
        sim.step()                      // b's check disagrees
        #expect(sim.events(of: "gsm8k:test:0") == [.mismatch])
        sim.join(c)
        sim.runToEnd()
        #expect(sim.events(of: "gsm8k:test:0") == [.mismatch, .resolved])
        #expect(sim.records.last?.oddWorker == "w1@host")
        #expect(sim.machine.quarantinedWorkers == ["w1@host"])
        var honest = try ClusterSimulation(Self.configuration(problems: 1, fraction: 0))
        honest.join(b)
        honest.runToEnd()
        #expect(sim.journal == honest.journal)
    }

    @Test func aQuarantinedWorkerIsRefusedWhenItSaysHelloAgain() throws {
        var sim = try ClusterSimulation(Self.configuration(problems: 1), faulty: [a])
        sim.join(a)
        sim.join(b)
        sim.join(c)
        sim.runToEnd()
        let again = sim.machine.received(F.hello("w1"), from: [9], now: sim.now)
        let reject = again.compactMap { if case .sendBestEffort(.reject(let r), _) = $0 { return r.reason } else { return nil } }
        #expect(reject.first?.contains("quarantined") == true)
    }

    @Test func threeDifferentResultsLeaveTheFirstAndQuarantineNobody() throws {
        var sim = try ClusterSimulation(Self.configuration(problems: 1), faulty: [b])
        sim.join(a)
        sim.step()
        sim.join(b)
        sim.step()
        // c is faulty differently: it sends activations two ulps up.
        sim.join(c)
        sim.now += 1
        let ticked = sim.machine.tick(now: sim.now)
        let third = try #require(assigns(ticked).first { $0.peer == c }?.assign)
        for var chunk in F.chunks(for: third) {
            chunk.activations = chunk.activations.map { $0.nextUp.nextUp }
            _ = sim.machine.received(.latentChunk(chunk), from: c, now: sim.now)
        }
        sim.perform(sim.machine.received(.taskDone(F.done(for: third)), from: c, now: sim.now))
        #expect(sim.events(of: "gsm8k:test:0") == [.mismatch, .unresolved])
        #expect(sim.machine.quarantinedWorkers.isEmpty)
        #expect(sim.machine.isFinished)
    }

    @Test func aCheckNoOtherWorkerCanRunIsSkippedAfterALeaseSoTheRunEnds() throws {
        var sim = try ClusterSimulation(Self.configuration(problems: 1))
        sim.join(a)
        sim.step()
        #expect(!sim.machine.isFinished, "the check waits for another worker")
        for _ in 0..<50 { sim.step() }
        #expect(!sim.machine.isFinished, "50 s: still within the 60 s a run waits for workers")
        for _ in 0..<15 { sim.step() }  // a heartbeats alone all along
        #expect(sim.events(of: "gsm8k:test:0") == [.skipped])
        #expect(sim.machine.isFinished)
    }

    @Test func theManifestListsTheChecksInProblemOrderWithoutTimes() throws {
        var sim = try ClusterSimulation(Self.configuration(problems: 3))
        sim.join(a)
        sim.join(b)
        sim.runToEnd()
        let verification = try #require(sim.machine.manifest().verification)
        #expect(verification["matches"]?.intValue == 3)
        #expect(verification["fraction"]?.doubleValue == 1)
        let problems = verification["checks"]?.arrayValue?.compactMap { $0["problem"]?.stringValue }
        #expect(problems == ["gsm8k:test:0", "gsm8k:test:1", "gsm8k:test:2"])
        #expect(verification["checks"]?.arrayValue?.allSatisfy { $0["workers"] == nil } == true,
                "which worker ran a check is run.json's business, not the manifest's")
    }

    @Test func aRestartRunsTheChecksAnEarlierStartLeftOpenAndKeepsItsQuarantines() throws {
        var configuration = Self.configuration(problems: 2)
        var sim = try ClusterSimulation(configuration)
        sim.join(a, credit: 2)
        sim.runToEnd(maxSteps: 1)       // both problems committed by a, no check yet
        #expect(sim.journal.count == 2)
        configuration.verifyFraction = 1
        let earlier = [VerificationRecord(problem: "gsm8k:test:0", event: .match, workers: ["w1@host", "w2@host"]),
                       VerificationRecord(problem: "gsm8k:test:1", event: .resolved, workers: ["w1@host", "w5@host", "w2@host"],
                                          oddWorker: "w5@host")]
        let journal = sim.journal
        var restarted = try CoordinatorStateMachine(
            configuration: configuration, committedIDs: Set(journal.keys), earlierFailures: [:],
            verificationRecords: earlier + [VerificationRecord(problem: "gsm8k:test:1", event: .mismatch, workers: ["w1@host", "w2@host"])],
            committedResult: { _, id in journal[id]! }, runID: "again", now: 0)
        _ = restarted.listening(on: "tcp://127.0.0.1:5555", now: 0)
        F.join(&restarted, a, credit: 4)
        let runs = assigns(restarted.tick(now: 1))
        #expect(runs.map(\.assign.problemID) == ["gsm8k:test:1"], "problem 0's check is done; problem 1's was left open by a later mismatch")
        let refused = restarted.received(F.hello("w5"), from: [5], now: 1)
        #expect(refused.contains { if case .sendBestEffort(.reject, _) = $0 { return true } else { return false } })
    }
}

/// The cross-check decisions alone, in orders the cluster produces when checks overlap.
@Suite struct CrossCheckDecisionTests {
    typealias F = MachineFixture
    static let ids = ["gsm8k:test:0", "gsm8k:test:1"]

    /// A result of problem `index`; `faulty` ones have their activations one ulp off.
    static func result(_ index: Int, faulty: Bool = false) -> CommittedTask {
        let record = ProblemRecord(id: ids[index], split: "test", index: index, question: "q", gold: "1", promptIDs: [1],
                                   generatedIDs: [2, 3], text: "t", stop: .eos, answer: nil, verdict: .none, thinkEnd: nil)
        let activation: Float = faulty ? Float(2).nextUp : 2
        let rows = LatentRows(k: 1, positions: [1, 2], tokens: [2, 3], indices: [4, 5], activations: [activation, 1], record: record)
        return CommittedTask(record: record, latents: [F.hookpoint.name: rows])
    }

    static func queued(_ decisions: [CrossCheck.Decision]) -> [CrossCheck.Run] {
        decisions.compactMap { if case .queue(let run) = $0 { return run } else { return nil } }
    }

    /// Found by the multi-process test: a faulty worker's second result was rerun (its worker
    /// quarantined by another check) while its own check's third run was still out; the third
    /// run was then compared with the rerun's result and an honest worker was quarantined.
    @Test func aThirdRunIsComparedWithTheTwoResultsInDisputeNotWithAReplacementMadeMeanwhile() {
        var check = CrossCheck(fraction: 1, seed: 0, problemIDs: Self.ids)
        let verify0 = Self.queued(check.committed(0, by: "faulty", result: Self.result(0, faulty: true)))[0]
        let verify1 = Self.queued(check.committed(1, by: "faulty", result: Self.result(1, faulty: true)))[0]
        let tiebreak0 = Self.queued(check.finished(verify0, by: "honest1", result: Self.result(0)))[0]
        let afterQuarantine = check.finished(tiebreak0, by: "honest2", result: Self.result(0))
        #expect(afterQuarantine.contains(.quarantine("faulty")))
        let rerun1 = Self.queued(afterQuarantine).first { $0.problem == 1 }!
        let tiebreak1 = Self.queued(check.finished(verify1, by: "honest1", result: Self.result(1)))[0]
        #expect(check.finished(rerun1, by: "honest1", result: Self.result(1)).contains(.replace(Self.result(1), task: 1)))
        let decided = check.finished(tiebreak1, by: "honest2", result: Self.result(1))
        #expect(check.quarantined == ["faulty"])
        #expect(check.records.last?.event == .resolved && check.records.last?.oddWorker == "faulty")
        #expect(!decided.contains { if case .replace = $0 { return true } else { return false } }, "already replaced by the rerun")
    }
}
