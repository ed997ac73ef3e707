import Compute
import Experiment
import Foundation
import Logging
import Protocol
import SafeTensors
import Testing
import TestSupport
@testable import Worker

/// A worker applies an assign's edits to that task's sequence, and refuses a task whose edits it
/// cannot apply before anything runs.
@Suite struct TaskRunnerEditTests {
    static let model = TestEnvironment.fixtures("qwen2/gqa2-untied-f32").path
    static let interventions = TestEnvironment.fixtures("interventions")

    static func runner() throws -> TaskRunner {
        let model = try Qwen2Model(directory: Self.model)
        let saeDirectory = interventions.appendingPathComponent("sae").path
        var saes: [String: SparseAutoencoder] = [:]
        for name in ["layers.1.mlp", "layers.3"] {
            saes[name] = try SparseAutoencoder(checkpoint: saeDirectory, hookpoint: name, expectedDIn: model.config.hiddenSize)
        }
        return TaskRunner(model: model, saes: saes, saeDirectory: saeDirectory, batchSlots: 2, contextTokens: 64, kvCache: .f32, chunkTokens: 64,
                          stepDelay: 0, logger: Logger(label: "test"))
    }

    static func assign(_ edits: [FeatureEdit], prompt: [Int32] = [5, 6, 7], maxNewTokens: Int = 8) -> Assign {
        Assign(taskID: 1, attempt: 1, problemID: "p", promptIDs: prompt,
               generation: GenerationParameters(maxNewTokens: maxNewTokens, sampling: .greedy, seed: 0),
               hookpoints: [HookpointSpec(capture: "layers.1.mlp", sae: "layers.1.mlp")], includePrompt: false, edits: edits)
    }

    @Test("a task's edits change its tokens exactly as the reference implementation does")
    func theAssignsEditsAreApplied() throws {
        let reference = try SafeTensorsFile(path: Self.interventions.appendingPathComponent("reference.safetensors").path)
        let prompt = try reference.tensor("prompt_ids").int32s()
        let clamp = try JSONDecoder().decode([[String: String]].self, from: Data(contentsOf: Self.interventions.appendingPathComponent("cases.json")))
            .first { $0["name"] == "clamp" }!["edits"]!
        let expected = Array(try reference.tensor("clamp.sequence_ids").int32s()[prompt.count...])
        let runner = try Self.runner()
        var done: TaskDone?
        runner.onEnded = { done = $0 }
        try runner.start(Self.assign(try FeatureEdit.parseList(clamp), prompt: prompt, maxNewTokens: expected.count))
        while !runner.isIdle { runner.step() }
        let generated = try #require(done).generatedIDs
        // The worker stops at the model's eos (2); the reference ran to its length regardless.
        let untilStop = expected.firstIndex(of: 2).map { Array(expected[...$0]) } ?? expected
        #expect(generated == untilStop)
    }

    @Test("a task whose edit the worker cannot apply is refused, naming the edit and the part", arguments: [
        (FeatureEdit(hookpoint: "layers.2.mlp", feature: 1, operation: .ablate), "edit 'layers.2.mlp:1:ablate': no SAE for layers.2.mlp in this worker's --sae"),
        (FeatureEdit(hookpoint: "layers.3", feature: 500, operation: .clamp(2)), "edit 'layers.3:500:clamp=2': feature 500 is past the last latent 127 of the layers.3 SAE (128 latents)"),
        (FeatureEdit(hookpoint: "layers.9", feature: 1, operation: .ablate), "edit 'layers.9:1:ablate': hookpoint layers.9 is past the last layer 5 of this 6-layer model"),
    ])
    func anEditTheWorkerLacksIsRefused(edit: FeatureEdit, reason: String) throws {
        let runner = try Self.runner()
        do {
            try runner.start(Self.assign([edit]))
            Issue.record("the task started")
        } catch let error as GeneratorError {
            #expect(error.reason.hasPrefix(reason), "\(error.reason)")
        }
        #expect(runner.isIdle)
    }
}
