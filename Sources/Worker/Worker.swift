import Compute
import Foundation
import Logging
import Protocol
import Tokenizer
import Transport

/// What a worker process needs to know: where the coordinator is and what to load.
public struct WorkerConfiguration {
    public var endpoint: String
    public var modelDirectory: String
    public var saeDirectory: String
    /// OpenBLAS and kernel threads.
    public var threads: Int
    /// Sequences generated together; also the credit the worker grants.
    public var batchSlots: Int
    /// The coordinator's CURVE public key (Z85); nil for plain TCP.
    public var curveServerKey: String?
    /// This worker's own CURVE key pair; generated afresh when nil and CURVE is on.
    public var curveKeys: CurveKeyPair?
    public var workerID: String
    /// Seconds between heartbeats when the coordinator has not told us otherwise.
    public var heartbeatInterval: Double = 1
    /// Heartbeat intervals of silence before the coordinator is presumed gone.
    public var liveness: Int = 5
    /// Latent rows per `LatentChunk`.
    public var chunkTokens: Int = 64
    /// Outgoing messages queued in libzmq before generation pauses (the bounded window).
    public var sendHighWaterMark: Int = 256
    /// Give up after this many seconds without a coordinator (nil: keep trying).
    public var giveUpAfter: Double? = nil
    /// Seconds to sleep after each generation step. Fault tests use it to make tasks last
    /// long enough to kill a process mid-task; 0 in normal runs.
    public var stepDelay: Double = 0

    public init(endpoint: String, modelDirectory: String, saeDirectory: String, threads: Int, batchSlots: Int, workerID: String) {
        self.endpoint = endpoint
        self.modelDirectory = modelDirectory
        self.saeDirectory = saeDirectory
        self.threads = threads
        self.batchSlots = batchSlots
        self.workerID = workerID
    }
}

public struct WorkerError: Error, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// How a worker run ended.
public enum WorkerExit: Equatable {
    /// The coordinator said the run is over.
    case shutdown(String)
    /// The coordinator refused this worker (e.g. a different model); retrying cannot help.
    case rejected(String)
    /// SIGINT/SIGTERM: in-flight tasks were handed back.
    case interrupted
    /// No coordinator answered within `giveUpAfter`.
    case gaveUp
}

/// A worker process: loads the model and SAEs once, then pulls tasks from the coordinator,
/// generates, encodes, and streams latents back. One thread owns the socket and the model;
/// between generation steps it services the socket, so heartbeats keep flowing.
public final class Worker {
    public let configuration: WorkerConfiguration
    let model: Qwen2Model
    let tokenizerFingerprint: String
    public let modelFingerprint: String
    let saeFingerprints: [String: String]
    private var saes: [String: SparseAutoencoder] = [:]
    private let logger: Logger

    // Per-connection state.
    private var generator: Generator?
    private var streamer: LatentStreamer?
    private var generatorSpecs: [HookpointSpec] = []
    private var nextSequence = 0
    private var taskStart: [Int: Double] = [:]
    /// Seconds per phase ("prefill", "decode", "encode") since the last TaskDone; each TaskDone
    /// carries and clears them, so the coordinator's sum over a worker's tasks is its total.
    private var phaseSeconds: [String: Double] = [:]
    private var warnedPoorFit: Set<String> = []
    /// The tasks in flight, by task id (to hand them back on SIGINT/SIGTERM).
    private var assigns: [UInt64: Assign] = [:]

    public init(configuration: WorkerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        BLAS.threadCount = configuration.threads
        Kernels.threadCount = configuration.threads
        let started = MonotonicClock.now()
        model = try Qwen2Model(directory: configuration.modelDirectory)
        modelFingerprint = model.computeFingerprint()
        let tokenizer = try BPETokenizer.load(modelDirectoryOrFile: configuration.modelDirectory)
        tokenizerFingerprint = tokenizer.fingerprint
        let hookpoints = SparseAutoencoder.hookpoints(in: configuration.saeDirectory)
        guard !hookpoints.isEmpty else {
            throw WorkerError("--sae \(configuration.saeDirectory): no hookpoint folders with cfg.json + sae.safetensors found; point it at a sparsify checkpoint directory")
        }
        var fingerprints: [String: String] = [:]
        for name in hookpoints {
            let sae = try SparseAutoencoder(checkpoint: configuration.saeDirectory, hookpoint: name, expectedDIn: model.config.hiddenSize)
            fingerprints[name] = sae.fingerprint
            saes[name] = sae
        }
        saeFingerprints = fingerprints
        logger.info("worker \(configuration.workerID) loaded model \(configuration.modelDirectory) (\(model.config.numHiddenLayers) layers, hidden \(model.config.hiddenSize)) and \(hookpoints.count) SAEs in \(String(format: "%.1f", MonotonicClock.now() - started)) s; BLAS threads \(BLAS.threadCount), kernels \(KernelPath.selected) on \(BLAS.cpuDescription)")
    }

