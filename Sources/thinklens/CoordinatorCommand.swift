import ArgumentParser
import Coordinator
import Foundation
import Transport

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Shard GSM8K problems to workers and merge their latents into a bundle."
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var settings: RunSettingsOptions

    @Option(help: "ZeroMQ endpoint to listen on.")
    var listen: String = "tcp://0.0.0.0:5555"

    @Option(help: "CURVE secret key file (from 'thinklens keygen'); turns encryption on.")
    var curveSecretKey: String?

    @Option(help: "File of allowed worker public keys (one Z85 key per line, # comments); needs --curve-secret-key.")
    var allowWorkers: String?

    @Flag(help: "Listen on a non-loopback address without CURVE (only on a network where every machine that can reach the port is trusted).")
    var insecure = false

    @Flag(help: "Leave workers running when the run is complete (for a pool that serves several runs).")
    var keepWorkers = false

    @Option(help: "Assign no task until this many workers are ready (at most --min-workers-wait seconds), so the first to connect does not take every problem of a small run.")
    var minWorkers: Int = 1

    @Option(help: "Seconds to wait for --min-workers before starting with the workers there are.")
    var minWorkersWait: Double = 60

    func validate() throws {
        guard minWorkers >= 1 else { throw ValidationError("--min-workers must be at least 1") }
        guard minWorkersWait >= 0 else { throw ValidationError("--min-workers-wait must be >= 0") }
        if allowWorkers != nil && curveSecretKey == nil {
            throw ValidationError("--allow-workers needs --curve-secret-key (keys are checked during the CURVE handshake)")
        }
        if curveSecretKey == nil && !insecure && !EndpointScope.isLoopbackOnly(listen) {
            throw ValidationError("""
                --listen \(listen) accepts connections from other machines, and without CURVE anyone who can reach the port \
                and knows the run's fingerprints (printed in every bundle's manifest) can join it. Make keys: \
                'thinklens keygen --out coordinator' and 'thinklens keygen --out worker', then 'cp worker.pub workers.allow'; \
                run the coordinator with --curve-secret-key coordinator.key --allow-workers workers.allow and the workers with \
                --curve-server-key coordinator.pub --curve-secret-key worker.key. On a network where every machine is trusted, \
                add --insecure instead; to stay on this machine, listen on tcp://127.0.0.1:PORT.
                """)
        }
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        TerminationSignals.install()
        var configuration = try settings.coordinatorConfiguration(listen: listen, logger: logger)
        if let curveSecretKey {
            configuration.curveKeys = try CurveKeyFiles.readKeyPair(secretKeyPath: curveSecretKey)
            logger.info("CURVE on; workers need the server public key \(configuration.curveKeys!.publicKey)")
        }
        if let allowWorkers { configuration.allowedWorkerKeys = try readAllowList(allowWorkers) }
        configuration.shutdownWorkersAtEnd = !keepWorkers
        configuration.minWorkers = minWorkers
        configuration.minWorkersWaitSeconds = minWorkersWait
        let loop = try CoordinatorLoop(configuration: configuration, logger: logger)
        let outcome = try loop.run(shouldStop: { TerminationSignals.stopRequested })
        if outcome.interrupted { throw ExitCode(130) }
        printRunSummary(outcome, out: settings.out)
        if !outcome.failed.isEmpty { throw ExitCode(2) }
    }
}
