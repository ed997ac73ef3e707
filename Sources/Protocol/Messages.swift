import Experiment

/// The messages coordinator and worker exchange. Each travels as one msgpack map that
/// starts with the wire protocol version and the message type (see `WireKey` for the keys).
///
/// Flow: a worker sends `hello`; the coordinator answers `welcome` or `reject`. The worker
/// grants `credit(n)` and the coordinator sends at most n `assign`s against it; for each task
/// the worker streams `latentChunk`s and ends with `taskDone` or `taskFailed`. Both sides send
/// `heartbeat`s; the coordinator may `shutdown` a worker.
public enum Message: Equatable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case reject(Reject)
    case credit(Credit)
    case assign(Assign)
    case latentChunk(LatentChunk)
    case taskDone(TaskDone)
    case taskFailed(TaskFailed)
    case heartbeat(Heartbeat)
    case shutdown(Shutdown)

    /// The type name carried on the wire under `WireKey.type`; also handy in log lines.
    public var typeName: String {
        switch self {
        case .hello: return MessageType.hello.rawValue
        case .welcome: return MessageType.welcome.rawValue
        case .reject: return MessageType.reject.rawValue
        case .credit: return MessageType.credit.rawValue
        case .assign: return MessageType.assign.rawValue
        case .latentChunk: return MessageType.latentChunk.rawValue
        case .taskDone: return MessageType.taskDone.rawValue
        case .taskFailed: return MessageType.taskFailed.rawValue
        case .heartbeat: return MessageType.heartbeat.rawValue
        case .shutdown: return MessageType.shutdown.rawValue
        }
    }
}

/// A worker introduces itself and what it has loaded; the coordinator compares the
/// fingerprints with its own so that results from mismatched models never mix.
public struct Hello: Equatable, Sendable {
    public var workerID: String
    public var host: String
    public var pid: Int
    /// The protocol version the worker speaks (normally `ThinkLensVersion.wireProtocol`).
    public var protocolVersion: Int
    public var threads: Int
    /// How many sequences the worker generates at once.
    public var batchSlots: Int
    public var modelFingerprint: String
    public var tokenizerFingerprint: String
    /// Hookpoint (e.g. "layers.10.mlp") → fingerprint of the SAE loaded for it.
    public var saeFingerprints: [String: String]
    /// The format of the worker's KV cache (`--kv-cache`). On the wire only when bfloat16, so
    /// a float32 worker's hello is byte for byte what it was before the option existed.
    public var kvCache: KVCacheDType

    public init(
        workerID: String, host: String, pid: Int, protocolVersion: Int = ThinkLensVersion.wireProtocol,
        threads: Int, batchSlots: Int, modelFingerprint: String, tokenizerFingerprint: String,
        saeFingerprints: [String: String], kvCache: KVCacheDType = .standard
    ) {
        self.workerID = workerID
        self.host = host
        self.pid = pid
        self.protocolVersion = protocolVersion
        self.threads = threads
        self.batchSlots = batchSlots
        self.modelFingerprint = modelFingerprint
        self.tokenizerFingerprint = tokenizerFingerprint
        self.saeFingerprints = saeFingerprints
        self.kvCache = kvCache
    }
}

/// The coordinator accepts a worker and tells it how often to send heartbeats.
public struct Welcome: Equatable, Sendable {
    /// Identifies the run, so a worker that reconnects to a restarted coordinator notices.
    public var runID: String
    public var heartbeatIntervalMilliseconds: Int

    public init(runID: String, heartbeatIntervalMilliseconds: Int) {
        self.runID = runID
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
    }
}

/// The coordinator refuses a worker (e.g. a fingerprint mismatch); the reason is for humans.
public struct Reject: Equatable, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// The worker asks for up to `count` more tasks; the coordinator never sends more than granted.
public struct Credit: Equatable, Sendable {
    public var count: Int
    public init(count: Int) { self.count = count }
}

