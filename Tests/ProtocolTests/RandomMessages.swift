import Experiment
import Protocol

/// Random but valid messages of every type; sizes stay small so debug builds run fast.
struct RandomMessages {
    var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    mutating func message(of type: MessageType) -> Message {
        switch type {
        case .hello:
            var fingerprints: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...3, using: &generator) {
                fingerprints[string()] = string()
            }
            return .hello(Hello(
                workerID: string(), host: string(), pid: count(), protocolVersion: count(),
                threads: count(), batchSlots: count(), modelFingerprint: string(),
                tokenizerFingerprint: string(), saeFingerprints: fingerprints,
                kvCache: KVCacheDType.allCases.randomElement(using: &generator)!))
        case .welcome:
            return .welcome(Welcome(runID: string(), heartbeatIntervalMilliseconds: count()))
        case .reject:
            return .reject(Reject(reason: string()))
        case .credit:
            return .credit(Credit(count: count()))
        case .assign:
            let hookpoints = (0..<Int.random(in: 0...3, using: &generator)).map { _ in
                HookpointSpec(capture: string(), sae: string())
            }
            return .assign(Assign(
                taskID: generator.next(), attempt: UInt32.random(in: 0...UInt32.max, using: &generator),
                problemID: string(), promptIDs: int32s(Int.random(in: 0...40, using: &generator)),
                generation: GenerationParameters(maxNewTokens: count(), sampling: SamplingParameters(temperature: float(), topK: count(), topP: Double(float())), seed: generator.next()),
                hookpoints: hookpoints, includePrompt: Bool.random(using: &generator),
                edits: (0..<Int.random(in: 0...3, using: &generator)).map { _ in
                    let operations: [FeatureEdit.Operation] = [.ablate, .clamp(float()), .scale(float()), .add(float())]
                    return FeatureEdit(hookpoint: string(), feature: Int.random(in: 0...70_000, using: &generator),
                                       operation: operations.randomElement(using: &generator)!, generatedOnly: Bool.random(using: &generator))
                }, streamsLatents: Bool.random(using: &generator)))
        case .latentChunk:
            return .latentChunk(latentChunk(tokens: Int.random(in: 1...12, using: &generator),
                                            k: Int.random(in: 1...8, using: &generator)))
        case .taskDone:
            return .taskDone(TaskDone(
                taskID: generator.next(), attempt: UInt32.random(in: 0...UInt32.max, using: &generator),
                generatedIDs: int32s(Int.random(in: 0...40, using: &generator)),
                stopReason: StopReason.allCases.randomElement(using: &generator)!,
                promptTokens: count(), timings: doubles(), fvu: doubles()))
        case .taskFailed:
            return .taskFailed(TaskFailed(
                taskID: generator.next(), attempt: UInt32.random(in: 0...UInt32.max, using: &generator),
                reason: string(), handedBack: Bool.random(using: &generator)))
        case .heartbeat:
            return .heartbeat(Heartbeat(sequence: generator.next()))
        case .shutdown:
            return .shutdown(Shutdown(reason: string()))
        }
    }

    mutating func latentChunk(tokens: Int, k: Int) -> LatentChunk {
        LatentChunk(
            taskID: generator.next(), attempt: UInt32.random(in: 0...UInt32.max, using: &generator),
            hookpoint: string(), firstPosition: count(), tokens: int32s(tokens), k: k,
            indices: int32s(tokens * k), activations: (0..<tokens * k).map { _ in float() })
    }

    /// Non-negative, spread over small and huge magnitudes so every msgpack integer width appears.
    mutating func count() -> Int {
        let bits = Int.random(in: 0...63, using: &generator)
        return Int(generator.next() >> UInt64(64 - bits)) & Int.max
    }

    /// ASCII, accented and astral characters, 0...24 of them.
    mutating func string() -> String {
        let alphabet: [Character] = ["a", "z", "0", ".", "_", " ", "é", "ß", "中", "🙂", "\u{0}", "\""]
        let length = Int.random(in: 0...24, using: &generator)
        return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// Finite, never NaN, so `==` compares round trips.
    mutating func float() -> Float {
        Float.random(in: -1e6...1e6, using: &generator)
    }

    mutating func int32s(_ count: Int) -> [Int32] {
        (0..<count).map { _ in Int32(truncatingIfNeeded: generator.next()) }
    }

    mutating func doubles() -> [String: Double] {
        var values: [String: Double] = [:]
        for _ in 0..<Int.random(in: 0...4, using: &generator) {
            values[string()] = Double.random(in: -1e9...1e9, using: &generator)
        }
        return values
    }
}
