import Experiment
import Protocol
import ResultBundle
import Testing
@testable import Coordinator

/// A run uses one KV cache format: a worker whose hello reports another is refused (so float32
/// and bfloat16 results never mix in one bundle), and the format is part of the run's settings
/// only when it is bfloat16.
@Suite struct KVCacheConsistencyTests {
    typealias F = MachineFixture
    let a: [UInt8] = [1]

    static func hello(_ kvCache: KVCacheDType) -> Message {
        .hello(Hello(workerID: "w1", host: "host", pid: 1, threads: 1, batchSlots: 8, modelFingerprint: "qwen2-test",
                     tokenizerFingerprint: F.tokenizer.fingerprint, saeFingerprints: [F.hookpoint.sae: "sae1-test"], kvCache: kvCache))
    }

    static func configuration(_ kvCache: KVCacheDType) -> CoordinatorConfiguration {
        var c = F.configuration()
        c.kvCache = kvCache
        return c
    }

    func rejections(_ actions: [CoordinatorStateMachine.Action]) -> [String] {
        actions.compactMap { if case .sendBestEffort(.reject(let r), let p) = $0, p == a { return r.reason } else { return nil } }
    }

    @Test func aBFloat16WorkerIsRefusedByAFloat32RunNamingBothFormats() throws {
        var m = try F.machine(Self.configuration(.f32))
        let reasons = rejections(m.received(Self.hello(.bf16), from: a, now: 0))
        #expect(reasons.count == 1)
        #expect(reasons.first?.contains("KV cache bf16 (bfloat16; run uses --kv-cache f32, float32): restart the worker with --kv-cache f32") == true)
        // It got no state: credit from it assigns nothing.
        _ = m.received(.credit(Credit(count: 5)), from: a, now: 0)
        #expect(assigns(m.tick(now: 1)).isEmpty)
    }

    @Test func aFloat32WorkerIsRefusedByABFloat16RunNamingBothFormats() throws {
        var m = try F.machine(Self.configuration(.bf16))
        let reasons = rejections(m.received(Self.hello(.f32), from: a, now: 0))
        #expect(reasons.count == 1)
        #expect(reasons.first?.contains("KV cache f32 (float32; run uses --kv-cache bf16, bfloat16): restart the worker with --kv-cache bf16") == true)
    }

    @Test func aWorkerWithTheRunsFormatIsWelcomed() throws {
        var m = try F.machine(Self.configuration(.bf16))
        let actions = m.received(Self.hello(.bf16), from: a, now: 0)
        #expect(sent(actions, to: a) == [.welcome(Welcome(runID: "run", heartbeatIntervalMilliseconds: 1000))])
    }

    @Test func theRunSettingsNameTheFormatOnlyWhenItIsBFloat16() {
        guard case .object(let float32) = RunSettings.generationJSON(Self.configuration(.f32)),
              case .object(let bfloat16) = RunSettings.generationJSON(Self.configuration(.bf16)) else {
            Issue.record("the generation settings are not a JSON object")
            return
        }
        #expect(float32["kv_cache"] == nil)
        #expect(Set(float32.keys) == ["max_new_tokens", "temperature", "top_p", "top_k", "seed", "include_prompt"])
        #expect(bfloat16["kv_cache"] == .string("bf16"))
        var withoutFormat = bfloat16
        withoutFormat["kv_cache"] = nil
        #expect(withoutFormat == float32)
    }
}
