import Platform
import Checkpoints
import Compute
import Experiment
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
    /// Positions each batch slot's KV cache holds (longest prompt + max_new_tokens); nil for
    /// `defaultContextTokens`. A task that needs more fails with a reason naming the numbers.
    public var contextTokens: Int? = nil
    /// The KV cache's format (`--kv-cache`); reported in the hello, so a coordinator whose run
    /// uses another format refuses this worker instead of mixing results.
    public var kvCache: KVCacheDType = .standard
    /// Seconds to sleep after each generation step. Fault tests use it to make tasks last
    /// long enough to kill a process mid-task; 0 in normal runs.
    public var stepDelay: Double = 0

    /// The context when none is given: 4,096 positions (or the model's limit, if lower), room
    /// for the study's prompts and 400 new tokens many times over.
    public static func defaultContextTokens(maxPositionEmbeddings: Int) -> Int { min(maxPositionEmbeddings, 4096) }

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
public enum WorkerExit: Equatable, Sendable {
    /// The coordinator said the run is over.
    case shutdown(String)
    /// The coordinator refused this worker (e.g. a different model); retrying cannot help.
    case rejected(String)
    /// SIGINT/SIGTERM: in-flight tasks were handed back.
    case interrupted
    /// No coordinator answered within `giveUpAfter`; what the last attempt saw.
    case gaveUp(String)
}

/// A worker process: loads the model and SAEs once, then pulls tasks from the coordinator,
/// generates, encodes, and streams latents back. One thread owns the socket and the model;
/// between generation steps it services the socket, so heartbeats keep flowing.
///
/// The protocol's rules live in `WorkerSession` and the model's side in `TaskRunner`; this
/// class does the I/O between them: it polls the socket, decodes what arrives, feeds the
/// session, and performs the actions it returns.
public final class Worker {
    public let configuration: WorkerConfiguration
    let tokenizerFingerprint: String
    public let modelFingerprint: String
    let saeFingerprints: [String: String]
    private let logger: Logger
    private let tasks: TaskRunner

    // Per-connection state.
    private var session: WorkerSession?
    /// Messages waiting for the socket, in order.
    private var outbox: [Message] = []
    private var sessionEnd: SessionEnd?

    public init(configuration: WorkerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        BLAS.threadCount = configuration.threads
        Kernels.threadCount = configuration.threads
        let started = MonotonicClock.now()
        let model = try Qwen2Model(directory: configuration.modelDirectory)
        modelFingerprint = model.computeFingerprint()
        let tokenizer = try BPETokenizer.load(modelDirectoryOrFile: configuration.modelDirectory)
        tokenizerFingerprint = tokenizer.fingerprint
        let hookpoints = SAECheckpoint.hookpoints(in: configuration.saeDirectory)
        for folder in SAECheckpoint.incompleteHookpoints(in: configuration.saeDirectory) {
            logger.warning("--sae \(configuration.saeDirectory): \(folder)/ has sae.safetensors but no cfg.json, so that SAE is not loaded; a run that uses \(folder) will refuse this worker")
        }
        guard !hookpoints.isEmpty else {
            throw WorkerError("--sae \(configuration.saeDirectory): no hookpoint folders with cfg.json + sae.safetensors found; point it at a sparsify checkpoint directory")
        }
        var fingerprints: [String: String] = [:]
        var saes: [String: SparseAutoencoder] = [:]
        for name in hookpoints {
            let sae = try SparseAutoencoder(checkpoint: configuration.saeDirectory, hookpoint: name, expectedDIn: model.config.hiddenSize)
            fingerprints[name] = sae.fingerprint
            saes[name] = sae
        }
        saeFingerprints = fingerprints
        // Before connecting (before any work): say what memory this worker will need, and refuse
        // when the machine does not have it.
        let contextTokens = configuration.contextTokens ?? WorkerConfiguration.defaultContextTokens(maxPositionEmbeddings: model.config.maxPositionEmbeddings)
        let plan = MemoryPlan(
            config: model.config,
            weightBytes: MemoryPlan.fileBytes(MemoryPlan.modelWeightFiles(directory: configuration.modelDirectory)
                + hookpoints.map { SAECheckpoint.weightsPath(checkpoint: configuration.saeDirectory, hookpoint: $0) }),
            slots: configuration.batchSlots, contextTokens: contextTokens, kvCache: configuration.kvCache)
        logger.info("worker \(configuration.workerID) \(plan.summary)")
        try plan.check(availableBytes: SystemMemory.available())
        tasks = TaskRunner(model: model, saes: saes, saeDirectory: configuration.saeDirectory, batchSlots: configuration.batchSlots,
                           contextTokens: contextTokens, kvCache: configuration.kvCache,
                           chunkTokens: configuration.chunkTokens, stepDelay: configuration.stepDelay, logger: logger)
        tasks.onEnded = { [weak self] done in self?.feed(.taskDone(done)) }
        logger.info("worker \(configuration.workerID) loaded model \(configuration.modelDirectory) (\(model.config.numHiddenLayers) layers, hidden \(model.config.hiddenSize)) and \(hookpoints.count) SAEs in \(String(format: "%.1f", MonotonicClock.now() - started)) s; BLAS threads \(BLAS.threadCount), kernels \(KernelPath.selected) on \(BLAS.cpuDescription)")
    }

