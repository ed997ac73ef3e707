import Experiment
import GSM8K
import ResultBundle
import Tokenizer
import Transport

/// What the coordinator of one run is given.
public struct CoordinatorConfiguration {
    public var listen: String
    public var problems: [PromptSetProblem]
    public var selectionText: String
    public var hookpoints: [HookpointSpec]
    public var outDirectory: String
    public var generation: GenerationParameters
    public var includePrompt: Bool
    public var prompt: ChatPrompt
    /// The JSONL prompt set's identity (name, sha256, fields) for the manifest and
    /// run-settings.json; nil for GSM8K, whose bundles stay as they were.
    public var dataset: JSONValue?
    public var tokenizer: BPETokenizer
    /// The model's config.json and fingerprint, as workers must match them.
    public var model: RunManifest.Model
    /// SAE hookpoint name → cfg and fingerprint, for the SAEs this run uses.
    public var saes: [String: RunManifest.SAE]
    public var curveKeys: CurveKeyPair?
    /// Z85 public keys allowed to connect (CURVE only); nil admits any key that knows ours.
    public var allowedWorkerKeys: Set<String>?
    public var heartbeatInterval: Double = 1
    /// Seconds of silence after which a worker is presumed dead.
    public var leaseSeconds: Double = 15
    public var maxAttempts: Int = 3
    /// Tell workers to exit when the run is complete (true for `thinklens run`).
    public var shutdownWorkersAtEnd: Bool = true
    /// On resume, try again the problems an earlier start recorded as failed (by default they
    /// stay failed, so a restarted run ends as the uninterrupted one would have).
    public var retryFailed: Bool = false
    /// Hand out no task until this many workers are ready (or `minWorkersWaitSeconds` have
    /// passed since listening): the first worker to say hello would otherwise take a whole
    /// batch, which for a run of few problems leaves the others idle.
    public var minWorkers: Int = 1
    public var minWorkersWaitSeconds: Double = 60
    /// Seconds a task may go without progress (no latent chunk, no result) before it is taken
    /// from its worker, which is dropped: a peer that heartbeats but never finishes cannot hold
    /// the run. 0 means automatic: ten times the longest gap between a task's progress events
    /// seen so far in this run, and never less than `CoordinatorStateMachine.minimumProgressTimeout`.
    public var progressTimeout: Double = 0
    /// The share of problems run a second time on another worker and compared bit for bit
    /// (`--verify-fraction`, 0 to 1); 0 checks nothing and leaves the bundle as without it.
    public var verifyFraction: Double = 0
    /// `--intervene` conditions, in command-line order: every problem also runs under each, with
    /// the baseline's random stream; each condition's results go to OUT/interventions/<name>/.
    /// Their edits' SAEs must be in `saes` (workers are checked against them).
    public var conditions: [InterventionCondition] = []
    /// `--intervention-latents`: whether conditions stream and store latents (all) or only their
    /// generations (none).
    public var interventionLatents: Bool = true
    /// The KV cache format every worker of the run must use (`--kv-cache`): a worker whose hello
    /// reports another is refused, so float32 and bfloat16 results never mix. Recorded in the
    /// run settings (and the bundle's manifest) only when bf16.
    public var kvCache: KVCacheDType = .standard

    public init(listen: String, problems: [PromptSetProblem], selectionText: String, hookpoints: [HookpointSpec], outDirectory: String,
                generation: GenerationParameters, includePrompt: Bool, prompt: ChatPrompt, tokenizer: BPETokenizer,
                model: RunManifest.Model, saes: [String: RunManifest.SAE]) {
        self.listen = listen
        self.problems = problems
        self.selectionText = selectionText
        self.hookpoints = hookpoints
        self.outDirectory = outDirectory
        self.generation = generation
        self.includePrompt = includePrompt
        self.prompt = prompt
        self.tokenizer = tokenizer
        self.model = model
        self.saes = saes
    }
}

public struct CoordinatorError: Error, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// How a coordinator run ended.
public struct CoordinatorOutcome {
    public var committed: Int
    public var failed: [String: [String]]
    public var interrupted: Bool
    public var bundle: BundleSummary?
}

