import Experiment
import Protocol
import Testing

@Suite("Round trip")
struct RoundTripTests {
    @Test("Every message type decodes to what was encoded, for 300 random messages each",
          arguments: MessageType.allCases)
    func randomMessagesRoundTrip(type: MessageType) throws {
        var random = RandomMessages(seed: 0x5EED_0000 + UInt64(MessageType.allCases.firstIndex(of: type)!))
        for _ in 0..<300 {
            let message = random.message(of: type)
            let decoded = try Message.decode(message.encode())
            #expect(decoded == message)
            #expect(decoded.typeName == type.rawValue)
        }
    }

    @Test("Equal messages encode to equal bytes, whatever the dictionary order")
    func encodingIsDeterministic() {
        let timings = ["prefill": 0.5, "decode": 2.25, "encode": 0.125, "sample": 0.01]
        var reordered: [String: Double] = [:]
        for key in timings.keys.sorted().reversed() { reordered[key] = timings[key] }
        let first = Message.taskDone(TaskDone(
            taskID: 1, attempt: 0, generatedIDs: [1, 2], stopReason: .eos, promptTokens: 3, timings: timings))
        let second = Message.taskDone(TaskDone(
            taskID: 1, attempt: 0, generatedIDs: [1, 2], stopReason: .eos, promptTokens: 3, timings: reordered))
        #expect(first.encode() == second.encode())
    }

    @Test("LatentChunk arrays travel as little-endian bin blobs, not msgpack arrays")
    func latentChunkArraysAreLittleEndianBlobs() {
        let chunk = LatentChunk(
            taskID: 7, attempt: 1, hookpoint: "layers.10.mlp", firstPosition: 5, tokens: [0x0102_0304, 9],
            k: 2, indices: [1, 65535, -2, 40000], activations: [1.5, -0.25, 3, 0])
        let bytes = Message.latentChunk(chunk).encode()

        func blob(_ values: [UInt32]) -> [UInt8] {
            // bin 8 header (0xc4, length) then each value's bytes, least significant first.
            [0xc4, UInt8(values.count * 4)] + values.flatMap { value in
                (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
            }
        }
        #expect(contains(bytes, blob([0x0102_0304, 9])))
        #expect(contains(bytes, blob(chunk.indices.map { UInt32(bitPattern: $0) })))
        #expect(contains(bytes, blob(chunk.activations.map(\.bitPattern))))
    }

    @Test("A 64 × 32 chunk costs little more than its blobs")
    func latentChunkOverheadIsSmall() {
        var random = RandomMessages(seed: 64)
        let chunk = random.latentChunk(tokens: 64, k: 32)
        let bytes = Message.latentChunk(chunk).encode()
        let blobBytes = (64 + 2 * 64 * 32) * 4
        #expect(bytes.count > blobBytes)
        #expect(bytes.count < blobBytes + 120 + chunk.hookpoint.utf8.count)
    }

    @Test("Decoding reads from a buffer as well as from an array")
    func decodesFromRawBuffer() throws {
        let message = Message.credit(Credit(count: 4))
        let bytes = message.encode()
        let decoded = try bytes.withUnsafeBytes { try Message.decode($0) }
        #expect(decoded == message)
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in
            haystack[start..<start + needle.count].elementsEqual(needle)
        }
    }
}

/// The one sampling rule and an exact wire: `generate` resolves `--top-p 0.95` locally, `run`
/// resolves it in the coordinator and sends it in an `assign`; both must hand the sampler the
/// same Double transformers would use (a float32 on the way would turn it into 0.949999988).
@Suite struct SamplingSettingsTravelExactly {
    @Test func runAndGenerateHandTheSamplerTheSameTopP() throws {
        let flag = try #require(Double("0.95"))
        let defaults = SamplingDefaults(doSample: true, temperature: 0.6, topP: 1, topK: 0)
        let generateSampling = SamplingParameters.resolve(temperature: nil, topP: flag, topK: nil, defaults: defaults)
        let assign = Assign(taskID: 1, attempt: 1, problemID: "gsm8k:test:0", promptIDs: [1, 2],
                            generation: GenerationParameters(maxNewTokens: 4, sampling: generateSampling, seed: 0),
                            hookpoints: [HookpointSpec(capture: "layers.1.mlp", sae: "layers.1.mlp")], includePrompt: false)
        guard case .assign(let received) = try Message.decode(Message.assign(assign).encode()) else {
            Issue.record("an assign did not decode as an assign")
            return
        }
        #expect(received.generation.sampling.topP == 0.95)
        #expect(received.generation.sampling == generateSampling)
    }