    // MARK: The loop

    /// Runs until the coordinator shuts the worker down, rejects it, or `shouldStop` turns true.
    public func run(shouldStop: () -> Bool) throws -> WorkerExit {
        let context = try ZMQContext()
        defer { context.shutdown() }
        var backoff = ReconnectBackoff(initial: 0.25, maximum: 10)
        var lastWelcome = MonotonicClock.now()
        var lastProblem = "no coordinator answered at \(configuration.endpoint)"
        while true {
            if shouldStop() { return .interrupted }
            if let limit = configuration.giveUpAfter, MonotonicClock.now() - lastWelcome > limit { return .gaveUp(lastProblem) }
            let (socket, monitor) = try makeSocket(context)
            defer {
                monitor.close()
                socket.close()
            }
            var report = ConnectionReport()
            switch try serve(socket, monitor: monitor, report: &report, shouldStop: shouldStop) {
            case .ended(let exit):
                return exit
            case .lost(let welcomed):
                tasks.reset()
                let delay: Double
                if welcomed {
                    backoff.reset()
                    lastWelcome = MonotonicClock.now()
                    delay = backoff.nextDelay()
                    logger.warning("lost the coordinator at \(configuration.endpoint); reconnecting in \(delay) s")
                } else {
                    delay = backoff.nextDelay()
                    lastProblem = report.explanation(endpoint: configuration.endpoint, usesCurve: configuration.curveServerKey != nil,
                                                     publicKey: configuration.curveKeys?.publicKey)
                    if report.isRefusal { return .rejected(lastProblem) }
                    logger.warning("\(lastProblem); trying again in \(delay) s")
                }
                sleepInterruptibly(delay, shouldStop: shouldStop)
            }
        }
    }

    private enum SessionEnd {
        case ended(WorkerExit)
        case lost(welcomed: Bool)
    }

    /// The data socket, and its monitor attached before it connects (so no event is missed).
    private func makeSocket(_ context: ZMQContext) throws -> (ZMQSocket, ZMQMonitor) {
        let socket = try ZMQSocket(context, kind: .dealer)
        try socket.setSendHighWaterMark(configuration.sendHighWaterMark)
        try socket.setReceiveHighWaterMark(10_000)
        try socket.setMaximumMessageSize(64 << 20)
        if let server = configuration.curveServerKey {
            let keys = try configuration.curveKeys ?? CurveKeyPair.generate()
            try socket.setCurveClient(serverPublicKey: server, keys: keys)
        }
        let monitor = try ZMQMonitor(socket, context: context)
        try socket.connect(configuration.endpoint)
        return (socket, monitor)
    }

    private func sessionConfiguration() -> WorkerSession.Configuration {
        let hello = Hello(
            workerID: configuration.workerID, host: ProcessInfo.processInfo.hostName,
            pid: Int(getpid()), threads: configuration.threads, batchSlots: configuration.batchSlots,
            modelFingerprint: modelFingerprint, tokenizerFingerprint: tokenizerFingerprint,
            saeFingerprints: saeFingerprints, kvCache: configuration.kvCache)
        return WorkerSession.Configuration(
            hello: hello, heartbeatInterval: configuration.heartbeatInterval,
            liveness: configuration.liveness, coordinator: configuration.endpoint)
    }

