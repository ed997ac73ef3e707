import Checkpoints
import Foundation
import FuzzSupport

/// The checkpoint configuration loaders on arbitrary bytes, each input through all three:
/// `Qwen2Configuration.load` (config.json), `GenerationConfiguration.load`
/// (generation_config.json) and `SAEConfig.load` (a sparsify cfg.json).
/// Invariants: no crash; what loads satisfies the checks the engine relies on; a loaded
/// config.json written back with its own encoder loads to the same value.
@main struct FuzzConfig {
    static func main() { runFuzzer(fuzzConfig) }
}

func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let path = ScratchFile.write(bytes, name: "config.json")
    if let model = try? Qwen2Configuration.load(contentsOf: path) { checkModel(model) }
    if let generation = try? GenerationConfiguration.load(contentsOf: path) {
        check(generation.temperature >= 0 && generation.topP > 0 && generation.topP <= 1 && generation.topK >= 0,
              "generation_config.json loads with temperature \(generation.temperature), top_p \(generation.topP), top_k \(generation.topK)")
    }
    if let sae = try? SAEConfig.load(path: path) {
        check(sae.dIn > 0 && sae.numLatents > 0 && sae.numLatents <= Int(Int32.max) && (1...sae.numLatents).contains(sae.k),
              "cfg.json loads with d_in \(sae.dIn), num_latents \(sae.numLatents), k \(sae.k)")
        check(sae.activationKind != .groupmax || sae.numLatents % sae.k == 0, "groupmax with num_latents \(sae.numLatents), k \(sae.k)")
    }
    return 0
}

private func checkModel(_ model: Qwen2Configuration) {
    check(model.hiddenSize > 0 && model.numAttentionHeads > 0 && model.numKeyValueHeads > 0
          && model.hiddenSize % model.numAttentionHeads == 0 && model.numAttentionHeads % model.numKeyValueHeads == 0
          && model.attentionHeadDim % 2 == 0,
          "config.json loads with hidden \(model.hiddenSize), heads \(model.numAttentionHeads), kv heads \(model.numKeyValueHeads)")
    let encoded: Data
    do { encoded = try JSONEncoder().encode(model) } catch { fail("a loaded config.json does not encode: \(error)") }
    let path = encoded.withUnsafeBytes { ScratchFile.write($0, name: "config-again.json") }
    do {
        let again = try Qwen2Configuration.load(contentsOf: path)
        check(again == model, "config.json written back loads as \(again), not \(model)")
    } catch {
        fail("config.json written back does not load: \(error)")
    }
}