    // MARK: The loop

    /// Runs until the coordinator shuts the worker down, rejects it, or `shouldStop` turns true.
    public func run(shouldStop: () -> Bool) throws -> WorkerExit {
        let context = try ZMQContext()
        defer { context.shutdown() }
        var backoff = ReconnectBackoff(initial: 0.25, maximum: 10)
        var lastWelcome = MonotonicClock.now()
        while true {
            if shouldStop() { return .interrupted }
            if let limit = configuration.giveUpAfter, MonotonicClock.now() - lastWelcome > limit { return .gaveUp }
            let socket = try makeSocket(context)
            defer { socket.close() }
            switch try session(socket, shouldStop: shouldStop) {
            case .ended(let exit):
                return exit
            case .lost(let welcomed):
                resetTasks()
                if welcomed {
                    backoff.reset()
                    lastWelcome = MonotonicClock.now()
                }
                let delay = backoff.nextDelay()
                logger.warning("lost the coordinator at \(configuration.endpoint); reconnecting in \(delay) s")
                sleepInterruptibly(delay, shouldStop: shouldStop)
            }
        }
    }

    private enum SessionEnd {
        case ended(WorkerExit)
        case lost(welcomed: Bool)
    }

    private func makeSocket(_ context: ZMQContext) throws -> ZMQSocket {
        let socket = try ZMQSocket(context, kind: .dealer)
        try socket.setSendHighWaterMark(configuration.sendHighWaterMark)
        try socket.setReceiveHighWaterMark(10_000)
        try socket.setMaximumMessageSize(64 << 20)
        if let server = configuration.curveServerKey {
            let keys = try configuration.curveKeys ?? CurveKeyPair.generate()
            try socket.setCurveClient(serverPublicKey: server, keys: keys)
        }
        try socket.connect(configuration.endpoint)
        return socket
    }

    private func hello() -> Message {
        .hello(Hello(
            workerID: configuration.workerID, host: ProcessInfo.processInfo.hostName,
            pid: Int(getpid()), threads: configuration.threads, batchSlots: configuration.batchSlots,
            modelFingerprint: modelFingerprint, tokenizerFingerprint: tokenizerFingerprint,
            saeFingerprints: saeFingerprints))
    }