    /// One connection: feeds the socket's messages, the clock and the generator's results to a
    /// `WorkerSession` and performs its actions, generating between polls while there is work.
    private func serve(_ socket: ZMQSocket, monitor: ZMQMonitor, report: inout ConnectionReport, shouldStop: () -> Bool) throws -> SessionEnd {
        session = WorkerSession(configuration: sessionConfiguration())
        outbox = []
        sessionEnd = nil
        feed(.started(now: MonotonicClock.now()))
        while true {
            if shouldStop() {
                // Unsent messages of an ending session are dropped; the hand-backs go out directly.
                outbox.removeAll()
                _ = tasks.takeChunks()
                feed(.stopRequested)
                for message in outbox { _ = try? socket.send([message.encode()], mode: .nonBlocking) }
                // Give libzmq a moment to flush before the socket closes with linger 0.
                usleep(200_000)
                return sessionEnd ?? .ended(.interrupted)
            }
            let blocked = try flush(socket)
            let welcomed = session?.isWelcomed ?? false
            let busy = welcomed && !blocked && !tasks.isIdle
            let timeout = busy ? 0 : Int(min(session?.heartbeatInterval ?? 0.1, 0.1) * 1000)
            let ready = try ZMQPoll.poll([PollItem(socket, events: .readable)], timeoutMilliseconds: timeout)
            if ready.first?.contains(.readable) == true {
                while sessionEnd == nil, let frames = try socket.receive(mode: .nonBlocking) {
                    feed(Self.event(for: frames, now: MonotonicClock.now()))
                }
            }
            report.add(monitor.drain())
            if report.isRefusal, !(session?.isWelcomed ?? false) {
                // A refused key is final: say so now rather than after the liveness timeout.
                return .ended(.rejected(report.explanation(endpoint: configuration.endpoint, usesCurve: true,
                                                           publicKey: configuration.curveKeys?.publicKey)))
            }
            if sessionEnd == nil { feed(.tick(now: MonotonicClock.now())) }
            if let sessionEnd { return sessionEnd }
            if busy { tasks.step() }
        }
    }

    private static func event(for frames: [Frame], now: Double) -> WorkerSession.Event {
        guard frames.count == 1 else { return .wrongFrameCount(frames.count) }
        do {
            return .received(try frames[0].withUnsafeBytes { try Message.decode($0) }, now: now)
        } catch {
            return .undecodable(reason: "\(error)")
        }
    }

    private func feed(_ event: WorkerSession.Event) {
        for action in session?.handle(event) ?? [] { perform(action) }
    }

    private func perform(_ action: WorkerSession.Action) {
        switch action {
        case .send(let message):
            queue(message)
        case .startTask(let assign):
            do {
                try tasks.start(assign)
            } catch {
                feed(.startFailed(assign, reason: (error as? GeneratorError)?.reason ?? "\(error)", description: "\(error)"))
            }
        case .log(let level, let text):
            logger.log(level: level, "\(text)")
        case .end(let exit):
            sessionEnd = .ended(exit)
        case .connectionLost(let welcomed):
            sessionEnd = .lost(welcomed: welcomed)
        }
    }

    /// Appends to the outbox after the latent chunks queued so far, so a task's chunks
    /// always precede its TaskDone.
    private func queue(_ message: Message) {
        outbox.append(contentsOf: tasks.takeChunks())
        outbox.append(message)
    }

    /// Sends what is queued; stops at the high-water mark (the coordinator is slow) and lets
    /// generation wait, so a slow coordinator slows workers instead of growing queues.
    /// Returns whether sending would block.
    private func flush(_ socket: ZMQSocket) throws -> Bool {
        outbox.append(contentsOf: tasks.takeChunks())
        var sent = 0
        defer { if sent > 0 { feed(.sent(now: MonotonicClock.now())) } }
        while sent < outbox.count {
            if try socket.send([outbox[sent].encode()], mode: .nonBlocking) == .wouldBlock {
                outbox.removeFirst(sent)
                return true
            }
            sent += 1
        }
        outbox.removeAll(keepingCapacity: true)
        return false
    }

    private func sleepInterruptibly(_ seconds: Double, shouldStop: () -> Bool) {
        let end = MonotonicClock.now() + seconds
        while MonotonicClock.now() < end && !shouldStop() { usleep(20_000) }
    }
}
