import Foundation
import Testing
import TestSupport

/// `--kv-cache bf16` end to end, on the JSONL prompt set (no GSM8K needed): `run` hands the
/// format to its workers, the bundle records it, and a worker started by hand with another
/// format is refused by the coordinator, naming both.
@Suite(.serialized)
struct KVCacheRunTests {
    static let fixture = RunFixture.shared
    let scratch = TemporaryDirectory("kv-cache-run")

    static func settings(out: String) -> [String] {
        ["--model", fixture.model, "--sae", fixture.sae, "--problems", "jsonl:\(PromptSetRunTests.problemsFile)[0:2]",
         "--dataset-name", "tiny-math", "--id-field", "unique_id", "--answer-field", "answer",
         "--hookpoints", RunFixture.hookpoints.joined(separator: ","), "--max-new-tokens", "8", "--seed", "7",
         "--out", out, "--heartbeat-interval", "0.2", "--lease-seconds", "2"]
    }

    /// `generation` of a bundle's manifest.json or run-settings.json.
    static func generation(_ out: String, _ file: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/" + file)))
        return try #require((object as? [String: Any])?["generation"] as? [String: Any])
    }

    @Test func aBFloat16RunRecordsItsFormatAndAFloat32RunDoesNot() throws {
        let bfloat16 = scratch.file("bf16"), float32 = scratch.file("f32")
        let run = try ThinkLensProcess(["run", "--workers", "1", "--threads", "1", "--batch", "2", "--kv-cache", "bf16"]
                                       + Self.settings(out: bfloat16), name: "bf16 run")
        try #require(run.wait() == 0, "\(run.log)")
        #expect(run.log.contains("B/token, bfloat16]"), "the memory line names the format")
        #expect(try Self.generation(bfloat16, "manifest.json")["kv_cache"] as? String == "bf16")
        #expect(try Self.generation(bfloat16, "run-settings.json")["kv_cache"] as? String == "bf16")

        let plain = try ThinkLensProcess(["run", "--workers", "1", "--threads", "1", "--batch", "2"] + Self.settings(out: float32), name: "f32 run")
        try #require(plain.wait() == 0, "\(plain.log)")
        #expect(try Self.generation(float32, "manifest.json")["kv_cache"] == nil)
        #expect(try Self.generation(float32, "run-settings.json")["kv_cache"] == nil)
    }

    @Test func aFloat32WorkerIsRefusedByABFloat16CoordinatorNamingBothFormats() throws {
        let out = scratch.file("mismatch")
        let coordinator = try ThinkLensProcess(["coordinator", "--listen", "tcp://127.0.0.1:*", "--kv-cache", "bf16"] + Self.settings(out: out),
                                               name: "coordinator")
        var endpoint: String?
        let deadline = Date().addingTimeInterval(60)
        while endpoint == nil && Date() < deadline && coordinator.process.isRunning {
            if let range = coordinator.log.range(of: #"listening on (tcp://[0-9.]+:[0-9]+)"#, options: .regularExpression) {
                endpoint = String(coordinator.log[range].dropFirst("listening on ".count))
            }
            usleep(20_000)
        }
        let connect = try #require(endpoint, "the coordinator did not start listening:\n\(coordinator.log)")
        let worker = ["worker", "--connect", connect, "--model", Self.fixture.model, "--sae", Self.fixture.sae,
                      "--threads", "1", "--batch", "2", "--give-up-after", "30"]
        let float32 = try ThinkLensProcess(worker + ["--worker-id", "float32"], name: "float32 worker")
        #expect(float32.wait(timeout: 60) == 3, "a rejected worker exits with status 3:\n\(float32.log)")
        #expect(float32.log.contains("KV cache f32 (float32; run uses --kv-cache bf16, bfloat16)"), "\(float32.log)")

        let bfloat16 = try ThinkLensProcess(worker + ["--worker-id", "bfloat16", "--kv-cache", "bf16"], name: "bfloat16 worker")
        #expect(coordinator.wait() == 0, "\(coordinator.log)")
        bfloat16.wait(timeout: 30)
        #expect(coordinator.log.contains("rejected worker float32"))
    }

    @Test(arguments: [["run", "--workers", "1"], ["worker", "--connect", "tcp://127.0.0.1:9"], ["generate", "--prompt-ids", "1,2"],
                      ["bench", "generate"]])
    func aBadValueIsRefusedNamingTheOptionAndTheFormats(command: [String]) throws {
        var arguments = command + ["--model", Self.fixture.model, "--kv-cache", "fp16"]
        if command[0] == "run" { arguments += ["--sae", Self.fixture.sae, "--problems", "jsonl:\(PromptSetRunTests.problemsFile)", "--out", scratch.file("bad")] }
        if command[0] == "worker" { arguments += ["--sae", Self.fixture.sae] }
        let process = try ThinkLensProcess(arguments, name: "bad kv-cache")
        #expect(process.wait(timeout: 30) == 64, "a usage error: \(process.log)")
        #expect(process.log.contains("--kv-cache: 'fp16' is not a KV cache format; use one of f32, bf16"), "\(process.log)")
    }
}
