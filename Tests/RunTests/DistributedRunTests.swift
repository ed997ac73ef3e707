import ResultBundle
import SafeTensors
import Foundation
import Testing
@testable import Compute
import Coordinator
import Protocol
import TestSupport
import Tokenizer
import Transport

/// A `thinklens` process started by a test, with its stderr kept in a file that goes with the value.
final class ThinkLensProcess {
    static var binary: String {
        if let explicit = ProcessInfo.processInfo.environment["THINKLENS_BIN"] { return explicit }
        // The test bundle and the executable are built side by side.
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return dir.appendingPathComponent("thinklens").path
    }

    let process = Process()
    private let logDirectory: TemporaryDirectory
    let logPath: String

    init(_ arguments: [String], name: String, environment extra: [String: String] = [:]) throws {
        logDirectory = TemporaryDirectory("run-log")
        logPath = logDirectory.file("\(name).log")
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        environment.merge(extra) { $1 }
        process.environment = environment
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits for exit; kills the process and fails the test if it takes longer than `timeout`.
    @discardableResult
    func wait(timeout: Double = 120) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Issue.record("\(process.arguments?.first ?? "thinklens") did not finish within \(timeout) s; log:\n\(log)")
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func interrupt() { kill(process.processIdentifier, SIGINT) }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Multi-process runs over real ZeroMQ sockets on 127.0.0.1: the failure modes of a real
/// cluster (killed workers, a killed coordinator, a wrong model, garbage on the wire) must
/// all end in the same bundle as a clean run.
@Suite(.serialized, .enabled(if: TestEnvironment.available(TestEnvironment.gsm8kVariable),
                             "needs THINKLENS_GSM8K_DIR (scripts/test sets it; fails in CI when missing)"))
struct DistributedRunTests {
    static let problems = "gsm8k:train[0:4]"
    static let fixture = RunFixture.shared
    /// Each test's run directories (OUT is created by the run itself), removed after it.
    let scratch = TemporaryDirectory("run")

    static func settings(out: String, problems: String = problems, maxNewTokens: Int = 24) -> [String] {
        ["--model", fixture.model, "--sae", fixture.sae, "--problems", problems,
         "--hookpoints", RunFixture.hookpoints.joined(separator: ","), "--max-new-tokens", String(maxNewTokens), "--seed", "7",
         "--out", out, "--heartbeat-interval", "0.2", "--lease-seconds", "2"]
    }

    static func workerArguments(_ endpoint: String, id: String, model: String = fixture.model, delay: Double = 0, batch: Int = 2) -> [String] {
        ["worker", "--connect", endpoint, "--model", model, "--sae", fixture.sae, "--threads", "1", "--batch", String(batch),
         "--worker-id", id, "--give-up-after", "30", "--debug-step-delay", String(delay)]
    }

    /// The clean single-worker run every other scenario is compared with, made once per process.
    static let cleanRun: Result<String, Error> = Result {
        _ = try TestEnvironment.require(TestEnvironment.gsm8kVariable)
        let root = makeTemporaryDirectory("run-reference")
        removeAtExit(root)
        let out = root + "/out"
        let run = try ThinkLensProcess(["run", "--workers", "1", "--threads", "1", "--batch", "2"] + settings(out: out), name: "reference")
        let status = run.wait()
        guard status == 0 else { throw RunDataError(subject: "the reference run", reason: "failed with status \(status):\n\(run.log)") }
        return out
    }

    static func reference() throws -> String { try cleanRun.get() }

    /// Bundle files that must be byte-identical: everything but run.json and the coordinator's working state.
    static func bundleFiles(_ dir: String) -> [String] {
        let all = (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String]) ?? []
        return all.filter { path in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir + "/" + path, isDirectory: &isDir) && !isDir.boolValue
                && path != "run.json" && path != "run-settings.json" && !path.hasPrefix("journal")
        }.sorted()
    }

