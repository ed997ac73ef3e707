import Foundation
import ResultBundle
import Testing
import TestSupport

/// A worker or run whose KV cache cannot fit in the machine's memory says so at start, with
/// the numbers, and stops before any work (no coordinator contacted, no worker started).
/// The batches asked for here need hundreds of terabytes, so every machine refuses them.
@Suite(.serialized)
struct MemoryRefusalTests {
    static let fixture = RunFixture.shared
    static let impossibleBatch = "1000000000"

    @Test func aWorkerThatCannotFitRefusesBeforeContactingTheCoordinator() throws {
        // Nobody listens on this endpoint, and --give-up-after is long: a worker that tried to
        // connect would still be running when the short wait below ends.
        let worker = try ThinkLensProcess(["worker", "--connect", "tcp://127.0.0.1:9", "--model", Self.fixture.model,
                                           "--sae", Self.fixture.sae, "--threads", "1", "--batch", Self.impossibleBatch,
                                           "--max-context", "1024", "--give-up-after", "600"], name: "worker")
        let status = worker.wait(timeout: 60)
        #expect(status != 0)
        let log = worker.log
        #expect(log.contains("not enough memory: memory needed:"), "log:\n\(log)")
        #expect(log.contains("[\(Self.impossibleBatch) slots × 1024 tokens × 384 B/token, float32]"), "log:\n\(log)")
        #expect(log.contains("Use fewer --batch slots or a smaller --max-new-tokens"), "log:\n\(log)")
    }

    @Test func aWorkerLogsWhatItNeedsAtStart() throws {
        let worker = try ThinkLensProcess(["worker", "--connect", "tcp://127.0.0.1:9", "--model", Self.fixture.model,
                                           "--sae", Self.fixture.sae, "--threads", "1", "--batch", "3",
                                           "--max-context", "500", "--give-up-after", "1"], name: "worker")
        worker.wait(timeout: 60)
        // 3 layers × (keys + values) × 2 KV heads × 8 head dim × 4 bytes = 384 B per token.
        #expect(worker.log.contains("memory needed:"), "log:\n\(worker.log)")
        #expect(worker.log.contains("KV cache 0.00 GB [3 slots × 500 tokens × 384 B/token, float32]"), "log:\n\(worker.log)")
    }

    @Test(.enabled(if: TestEnvironment.available(TestEnvironment.gsm8kVariable), "needs THINKLENS_GSM8K_DIR"))
    func aTaskLongerThanTheWorkersContextFailsNamingTheContextItNeeds() throws {
        let scratch = TemporaryDirectory("run")
        let out = scratch.file("out")
        // gsm8k:train:1's prompt is 201 tokens: with 24 new tokens it needs 225 positions.
        let (coordinator, endpoint) = try DistributedRunTests.coordinator(out: out, extra: ["--max-attempts", "1"], problems: "gsm8k:train[1:2]")
        let worker = try ThinkLensProcess(DistributedRunTests.workerArguments(endpoint, id: "short") + ["--max-context", "100"], name: "worker")
        #expect(coordinator.wait() == 2, "a run with a failed problem exits with status 2:\n\(coordinator.log)")
        worker.wait()
        let manifest = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json")), source: "manifest.json")
        let reason = manifest["failed_problems"]?.arrayValue?.first?["reasons"]?.arrayValue?.first?.stringValue ?? ""
        #expect(reason.contains("gsm8k:train:1 needs 201 prompt + 24 new tokens = 225 positions, but this worker's batch slots hold 100; start the worker with --max-context 225 or more"),
                "reason: \(reason)")
    }

    @Test(.enabled(if: TestEnvironment.available(TestEnvironment.gsm8kVariable), "needs THINKLENS_GSM8K_DIR"))
    func aRunThatCannotFitRefusesBeforeStartingWorkers() throws {
        let scratch = TemporaryDirectory("run")
        let out = scratch.file("out")
        let run = try ThinkLensProcess(["run", "--workers", "2", "--threads", "1", "--batch", Self.impossibleBatch]
                                       + DistributedRunTests.settings(out: out), name: "run")
        let status = run.wait(timeout: 120)
        #expect(status != 0)
        let log = run.log
        #expect(log.contains("not enough memory"), "log:\n\(log)")
        #expect(log.contains("per process × 2 processes"), "log:\n\(log)")
        #expect(log.contains("or fewer --workers"), "log:\n\(log)")
        #expect(!log.contains("local worker processes"), "no worker may start; log:\n\(log)")
        #expect(!FileManager.default.fileExists(atPath: out), "the run wrote \(out) before refusing")
    }
}
