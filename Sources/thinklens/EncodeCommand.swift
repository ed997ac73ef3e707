import Checkpoints
import SafeTensors
import ArgumentParser
import Compute
import Foundation

/// `thinklens encode`: top-k latents of stored activations with one sparsify SAE.
struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode activations with a sparsify k-SAE.",
        discussion: """
        IN holds a float tensor 'x' [T, d_in] (F32, F16 or BF16). OUT gets 'indices' int32 [T, k] \
        and 'acts' float32 [T, k]: each row's top-k latents by activation, descending, ties to the \
        lower index. The SAE's fingerprint and hookpoint go into OUT's metadata.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "sparsify checkpoint directory (one folder per hookpoint).")
    var sae: String

    @Option(name: .long, help: "Hookpoint folder inside the checkpoint, e.g. layers.10.mlp.")
    var hookpoint: String

    @Option(name: .long, help: "safetensors file with the activations 'x' [T, d_in].")
    var input: String

    @Option(name: .long, help: "safetensors file to write 'indices' and 'acts' to.")
    var out: String

    @Flag(name: .long, help: "Also reconstruct and print the fraction of variance unexplained.")
    var fvu = false

    @Option(name: .long, help: "Encoder threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        let activations = try SAEInput.load(path: input)
        let encoder = try SparseAutoencoder(checkpoint: sae, hookpoint: hookpoint)
        guard activations.columns == encoder.dIn else {
            throw SAEError(path: input, reason: "'x' rows have \(activations.columns) values but the SAE at \(encoder.directory) has d_in \(encoder.dIn); were these activations taken at another hookpoint or model?")
        }
        if let threads { Kernels.threadCount = threads }
        logger.info("encoding \(activations.rows) rows with \(encoder.directory) (\(encoder.numLatents) latents, k \(encoder.k), \(encoder.weightDType.rawValue), \(encoder.fingerprint))")

        let started = DispatchTime.now().uptimeNanoseconds
        let latents = encoder.encode(activations.x, rows: activations.rows)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let shortRows = latents.positiveCounts.filter { Int($0) < encoder.k }.count
        logger.info("encoded in \(String(format: "%.3f", seconds)) s; \(shortRows) of \(activations.rows) rows have fewer than k positive latents (padded with zeros)")

        var writer = SafeTensorsWriter()
        writer.add("indices", shape: [activations.rows, encoder.k], int32s: latents.indices)
        writer.add("acts", shape: [activations.rows, encoder.k], floats: latents.activations)
        writer.metadata = ["hookpoint": hookpoint, "sae_fingerprint": encoder.fingerprint, "k": String(encoder.k)]
        try writer.write(to: out)

        if fvu {
            let value = try encoder.fractionOfVarianceUnexplained(activations.x, rows: activations.rows, latents: latents)
            print("fvu \(hookpoint) \(value)")
            if value > SparseAutoencoder.poorFitFVU {
                logger.warning("FVU \(String(format: "%.3f", value)) > \(SparseAutoencoder.poorFitFVU): this SAE does not fit these activations (wrong hookpoint, e.g. residual stream fed to an SAE trained on MLP outputs?)")
            }
        }
    }
}