    static func expectSameBundle(_ dir: String, as reference: String, except skipped: Set<String> = [],
                                 sourceLocation: SourceLocation = #_sourceLocation) {
        let expected = bundleFiles(reference).filter { !skipped.contains($0) }
        let actual = bundleFiles(dir).filter { !skipped.contains($0) }
        #expect(actual == expected, "bundle files differ", sourceLocation: sourceLocation)
        #expect((expected.contains("manifest.json") || skipped.contains("manifest.json")) && expected.contains("inferences.jsonl"),
                sourceLocation: sourceLocation)
        for file in expected where actual.contains(file) {
            let a = FileManager.default.contents(atPath: dir + "/" + file)
            let b = FileManager.default.contents(atPath: reference + "/" + file)
            #expect(a == b, "\(file) differs from the reference run", sourceLocation: sourceLocation)
        }
    }

    static func coordinator(out: String, extra: [String] = [], problems: String = problems, maxNewTokens: Int = 24,
                            listen: String = "tcp://127.0.0.1:*") throws -> (ThinkLensProcess, String) {
        let process = try ThinkLensProcess(["coordinator", "--listen", listen] + settings(out: out, problems: problems, maxNewTokens: maxNewTokens) + extra, name: "coordinator")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let range = process.log.range(of: #"listening on (tcp://[0-9.]+:[0-9]+)"#, options: .regularExpression) {
                let endpoint = String(process.log[range].dropFirst("listening on ".count))
                return (process, endpoint)
            }
            if !process.process.isRunning { break }
            usleep(20_000)
        }
        throw RunDataError(subject: "coordinator", reason: "did not start listening:\n\(process.log)")
    }

    struct RunDataError: Error, CustomStringConvertible {
        let subject: String
        let reason: String
        var description: String { "\(subject): \(reason)" }
    }

    /// OUT's run.json, which says what happened during the coordinator's last start.
    static func runJSON(_ out: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as? [String: Any])
    }

    static func journal(_ out: String) -> String { out + "/journal/tasks.tlj" }

    /// The journal's size in bytes (0 before the coordinator creates it).
    static func journalSize(_ out: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: journal(out)))?[.size] as? Int) ?? 0
    }

    /// Waits until the journal holds a record (beyond its 16-byte header): a problem of the run
    /// is durable, and its worker is generating the next ones. False if `coordinator` exits or
    /// `timeout` seconds pass first.
    static func waitForFirstCommit(_ out: String, by coordinator: ThinkLensProcess, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while journalSize(out) <= 16 {
            if !coordinator.process.isRunning || Date() >= deadline { return journalSize(out) > 16 }
            usleep(20_000)
        }
        return true
    }

    // MARK: Scenarios

    @Test func aCleanRunWritesEveryProblemAndTable() throws {
        let reference = try Self.reference()
        let lines = try String(contentsOfFile: reference + "/inferences.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        for h in RunFixture.hookpoints {
            let latents = try SafeTensorsFile(path: "\(reference)/latents/\(h).safetensors")
            let rows = try latents.tensor("indices").shape
            #expect(rows.count == 2 && rows[1] == 8 && rows[0] > 0)
            #expect(FileManager.default.fileExists(atPath: "\(reference)/tables/\(h)/features.csv"))
        }
    }

    @Test func runJSONAccountsForTheTimeByPhase() throws {
        let run = try Self.runJSON(try Self.reference())
        let phases = run["phases"] as? [String: Any]
        let seconds = (run["seconds"] as? Double) ?? 0
        let coordinatorPhases = ["setup", "generation", "finalize"].compactMap { phases?[$0] as? Double }
        #expect(coordinatorPhases.count == 3 && coordinatorPhases.allSatisfy { $0 >= 0 })
        #expect(coordinatorPhases.reduce(0, +) <= seconds + 1e-6, "coordinator phases add up to at most the run: \(String(describing: phases))")
        let workerSeconds = phases?["worker_seconds"] as? [String: Double] ?? [:]
        #expect((workerSeconds["prefill"] ?? 0) > 0 && (workerSeconds["decode"] ?? 0) > 0 && (workerSeconds["encode"] ?? 0) > 0,
                "workers report prefill, decode and encode time: \(workerSeconds)")
        let workers = run["workers"] as? [[String: Any]] ?? []
        #expect(!workers.isEmpty && workers.allSatisfy { ($0["phase_seconds"] as? [String: Double])?["decode"] != nil })
    }

    @Test func threeWorkersGiveTheSameBundleAsOne() throws {
        let reference = try Self.reference()
        let out = scratch.file("three")
        let run = try ThinkLensProcess(["run", "--workers", "3", "--threads", "1", "--batch", "1"] + Self.settings(out: out), name: "three")
        #expect(run.wait() == 0, "\(run.log)")
        Self.expectSameBundle(out, as: reference)
    }

    @Test func everyLocalWorkerGetsAShareEvenWhenOneBatchWouldHoldEveryProblem() throws {
        let reference = try Self.reference()
        let out = scratch.file("share")
        // 4 problems, 4 slots per worker: without waiting for both, the first hello takes all.
        let run = try ThinkLensProcess(["run", "--workers", "2", "--threads", "1", "--batch", "4"] + Self.settings(out: out), name: "share")
        #expect(run.wait() == 0, "\(run.log)")
        let tasks = ((try Self.runJSON(out)["workers"] as? [[String: Any]]) ?? []).map { ($0["tasks"] as? Int) ?? 0 }
        #expect(tasks.sorted() == [2, 2], "tasks per worker: \(tasks)")
        Self.expectSameBundle(out, as: reference)
    }

    @Test func aKilledWorkersTaskIsFinishedElsewhere() throws {
        let reference = try Self.reference()
        let out = scratch.file("killed-worker")
        let (coordinator, endpoint) = try Self.coordinator(out: out)
        let doomed = try ThinkLensProcess(Self.workerArguments(endpoint, id: "doomed", delay: 0.02), name: "doomed")
        #expect(Self.waitForFirstCommit(out, by: coordinator), "the worker committed a problem:\n\(coordinator.log)")
        doomed.kill9()  // it now holds tasks mid-generation
        let survivor = try ThinkLensProcess(Self.workerArguments(endpoint, id: "survivor"), name: "survivor")
        #expect(coordinator.wait() == 0, "\(coordinator.log)")
        survivor.wait(timeout: 30)
        #expect(coordinator.log.contains("presumed dead") || coordinator.log.contains("disconnected"))
        let run = try Self.runJSON(out)
        #expect(((run["requeues"] as? Int) ?? 0) >= 1, "the killed worker's tasks were requeued: \(run)")
        Self.expectSameBundle(out, as: reference)
    }

    /// Runs with one slow worker taking a task at a time, stops the coordinator with `stop` once
    /// a problem is durable, lets `check` look at what the stop left, then reruns the same
    /// command on the same endpoint and expects the clean run's bundle.
    static func stopCoordinatorAndResume(_ out: String, stop: (ThinkLensProcess) -> Void,
                                         check: (_ first: ThinkLensProcess, _ out: String) -> Void) throws {
        let reference = try Self.reference()
        let (first, endpoint) = try Self.coordinator(out: out)
        let worker = try ThinkLensProcess(Self.workerArguments(endpoint, id: "steady", delay: 0.03, batch: 1), name: "steady")
        #expect(Self.waitForFirstCommit(out, by: first), "the worker committed a problem:\n\(first.log)")
        stop(first)
        check(first, out)
        let (second, _) = try Self.coordinator(out: out, listen: endpoint)
        #expect(second.wait() == 0, "\(second.log)")
        #expect(second.log.contains("resuming"))
        let run = try Self.runJSON(out)
        #expect(((run["resumed_problems"] as? Int) ?? 0) >= 1, "the second start took over the journal's problems: \(run)")
        worker.wait(timeout: 30)
        Self.expectSameBundle(out, as: reference)
    }

    @Test func aRestartedCoordinatorResumesToTheSameBundle() throws {
        try Self.stopCoordinatorAndResume(scratch.file("restart"), stop: { $0.kill9() }, check: { _, _ in })
    }

    @Test func anInterruptedCoordinatorExitsResumablyAndTheRerunCompletesTheBundle() throws {
        try Self.stopCoordinatorAndResume(scratch.file("sigint-coordinator"), stop: { $0.interrupt() }, check: { first, out in
            #expect(first.wait(timeout: 30) == 130, "an interrupted coordinator exits with 130:\n\(first.log)")
            #expect(first.log.contains("run the same command again to resume"))
            #expect(!FileManager.default.fileExists(atPath: out + "/manifest.json"), "no bundle is written for an unfinished run")
            #expect(Self.journalSize(out) > 16, "the committed problems stay in the journal")
        })
    }

    @Test func anInterruptedWorkerHandsItsTasksBackAtOnce() throws {
        let reference = try Self.reference()
        let out = scratch.file("sigint-worker")
        // A lease far longer than the test: only the hand-back can requeue the tasks in time.
        let (coordinator, endpoint) = try Self.coordinator(out: out, extra: ["--lease-seconds", "600"])
        let leaving = try ThinkLensProcess(Self.workerArguments(endpoint, id: "leaving", delay: 0.02), name: "leaving")
        #expect(Self.waitForFirstCommit(out, by: coordinator), "the worker committed a problem:\n\(coordinator.log)")
        leaving.interrupt()  // it now holds tasks mid-generation
        #expect(leaving.wait(timeout: 30) == 130, "an interrupted worker exits with 130:\n\(leaving.log)")
        let staying = try ThinkLensProcess(Self.workerArguments(endpoint, id: "staying"), name: "staying")
        #expect(coordinator.wait(timeout: 60) == 0, "\(coordinator.log)")
        staying.wait(timeout: 30)
        #expect(coordinator.log.contains("handed back"), "the coordinator logs the hand-back:\n\(coordinator.log)")
        let run = try Self.runJSON(out)
        #expect(((run["requeues"] as? Int) ?? 0) >= 1, "the handed-back tasks were requeued: \(run)")
        Self.expectSameBundle(out, as: reference)
    }

    @Test func aWorkerWithAnotherModelIsRejectedWhileTheRunCompletes() throws {
        let reference = try Self.reference()
        let out = scratch.file("mismatch")
        let (coordinator, endpoint) = try Self.coordinator(out: out)
        let stranger = try ThinkLensProcess(Self.workerArguments(endpoint, id: "stranger", model: Self.fixture.otherModel), name: "stranger")
        #expect(stranger.wait(timeout: 60) == 3, "a rejected worker exits with status 3:\n\(stranger.log)")
        #expect(stranger.log.contains("model fingerprint"))
        let good = try ThinkLensProcess(Self.workerArguments(endpoint, id: "good"), name: "good")
        #expect(coordinator.wait() == 0, "\(coordinator.log)")
        good.wait(timeout: 30)
        #expect(coordinator.log.contains("rejected worker stranger"))
        #expect(try Self.runJSON(out)["rejected_workers"] as? Int == 1, "only the stranger was rejected")
        Self.expectSameBundle(out, as: reference)
    }

    /// `--verify-fraction 1`: a worker whose SAE activations are one ulp off (the test-only
    /// fault switch) takes the first tasks; the checks catch it, a third worker decides, it is
    /// quarantined, its results run again, and the bundle is the clean run's.
    @Test func aWorkerWithPerturbedKernelsIsCaughtQuarantinedAndItsResultsReplaced() throws {
        let reference = try Self.reference()
        let out = scratch.file("verified")
        let (coordinator, endpoint) = try Self.coordinator(out: out, extra: ["--verify-fraction", "1"])
        let faulty = try ThinkLensProcess(Self.workerArguments(endpoint, id: "faulty"), name: "faulty",
                                          environment: ["THINKLENS_TEST_PERTURB_SAE": "1"])
        #expect(Self.waitForFirstCommit(out, by: coordinator), "the faulty worker committed a problem:\n\(coordinator.log)")
        let honest = try (1...2).map { try ThinkLensProcess(Self.workerArguments(endpoint, id: "honest\($0)"), name: "honest\($0)") }
        #expect(coordinator.wait() == 0, "\(coordinator.log)")
        #expect(faulty.wait(timeout: 30) == 3, "the quarantined worker is refused and exits with status 3:\n\(faulty.log)")
        for worker in honest { worker.wait(timeout: 30) }
        #expect(coordinator.log.contains("quarantined worker faulty@"))

        let run = try Self.runJSON(out)
        let verification = try #require(run["verification"] as? [String: Any], "run.json has a verification section")
        let quarantined = verification["quarantined_workers"] as? [String] ?? []
        #expect(quarantined.count == 1 && quarantined[0].hasPrefix("faulty@"), "\(verification)")
        #expect((verification["resolved"] as? Int ?? 0) >= 1)
        #expect((verification["replaced_results"] as? Int ?? 0) >= 1, "the faulty worker's committed results were replaced")
        let checks = verification["checks"] as? [[String: Any]] ?? []
        #expect(Set(checks.compactMap { $0["problem"] as? String }) == Set((0..<4).map { "gsm8k:train:\($0)" }))

        Self.expectSameBundle(out, as: reference, except: ["manifest.json"])
        // The manifest is the clean run's plus its verification section.
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as? [String: Any])
        let clean = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reference + "/manifest.json"))) as? [String: Any])
        #expect(manifest.removeValue(forKey: "verification") != nil)
        #expect(NSDictionary(dictionary: manifest).isEqual(to: clean))
    }

    @Test func garbageFromPeersDoesNotDisturbTheRun() throws {
        let reference = try Self.reference()
        let out = scratch.file("garbage")
        let (coordinator, endpoint) = try Self.coordinator(out: out)
        // One peer that only sends noise, and one that says a valid hello and then sends noise.
        let context = try ZMQContext()
        defer { context.shutdown() }
        let noisy = try ZMQSocket(context, kind: .dealer)
        try noisy.connect(endpoint)
        let impostor = try ZMQSocket(context, kind: .dealer)
        try impostor.connect(endpoint)
        let model = try Qwen2Model(directory: Self.fixture.model)
        let tokenizer = try BPETokenizer.load(modelDirectoryOrFile: Self.fixture.model)
        var saes: [String: String] = [:]
        for h in RunFixture.hookpoints { saes[h] = try SparseAutoencoder(checkpoint: Self.fixture.sae, hookpoint: h).fingerprint }
        let hello = Message.hello(Hello(workerID: "impostor", host: "test", pid: 1, threads: 1, batchSlots: 1,
                                        modelFingerprint: model.computeFingerprint(), tokenizerFingerprint: tokenizer.fingerprint,
                                        saeFingerprints: saes))
        _ = try impostor.send([hello.encode()])
        var random = SplitMix64(seed: 0x6A5B_A6E)
        var noiseSent = 0
        for i in 0..<200 {
            let noise = (0..<(1 + i % 97)).map { _ in UInt8.random(in: 0...255, using: &random) }
            if try noisy.send([noise], mode: .nonBlocking) == .sent { noiseSent += 1 }
            if i == 100, try impostor.send([noise], mode: .nonBlocking) == .sent { noiseSent += 1 }
        }
        let worker = try ThinkLensProcess(Self.workerArguments(endpoint, id: "honest"), name: "honest")
        #expect(coordinator.wait() == 0, "\(coordinator.log)")
        worker.wait(timeout: 30)
        #expect(coordinator.log.contains("worker impostor@test sent an undecodable message"))
        #expect(try Self.runJSON(out)["dropped_messages"] as? Int == noiseSent, "every undecodable message was dropped and counted")
        Self.expectSameBundle(out, as: reference)
    }

    @Test func problemsThatFailedStayFailedOnResumeUnlessRetried() throws {
        _ = try TestEnvironment.require(TestEnvironment.gsm8kVariable)
        let out = scratch.file("failed-resume")
        // The fixture model's context holds 1024 tokens: gsm8k:train:1's 201-token prompt leaves
        // room for 700 new tokens, gsm8k:train:2's 348-token prompt does not, on every attempt.
        let settings = Self.settings(out: out, problems: "gsm8k:train[1:3]", maxNewTokens: 700) + ["--max-attempts", "2"]
        let first = try ThinkLensProcess(["run", "--workers", "1", "--threads", "1", "--batch", "2"] + settings, name: "fails")
        #expect(first.wait() == 2, "a run with a failed problem exits with status 2:\n\(first.log)")
        let manifest = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json")), source: "manifest.json")
        let failed = manifest["failed_problems"]?.arrayValue ?? []
        #expect(failed.count == 1 && failed.first?["id"] == .string("gsm8k:train:2"))
        #expect(failed.first?["reasons"]?.arrayValue?.count == 2)
        let firstBundle = scratch.file("first")
        try FileManager.default.copyItem(atPath: out, toPath: firstBundle)
        let firstJournal = FileManager.default.contents(atPath: Self.journal(out))

        // Restarted on the same --out, with no worker at all: nothing is left to do.
        let (resumed, _) = try Self.coordinator(out: out, extra: ["--max-attempts", "2"], problems: "gsm8k:train[1:3]", maxNewTokens: 700)
        #expect(resumed.wait(timeout: 60) == 2, "\(resumed.log)")
        #expect(resumed.log.contains("stay failed"), "\(resumed.log)")
        #expect(FileManager.default.contents(atPath: Self.journal(out)) == firstJournal, "nothing was tried again")
        Self.expectSameBundle(out, as: firstBundle)

        let retried = try ThinkLensProcess(["run", "--workers", "1", "--threads", "1", "--batch", "2", "--retry-failed"] + settings, name: "retry")
        #expect(retried.wait() == 2, "\(retried.log)")
        #expect(retried.log.contains("--retry-failed: trying again 1 problem(s)"), "\(retried.log)")
        #expect(Self.journalSize(out) > firstJournal?.count ?? 0, "the retried problem's new failure is journalled")
        Self.expectSameBundle(out, as: firstBundle)
    }

    @Test func mergingTwoHalfRunsGivesTheFullRun() throws {
        let reference = try Self.reference()
        var halves: [String] = []
        for (i, slice) in ["gsm8k:train[0:2]", "gsm8k:train[2:4]"].enumerated() {
            let out = scratch.file("half-\(i)")
            let run = try ThinkLensProcess(["run", "--workers", "1", "--threads", "1", "--batch", "2"] + Self.settings(out: out, problems: slice), name: "half")
            #expect(run.wait() == 0, "\(run.log)")
            halves.append(out)
        }
        let merged = scratch.file("merged")
        let merge = try ThinkLensProcess(["merge"] + halves + ["--out", merged], name: "merge")
        #expect(merge.wait() == 0, "\(merge.log)")
        Self.expectSameBundle(merged, as: reference)
    }
}
