import ArgumentParser
import Foundation
import ResultBundle

/// `thinklens export FORMAT ...`: a bundle's latents in another tool's on-disk format.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a result bundle's latents in another tool's format.",
        subcommands: [ExportDelphiCommand.self]
    )
}

/// `thinklens export delphi BUNDLE --out DIR`: EleutherAI delphi's latent cache.
struct ExportDelphiCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delphi",
        abstract: "Write EleutherAI delphi's latent cache (latents/<hookpoint>/<start>_<end>.safetensors + config.json) from a bundle.",
        discussion: """
        Rows are consecutive --ctx-len token windows of each problem's prompt and generation \
        (problems in bundle order, a problem's last window padded with the end-of-sequence id); \
        latents appear where the bundle has them. DIR/README.md says how to explain and score \
        the latents with delphi. See docs/delphi.md.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A result bundle (the --out directory of a finished run).")
    var bundle: String

    @Option(name: .long, help: "Directory for the cache (must not exist or be empty).")
    var out: String

    @Option(name: .long, help: "Comma-separated hookpoints to export (default: all of the bundle's).")
    var hookpoints: String?

    @Option(name: .long, help: "Files (latent ranges) per hookpoint.")
    var splits: Int = 5

    @Option(name: .long, help: "Tokens per row (delphi's cache_ctx_len); a multiple of 32 suits delphi's example windows.")
    var ctxLen: Int = 256

    @Option(name: .long, help: "Token id that pads a problem's last row (default: the model config's eos_token_id).")
    var eosId: Int32?

    @Option(name: .long, help: "model_name in config.json, the tokenizer delphi loads (default: the model config's _name_or_path, else \(DelphiExport.defaultModelName)).")
    var modelName: String?

    func validate() throws {
        guard splits >= 1 else { throw ValidationError("--splits must be at least 1, got \(splits)") }
        guard ctxLen >= 1 else { throw ValidationError("--ctx-len must be at least 1, got \(ctxLen)") }
        if let hookpoints, hookpoints.split(separator: ",", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            throw ValidationError("--hookpoints '\(hookpoints)' has an empty name; give names separated by single commas")
        }
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        let options = DelphiExport.Options(hookpoints: hookpoints.map { $0.split(separator: ",").map(String.init) },
                                           splits: splits, ctxLen: ctxLen, eosID: eosId, modelName: modelName)
        let start = Date()
        do {
            let summary = try DelphiExport.export(bundle: bundle, to: out, options: options) { logger.info("\($0)") }
            let entries = summary.hookpoints.map { "\($0.name) \($0.files.reduce(0) { $0 + $1.entries })" }.joined(separator: ", ")
            logger.info("exported \(summary.problems) problems as \(summary.rows) rows of \(summary.ctxLen) tokens in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; entries: \(entries)")
            print((summary.directory as NSString).appendingPathComponent("README.md"))
        } catch let error as RunDataError {
            throw ValidationError(error.description)
        }
    }
}
