import ArgumentParser
import Compute
import Foundation
import Transport
import Worker

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Generate and encode tasks from a coordinator."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "The coordinator's endpoint, e.g. tcp://HOST:5555.")
    var connect: String

    @Option(help: "Model directory (config.json, tokenizer.json, safetensors).")
    var model: String

    @Option(help: "sparsify SAE checkpoint directory (one folder per hookpoint).")
    var sae: String

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Sequences generated together (batch slots = credit granted).")
    var batch: Int = 8

    @Option(help: "Positions each slot holds: the run's longest prompt + --max-new-tokens (default: 4096, or the model's limit if lower). Sizes the KV cache; the memory needed is checked at start.")
    var maxContext: Int?

    @OptionGroup var kvCacheOption: KVCacheOption

    @Option(help: "The coordinator's CURVE public key file (.pub from 'thinklens keygen'); turns encryption on.")
    var curveServerKey: String?

    @Option(help: "This worker's CURVE secret key file (its public key must be in the coordinator's --allow-workers list).")
    var curveSecretKey: String?

    @Option(help: "Name in logs and run.json (default: HOST-PID).")
    var workerID: String?

    @Option(help: "Exit after this many seconds without a coordinator (default: keep trying).")
    var giveUpAfter: Double?

    @Option(help: .hidden)
    var debugStepDelay: Double = 0

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if let maxContext, maxContext < 1 { throw ValidationError("--max-context must be at least 1, got \(maxContext)") }
        if curveSecretKey != nil && curveServerKey == nil {
            throw ValidationError("--curve-secret-key needs --curve-server-key")
        }
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        TerminationSignals.install()
        if SparseAutoencoder.perturbedForTesting {
            logger.warning("THINKLENS_TEST_PERTURB_SAE=1: this worker deliberately perturbs every SAE activation (a test fault); its results are wrong by design")
        }
        var configuration = WorkerConfiguration(
            endpoint: connect, modelDirectory: model, saeDirectory: sae, threads: threads, batchSlots: batch,
            workerID: workerID ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())")
        if let curveServerKey { configuration.curveServerKey = try CurveKeyFiles.readPublicKey(path: curveServerKey) }
        if let curveSecretKey { configuration.curveKeys = try CurveKeyFiles.readKeyPair(secretKeyPath: curveSecretKey) }
        configuration.contextTokens = maxContext
        configuration.kvCache = kvCacheOption.kvCache
        configuration.giveUpAfter = giveUpAfter
        configuration.stepDelay = debugStepDelay
        let worker = try Worker(configuration: configuration, logger: logger)
        switch try worker.run(shouldStop: { TerminationSignals.stopRequested }) {
        case .shutdown:
            return
        case .rejected(let reason):
            FileHandle.standardError.write(Data("error: rejected by the coordinator: \(reason)\n".utf8))
            throw ExitCode(3)
        case .interrupted:
            throw ExitCode(130)
        case .gaveUp(let problem):
            FileHandle.standardError.write(Data("error: no welcome from \(connect) for \(giveUpAfter ?? 0) s (\(problem)); giving up\n".utf8))
            throw ExitCode(4)
        }
    }
}