    private func session(_ socket: ZMQSocket, shouldStop: () -> Bool) throws -> SessionEnd {
        var outbox: [Message] = [hello()]
        var welcomed = false
        var heartbeatInterval = configuration.heartbeatInterval
        var liveness = PeerLiveness(heartbeatInterval: heartbeatInterval, liveness: configuration.liveness, now: MonotonicClock.now())
        var lastSent = -Double.infinity
        var heartbeatSequence: UInt64 = 0

        while true {
            if shouldStop() {
                handBack(socket: socket)
                return .ended(.interrupted)
            }
            // Send what is queued; stop at the high-water mark (the coordinator is slow) and
            // let generation wait, so a slow coordinator slows workers instead of growing queues.
            outbox.append(contentsOf: streamer?.outbox ?? [])
            streamer?.outbox.removeAll()
            var blocked = false
            while !outbox.isEmpty {
                if try socket.send([outbox[0].encode()], mode: .nonBlocking) == .wouldBlock { blocked = true; break }
                outbox.removeFirst()
                lastSent = MonotonicClock.now()
            }
            let busy = welcomed && !blocked && !(generator?.isIdle ?? true)
            let timeout = busy ? 0 : Int(min(heartbeatInterval, 0.1) * 1000)
            let ready = try ZMQPoll.poll([PollItem(socket, events: .readable)], timeoutMilliseconds: timeout)
            if ready.first?.contains(.readable) == true {
                while let frames = try socket.receive(mode: .nonBlocking) {
                    guard frames.count == 1 else {
                        logger.warning("dropped a \(frames.count)-frame message from the coordinator (expected 1 frame)")
                        continue
                    }
                    let message: Message
                    do {
                        message = try frames[0].withUnsafeBytes { try Message.decode($0) }
                    } catch {
                        logger.warning("dropped an undecodable message from the coordinator: \(error)")
                        continue
                    }
                    liveness.heard(now: MonotonicClock.now())
                    switch message {
                    case .welcome(let welcome):
                        // Hellos are repeated until one is answered, so several welcomes can
                        // arrive: only the first opens the session (and grants credit).
                        if welcomed { break }
                        welcomed = true
                        heartbeatInterval = max(0.05, Double(welcome.heartbeatIntervalMilliseconds) / 1000)
                        liveness = PeerLiveness(heartbeatInterval: heartbeatInterval, liveness: configuration.liveness, now: MonotonicClock.now())
                        logger.info("welcomed to run \(welcome.runID) by \(configuration.endpoint)")
                        outbox.append(.credit(Credit(count: configuration.batchSlots)))
                    case .reject(let reject):
                        logger.error("the coordinator rejected this worker: \(reject.reason)")
                        return .ended(.rejected(reject.reason))
                    case .assign(let assign):
                        do {
                            try start(assign)
                        } catch {
                            logger.error("task \(assign.taskID) (\(assign.problemID)) could not start: \(error)")
                            outbox.append(.taskFailed(TaskFailed(taskID: assign.taskID, attempt: assign.attempt, reason: (error as? GeneratorError)?.reason ?? "\(error)")))
                            outbox.append(.credit(Credit(count: 1)))
                        }
                    case .cancel(let cancel):
                        streamer?.cancel(taskID: cancel.taskID)
                    case .shutdown(let shutdown):
                        logger.info("the coordinator ended the run: \(shutdown.reason)")
                        return .ended(.shutdown(shutdown.reason))
                    case .heartbeat:
                        break
                    case .hello, .credit, .latentChunk, .taskDone, .taskFailed:
                        logger.warning("ignored a \(message.typeName) message: workers do not accept it")
                    }
                }
            }
            let now = MonotonicClock.now()
            if liveness.isExpired(now: now) {
                return .lost(welcomed: welcomed)
            }
            if now - lastSent >= heartbeatInterval {
                heartbeatSequence += 1
                outbox.append(welcomed ? .heartbeat(Heartbeat(sequence: heartbeatSequence)) : hello())
                if !welcomed { lastSent = now }
            }
            if busy, let generator {
                let stepStarted = MonotonicClock.now()
                let encodedBefore = streamer?.encodeSeconds ?? 0
                generator.step()
                let encode = (streamer?.encodeSeconds ?? 0) - encodedBefore
                // The forward pass is shared by the step's rows: split it by prompt and decode rows.
                let model = max(0, MonotonicClock.now() - stepStarted - encode)
                let summary = generator.lastStep
                let promptShare = summary.rows > 0 ? Double(summary.promptRows) / Double(summary.rows) : 0
                phaseSeconds["prefill", default: 0] += model * promptShare
                phaseSeconds["decode", default: 0] += model * (1 - promptShare)
                phaseSeconds["encode", default: 0] += encode
                if configuration.stepDelay > 0 { usleep(UInt32(configuration.stepDelay * 1_000_000)) }
            }
        }
    }

    /// SIGINT/SIGTERM: tell the coordinator which tasks will not be finished here, so they
    /// are requeued at once instead of after the lease runs out.
    private func handBack(socket: ZMQSocket) {
        guard let streamer else { return }
        for id in streamer.activeTaskIDs {
            if let assign = assigns[id] {
                _ = try? socket.send([Message.taskFailed(TaskFailed(taskID: assign.taskID, attempt: assign.attempt, reason: "worker interrupted (SIGINT/SIGTERM); task handed back", handedBack: true)).encode()], mode: .nonBlocking)
            }
        }
        // Give libzmq a moment to flush before the socket closes with linger 0.
        usleep(200_000)
    }

    // MARK: Tasks