/// One task: generate an answer for one prompt and stream its SAE latents.
public struct Assign: Equatable, Sendable {
    public var taskID: UInt64
    /// Counts re-assignments of the same task, so late results of an abandoned attempt are dropped.
    public var attempt: UInt32
    public var problemID: String
    public var promptIDs: [Int32]
    public var generation: GenerationParameters
    public var hookpoints: [HookpointSpec]
    /// Whether latents of the prompt tokens are streamed too, not only of the generated ones.
    public var includePrompt: Bool
    /// The condition's feature edits, applied in this order (empty for the baseline and for a
    /// run without `--intervene`; then absent on the wire).
    public var edits: [FeatureEdit]
    /// Whether the worker streams this task's latents (false for an `--intervene` condition of a
    /// run with `--intervention-latents none`). `hookpoints` stays the run's either way: the
    /// tasks of one batch share one capture set.
    public var streamsLatents: Bool

    public init(
        taskID: UInt64, attempt: UInt32, problemID: String, promptIDs: [Int32],
        generation: GenerationParameters, hookpoints: [HookpointSpec], includePrompt: Bool, edits: [FeatureEdit] = [],
        streamsLatents: Bool = true
    ) {
        self.taskID = taskID
        self.attempt = attempt
        self.problemID = problemID
        self.promptIDs = promptIDs
        self.generation = generation
        self.hookpoints = hookpoints
        self.includePrompt = includePrompt
        self.edits = edits
        self.streamsLatents = streamsLatents
    }
}

/// Top-k SAE latents of consecutive tokens at one hookpoint.
public struct LatentChunk: Equatable, Sendable {
    public var taskID: UInt64
    public var attempt: UInt32
    public var hookpoint: String
    /// Position (in the whole sequence, prompt included) of `tokens[0]`.
    public var firstPosition: Int
    /// [tokens], at least one (the decoder refuses an empty chunk)
    public var tokens: [Int32]
    /// Latents kept per token.
    public var k: Int
    /// [tokens, k] row-major: latent indices of each token's top k.
    public var indices: [Int32]
    /// [tokens, k] row-major: the activations matching `indices`.
    public var activations: [Float]

    public init(
        taskID: UInt64, attempt: UInt32, hookpoint: String, firstPosition: Int,
        tokens: [Int32], k: Int, indices: [Int32], activations: [Float]
    ) {
        self.taskID = taskID
        self.attempt = attempt
        self.hookpoint = hookpoint
        self.firstPosition = firstPosition
        self.tokens = tokens
        self.k = k
        self.indices = indices
        self.activations = activations
    }

    public var tokenCount: Int { tokens.count }
}

/// A task finished; every `LatentChunk` of this attempt was sent before it.
public struct TaskDone: Equatable, Sendable {
    public var taskID: UInt64
    public var attempt: UInt32
    public var generatedIDs: [Int32]
    public var stopReason: StopReason
    public var promptTokens: Int
    /// "total" → this task's seconds on the worker; other phase names ("prefill", "decode",
    /// "encode") → the worker's seconds in that phase since its previous TaskDone, so that the
    /// sum over a worker's TaskDones is its total time per phase.
    public var timings: [String: Double]
    /// Hookpoint → fraction of variance unexplained by the SAE over this task; may be empty.
    public var fvu: [String: Double]

    public init(
        taskID: UInt64, attempt: UInt32, generatedIDs: [Int32], stopReason: StopReason,
        promptTokens: Int, timings: [String: Double], fvu: [String: Double] = [:]
    ) {
        self.taskID = taskID
        self.attempt = attempt
        self.generatedIDs = generatedIDs
        self.stopReason = stopReason
        self.promptTokens = promptTokens
        self.timings = timings
        self.fvu = fvu
    }
}

/// A task failed on the worker; the coordinator decides whether to retry it elsewhere.
public struct TaskFailed: Equatable, Sendable {
    public var taskID: UInt64
    public var attempt: UInt32
    public var reason: String
    /// The worker is shutting down and gives the task back unfinished: nothing went wrong with
    /// the task, so the coordinator requeues it without counting the attempt against it.
    /// On the wire only when true.
    public var handedBack: Bool

    public init(taskID: UInt64, attempt: UInt32, reason: String, handedBack: Bool = false) {
        self.taskID = taskID
        self.attempt = attempt
        self.reason = reason
        self.handedBack = handedBack
    }
}

/// Liveness signal, sent both ways.
public struct Heartbeat: Equatable, Sendable {
    /// Increases by one per heartbeat from the same sender; gaps show lost heartbeats.
    public var sequence: UInt64

    public init(sequence: UInt64) {
        self.sequence = sequence
    }
}

/// The coordinator tells a worker to stop; the reason is for humans.
public struct Shutdown: Equatable, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}
