import Experiment
import FuzzSupport
import Protocol

/// `Message.decode` on arbitrary bytes, under the default limits and under tight ones.
/// Invariants: no crash or over-read (ASan); tight limits accept nothing the default ones refuse;
/// whatever decodes re-encodes to bytes that decode again and encode to the same bytes.
private let tight = DecodingLimits(
    maxMessageBytes: 4096, maxTokens: 8, maxLatentsPerToken: 4, maxCollectionCount: 4, maxTotalElements: 48,
    maxStringBytes: 32)

@main struct FuzzMessage {
    static func main() { runFuzzer(fuzzMessage, seeds: seeds) }
}

func fuzzMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let message: Message
    do {
        message = try Message.decode(bytes)
    } catch {
        if let strict = try? Message.decode(bytes, limits: tight) {
            fail("tight limits accept a \(strict.typeName) that the default limits refuse (\(error))")
        }
        return 0
    }
    if let strict = try? Message.decode(bytes, limits: tight) {
        check(strict.encode() == message.encode(), "tight and default limits decode \(message.typeName) differently")
    }
    let encoded = message.encode()
    do {
        let again = try Message.decode(encoded)
        check(again.encode() == encoded, "\(message.typeName): decode(encode(m)) encodes differently")
    } catch {
        fail("\(message.typeName) re-encoded does not decode: \(error)")
    }
    return 0
}

/// One message of each type, as the encoder writes them.
private func seeds() -> [String: [UInt8]] {
    let generation = GenerationParameters(maxNewTokens: 400, sampling: SamplingParameters(temperature: 0.6, topK: 50, topP: 0.95), seed: 7)
    let messages: [String: Message] = [
        "hello": .hello(Hello(workerID: "w1", host: "node-3", pid: 4242, threads: 8, batchSlots: 4, modelFingerprint: "m-5f2a",
                              tokenizerFingerprint: "t-91c0", saeFingerprints: ["layers.5.mlp": "s-1", "layers.10.mlp": "s-2"])),
        "hello-bf16-kv-cache": .hello(Hello(workerID: "w2", host: "node-4", pid: 4243, threads: 8, batchSlots: 4, modelFingerprint: "m-5f2a",
                                            tokenizerFingerprint: "t-91c0", saeFingerprints: ["layers.5.mlp": "s-1"], kvCache: .bf16)),
        "welcome": .welcome(Welcome(runID: "run-7", heartbeatIntervalMilliseconds: 1000)),
        "reject": .reject(Reject(reason: "model fingerprint differs")),
        "credit": .credit(Credit(count: 3)),
        "assign": .assign(Assign(taskID: 17, attempt: 2, problemID: "gsm8k:test:17", promptIDs: [151646, 151644, 785, 151645],
                                 generation: generation,
                                 hookpoints: [HookpointSpec(capture: "layers.5.mlp", sae: "layers.5.mlp"),
                                              HookpointSpec(capture: "hidden_states.10", sae: "layers.10.mlp")],
                                 includePrompt: false)),
        "assign-with-edits": .assign(Assign(taskID: 40, attempt: 1, problemID: "gsm8k:test:7", promptIDs: [151646, 785],
                                            generation: generation, hookpoints: [HookpointSpec(capture: "layers.5.mlp", sae: "layers.5.mlp")],
                                            includePrompt: false, edits: [
                                                FeatureEdit(hookpoint: "layers.5.mlp", feature: 32456, operation: .ablate),
                                                FeatureEdit(hookpoint: "layers.10.mlp", feature: 6252, operation: .clamp(8), generatedOnly: true),
                                                FeatureEdit(hookpoint: "layers.20.mlp", feature: 0, operation: .scale(-0.5)),
                                            ])),
        "latent-chunk": .latentChunk(LatentChunk(taskID: 17, attempt: 2, hookpoint: "layers.5.mlp", firstPosition: 4, tokens: [40, 1079, 151649],
                                                 k: 2, indices: [3, 9, 65535, 0, 12, 7], activations: [2.5, 1, 0.75, 0.5, 3, -0.0])),
        "task-done": .taskDone(TaskDone(taskID: 17, attempt: 2, generatedIDs: [40, 1079, 151649], stopReason: .eos, promptTokens: 4,
                                        timings: ["total": 1.25, "prefill": 0.25, "decode": 0.75, "encode": 0.25],
                                        fvu: ["layers.5.mlp": 0.125])),
        "task-failed": .taskFailed(TaskFailed(taskID: 17, attempt: 2, reason: "out of memory")),
        "task-handed-back": .taskFailed(TaskFailed(taskID: 18, attempt: 1, reason: "SIGTERM", handedBack: true)),
        "heartbeat": .heartbeat(Heartbeat(sequence: 99)),
        "shutdown": .shutdown(Shutdown(reason: "run complete")),
    ]
    return messages.mapValues { $0.encode() }
}