    private func start(_ assign: Assign) throws {
        if generator == nil || generatorSpecs != assign.hookpoints {
            guard generator?.isIdle ?? true else {
                throw WorkerError("task asks for hookpoints \(assign.hookpoints.map { "\($0.capture)=\($0.sae)" }) while tasks with \(generatorSpecs.map { "\($0.capture)=\($0.sae)" }) are running; one run uses one hookpoint set")
            }
            try configureGenerator(for: assign.hookpoints)
        }
        guard let generator, let streamer else { return }
        let g = assign.generation
        let sequence = nextSequence
        nextSequence += 1
        let request = GenerationRequest(
            id: sequence, promptTokens: assign.promptIDs, maxNewTokens: g.maxNewTokens,
            sampling: SamplingParameters(temperature: g.temperature, topK: g.topK, topP: Double(g.topP)),
            random: SequenceRandom(runSeed: g.seed, problemID: assign.problemID),
            stopTokens: Set(model.generationConfig.eosTokenIDs.map { Int32($0) }))
        try generator.submit(request)
        streamer.begin(sequence: sequence, assign: assign)
        assigns[assign.taskID] = assign
        taskStart[sequence] = MonotonicClock.now()
    }

    private func configureGenerator(for specs: [HookpointSpec]) throws {
        var streams: [(name: String, capture: Hookpoint, sae: SparseAutoencoder)] = []
        for spec in specs {
            let capture = try Hookpoint(parsing: spec.capture, layerCount: model.config.numHiddenLayers)
            guard let sae = saes[spec.sae] else {
                throw WorkerError("no SAE for hookpoint '\(spec.sae)' in \(configuration.saeDirectory) (it has \(saes.keys.sorted().joined(separator: ", ")))")
            }
            let name = spec.capture == spec.sae ? spec.sae : "\(spec.capture)=\(spec.sae)"
            streams.append((name, capture, sae))
        }
        let streamer = LatentStreamer(streams: streams, chunkTokens: configuration.chunkTokens)
        let capacity = min(model.config.maxPositionEmbeddings, 4096)
        let generator = Generator(model: model, slots: configuration.batchSlots, contextCapacity: capacity,
                                  hookpoints: Array(Set(streams.map(\.capture))).sorted { $0.description < $1.description },
                                  sink: streamer)
        generator.onFinish = { [weak self] result in self?.finished(result) }
        self.generator = generator
        self.streamer = streamer
        generatorSpecs = specs
    }

    private func finished(_ result: GenerationResult) {
        guard let streamer, let done = streamer.finish(sequence: result.id) else { return }
        assigns[done.assign.taskID] = nil
        let elapsed = MonotonicClock.now() - (taskStart.removeValue(forKey: result.id) ?? MonotonicClock.now())
        if !done.cancelled {
            // Loudly, but once per hookpoint: every task of a mismatched SAE would repeat it.
            for (hookpoint, fvu) in done.fvu.sorted(by: { $0.key < $1.key }) where fvu > SparseAutoencoder.poorFitFVU && !warnedPoorFit.contains(hookpoint) {
                warnedPoorFit.insert(hookpoint)
                let explained = fvu >= 1 ? "less than the mean does" : "only \(String(format: "%.0f", (1 - fvu) * 100))% of the variance"
                logger.warning("POOR SAE FIT at \(hookpoint): the SAE's reconstruction explains \(explained) (FVU \(String(format: "%.3g", fvu)) > \(SparseAutoencoder.poorFitFVU) on \(done.assign.problemID)). Its latents may not mean what they were trained to mean: check that the SAE was trained on this capture point and model.")
            }
            streamer.outbox.append(.taskDone(TaskDone(
                taskID: done.assign.taskID, attempt: done.assign.attempt, generatedIDs: result.generatedTokens,
                stopReason: result.stopReason == .endOfSequence ? .eos : .length,
                promptTokens: result.promptTokens.count, timings: phaseSeconds.merging(["total": elapsed]) { $1 },
                fvu: done.fvu)))
            phaseSeconds = [:]
        }
        streamer.outbox.append(.credit(Credit(count: 1)))
    }

    /// After a lost connection the coordinator requeues our tasks; start clean.
    private func resetTasks() {
        streamer?.abandonAll()
        assigns.removeAll()
        taskStart.removeAll()
        // A generator mid-sequence cannot be rewound; build a fresh one on the next task.
        generator = nil
        streamer = nil
        generatorSpecs = []
    }

    private func sleepInterruptibly(_ seconds: Double, shouldStop: () -> Bool) {
        let end = MonotonicClock.now() + seconds
        while MonotonicClock.now() < end && !shouldStop() { usleep(20_000) }
    }
}