    @Test func aFlagWinsAndOtherwiseGenerationConfigDecides() {
        let defaults = SamplingDefaults(doSample: true, temperature: 0.6, topP: 0.95, topK: 20)
        #expect(SamplingParameters.resolve(temperature: nil, topP: nil, topK: nil, defaults: defaults)
            == SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95))
        #expect(SamplingParameters.resolve(temperature: 1, topP: 0.5, topK: 0, defaults: defaults)
            == SamplingParameters(temperature: 1, topK: 0, topP: 0.5))
    }

    @Test func doSampleFalseMeansGreedy() {
        let defaults = SamplingDefaults(doSample: false, temperature: 0.6, topP: 0.95, topK: 20)
        #expect(SamplingParameters.resolve(temperature: nil, topP: nil, topK: nil, defaults: defaults).isGreedy)
    }
}

/// Feature edits (`--intervene`) travel in the assign exactly, in order; a plain assign has none.
@Suite struct EditsTravelInTheAssign {
    static func assign(edits: [FeatureEdit]) -> Assign {
        Assign(taskID: 7, attempt: 1, problemID: "gsm8k:test:0", promptIDs: [1, 2],
               generation: GenerationParameters(maxNewTokens: 4, sampling: SamplingParameters(temperature: 0, topK: 0, topP: 1), seed: 0),
               hookpoints: [HookpointSpec(capture: "layers.1.mlp", sae: "layers.1.mlp")], includePrompt: false, edits: edits)
    }

    @Test func everyOperationArrivesAsSent() throws {
        let edits = [
            FeatureEdit(hookpoint: "layers.1.mlp", feature: 65_535, operation: .ablate),
            FeatureEdit(hookpoint: "layers.1.mlp", feature: 3, operation: .clamp(8.5), generatedOnly: true),
            FeatureEdit(hookpoint: "layers.2", feature: 0, operation: .scale(-2)),
            FeatureEdit(hookpoint: "layers.2", feature: 1, operation: .add(1e-3)),
        ]
        guard case .assign(let received) = try Message.decode(Message.assign(Self.assign(edits: edits)).encode()) else {
            Issue.record("an assign did not decode as an assign")
            return
        }
        #expect(received.edits == edits)
    }

    @Test func anAssignWithoutEditsCarriesNoEditsField() throws {
        let bytes = Message.assign(Self.assign(edits: [])).encode()
        let withEdits = Message.assign(Self.assign(edits: [FeatureEdit(hookpoint: "layers.1.mlp", feature: 1, operation: .ablate)])).encode()
        #expect(!bytes.starts(with: withEdits) && bytes.count < withEdits.count)
        guard case .assign(let received) = try Message.decode(bytes) else {
            Issue.record("an assign did not decode as an assign")
            return
        }
        #expect(received.edits.isEmpty)
    }

    @Test func anEditWithANonFiniteValueIsRefusedNamingIt() {
        let bytes = Message.assign(Self.assign(edits: [
            FeatureEdit(hookpoint: "layers.1.mlp", feature: 1, operation: .ablate),
            FeatureEdit(hookpoint: "layers.1.mlp", feature: 2, operation: .clamp(.nan)),
        ])).encode()
        #expect {
            _ = try Message.decode(bytes)
        } throws: { "\($0)".contains("edits[1].operation") }
    }
}
