import Platform
import ArgumentParser
import Checkpoints
import Compute
import Coordinator
import Tokenizer
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "A coordinator plus N local worker processes on one box.",
        discussion: "Workers are separate processes that map the same weight files, so they share one copy in the page cache. Exits non-zero when any problem failed."
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var settings: RunSettingsOptions

    @Option(help: "Local worker processes.")
    var workers: Int = 1

    @Option(help: "Compute threads per worker (default: cores / workers).")
    var threads: Int?

    @Option(help: "Sequences each worker generates together.")
    var batch: Int = 8

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if settings.verifyFraction > 0 && workers < 2 {
            throw ValidationError("--verify-fraction needs at least 2 workers (3 to decide a mismatch): a check runs a problem again on another worker; add --workers 3")
        }
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        TerminationSignals.install()
        var configuration = try settings.coordinatorConfiguration(listen: "tcp://127.0.0.1:*", logger: logger)
        // Size every worker's KV cache for this run's longest prompt + --max-new-tokens, and
        // refuse before starting anything when the workers cannot fit in this machine's memory.
        let modelConfig = try Qwen2Configuration.load(contentsOf: (settings.model as NSString).appendingPathComponent("config.json"))
        let promptIDs = CoordinatorStateMachine.promptIDs(of: configuration)
        let longestPrompt = promptIDs.map(\.count).max() ?? 0
        let contextTokens = min(modelConfig.maxPositionEmbeddings, longestPrompt + settings.maxNewTokens)
        // Each worker maps every SAE under --sae (as Worker does), not only the run's.
        let saeFiles = SAECheckpoint.hookpoints(in: settings.sae).map { SAECheckpoint.weightsPath(checkpoint: settings.sae, hookpoint: $0) }
        let plan = MemoryPlan(config: modelConfig,
                              weightBytes: MemoryPlan.fileBytes(MemoryPlan.modelWeightFiles(directory: settings.model) + saeFiles),
                              slots: batch, contextTokens: contextTokens, processes: workers, kvCache: settings.kvCache)
        logger.info("\(workers) worker(s), longest prompt \(longestPrompt) tokens: \(plan.summary)")
        try plan.check(availableBytes: SystemMemory.available())
        configuration.shutdownWorkersAtEnd = true
        // Every local worker gets a share from the start, even when the problems fit in one's batch.
        configuration.minWorkers = workers
        let loop = try CoordinatorLoop(configuration: configuration, logger: logger, promptIDs: promptIDs)
        let perWorker = threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / workers)
        let executable = URL(fileURLWithPath: Executable.path)
        var children: [Process] = []
        var abortReason: String?
        loop.onListening = { endpoint in
            for i in 0..<workers {
                let p = Process()
                p.executableURL = executable
                p.arguments = ["worker", "--connect", endpoint, "--model", settings.model, "--sae", settings.sae,
                               "--threads", String(perWorker), "--batch", String(batch), "--max-context", String(contextTokens),
                               "--kv-cache", settings.kvCache.rawValue, "--worker-id", "local-\(i + 1)",
                               "--give-up-after", "60", "--log-level", global.logLevel == "info" ? "notice" : global.logLevel]
                do {
                    try p.run()
                    children.append(p)
                } catch {
                    abortReason = "could not start worker process \(i + 1) (\(executable.path)): \(error)"
                }
            }
            logger.info("started \(children.count) local worker processes with \(perWorker) thread(s) and \(batch) slot(s) each")
        }
        loop.onProgress = { _ in
            // Every worker process gone before the run is done: nobody is left to do the work.
            if abortReason == nil, !children.isEmpty, children.allSatisfy({ !$0.isRunning }) {
                let statuses = children.map { "\($0.terminationStatus)" }.joined(separator: ", ")
                abortReason = "all \(children.count) worker processes exited (status \(statuses)) before the run finished; see their errors above. Committed problems are kept in \(settings.out); rerun the same command to resume."
            }
        }
        let outcome: CoordinatorOutcome
        do {
            outcome = try loop.run(shouldStop: { TerminationSignals.stopRequested || abortReason != nil })
        } catch {
            stop(children)
            throw error
        }
        stop(children)
        if let abortReason {
            FileHandle.standardError.write(Data("error: \(abortReason)\n".utf8))
            throw ExitCode(1)
        }
        if outcome.interrupted { throw ExitCode(130) }
        printRunSummary(outcome, out: settings.out)
        if !outcome.failed.isEmpty { throw ExitCode(2) }
    }

    /// Workers got a Shutdown (or notice the coordinator is gone); give them a moment, then end them.
    private func stop(_ children: [Process]) {
        let deadline = Date().addingTimeInterval(5)
        while children.contains(where: { $0.isRunning }) && Date() < deadline { usleep(50_000) }
        for p in children where p.isRunning { p.terminate() }
        for p in children { p.waitUntilExit() }
    }
}
