import Logging
import Protocol

/// The worker's side of one connection to the coordinator, as a state machine without I/O:
/// events go in (the session started, a message or an unreadable frame arrived, time passed,
/// something went out, a task ended, the process was asked to stop), actions come out (send
/// this, start that task, log this line, the session is over). The worker's loop owns
/// the socket, the clock, the model and the logger, feeds this, and performs what it returns;
/// tests drive it directly with plain numbers for time. One value lives for one connection.
///
/// Rules, after the ZeroMQ guide's Paranoid Pirate worker:
/// - `started` sends a hello; until a welcome arrives the hello is repeated every heartbeat
///   interval (the coordinator may not have been listening yet). Only the first welcome opens
///   the session: it sets the heartbeat interval (never below `minimumHeartbeatInterval`) and
///   grants credit for `hello.batchSlots` tasks. Later welcomes, answers to repeated hellos,
///   grant nothing.
/// - Credit: after the welcome's grant, each task that ends (done or unable to start) gives
///   back exactly one credit, after its own `taskDone` or `taskFailed`. So the credit granted is always `batchSlots` plus the tasks that have ended.
/// - Liveness: every decoded message from the coordinator renews it; `liveness` heartbeat
///   intervals of silence mean the coordinator is gone (`connectionLost`). Unreadable frames
///   do not count as hearing from it.
/// - Heartbeats go out only when nothing was sent for a whole interval (`sent` events report
///   the worker's own traffic, latent chunks included). Hellos and heartbeats share one
///   sequence counter.
/// - In flight is every assigned task from its `assign` until it is done or unable to start. On `stopRequested` each is handed back once, with its
///   attempt, as `taskFailed(handedBack: true)`, so the coordinator requeues it at once.
/// - `reject`, `shutdown`, `stopRequested` and liveness expiry end the session; after that
///   every event is answered with no action.
/// - Messages a worker does not accept, and frames it cannot read, are dropped with a log line
///   and change nothing else.
public struct WorkerSession {
    public struct Configuration: Sendable {
        /// What this worker says about itself; its `batchSlots` is the credit the welcome grants.
        public var hello: Hello
        /// Seconds between heartbeats (and hellos) until the welcome says otherwise.
        public var heartbeatInterval: Double
        /// Heartbeat intervals of silence before the coordinator is presumed gone.
        public var liveness: Int
        /// The coordinator's name in log lines (its endpoint).
        public var coordinator: String

        public init(hello: Hello, heartbeatInterval: Double, liveness: Int, coordinator: String) {
            self.hello = hello
            self.heartbeatInterval = heartbeatInterval
            self.liveness = liveness
            self.coordinator = coordinator
        }
    }

    public enum Event: Equatable {
        /// The socket is connected; `now` starts the liveness clock.
        case started(now: Double)
        /// A message from the coordinator, decoded.
        case received(Message, now: Double)
        /// A one-frame message that is not a valid message; `reason` says why.
        case undecodable(reason: String)
        /// A message of `frames` frames (the protocol uses exactly one).
        case wrongFrameCount(Int)
        /// The worker put messages on the wire (its own or ones this session asked for).
        case sent(now: Double)
        /// Time passed: check liveness, and whether a heartbeat or hello is due.
        case tick(now: Double)
        /// A task finished; its latent chunks have been queued before this.
        case taskDone(TaskDone)
        /// `startTask` failed. `reason` goes to the coordinator (it must read the same on any
        /// worker); `description` is the whole error, for the log.
        case startFailed(Assign, reason: String, description: String)
        /// SIGINT/SIGTERM: hand the tasks in flight back and end.
        case stopRequested
    }

    public enum Action: Equatable, Sendable {
        case send(Message)
        /// Begin generating this task (answer with `startFailed` if it cannot start).
        case startTask(Assign)
        case log(Logger.Level, String)
        /// The run is over for this worker.
        case end(WorkerExit)
        /// The coordinator went silent; reconnect (the backoff starts over if it had welcomed us).
        case connectionLost(welcomed: Bool)
    }

    /// The shortest heartbeat interval a welcome can set, in seconds.
    public static let minimumHeartbeatInterval = 0.05

    /// Why a handed-back task was not finished, as the coordinator logs it.
    public static let handBackReason = "worker interrupted (SIGINT/SIGTERM); task handed back"

    private enum State {
        case notStarted
        case greeting
        case welcomed
        case over
    }

    public let configuration: Configuration
    private var state = State.notStarted
    public private(set) var heartbeatInterval: Double
    private var liveness: PeerLiveness
    private var lastSent = -Double.infinity
    private var heartbeatSequence: UInt64 = 0
    /// Task id → attempt of the tasks assigned and not yet ended.
    public private(set) var inFlight: [UInt64: UInt32] = [:]

    public init(configuration: Configuration) {
        self.configuration = configuration
        heartbeatInterval = configuration.heartbeatInterval
        liveness = PeerLiveness(heartbeatInterval: configuration.heartbeatInterval, liveness: configuration.liveness, now: 0)
    }

    /// The coordinator has welcomed this worker (and the session has not ended).
    public var isWelcomed: Bool { state == .welcomed }
    /// The session has ended or lost its coordinator; it does nothing more.
    public var isOver: Bool { state == .over }

    public mutating func handle(_ event: Event) -> [Action] {
        switch (state, event) {
        case (.over, _):
            return []
        case (.notStarted, .started(let now)):
            state = .greeting
            liveness = PeerLiveness(heartbeatInterval: heartbeatInterval, liveness: configuration.liveness, now: now)
            lastSent = now
            return [.send(.hello(configuration.hello))]
        case (.notStarted, _):
            preconditionFailure("WorkerSession: \(event) before .started")
        case (_, .started):
            preconditionFailure("WorkerSession: started twice")
        case (_, .received(let message, let now)):
            liveness.heard(now: now)
            return received(message, now: now)
        case (_, .undecodable(let reason)):
            return [.log(.warning, "dropped an undecodable message from the coordinator: \(reason)")]
        case (_, .wrongFrameCount(let count)):
            return [.log(.warning, "dropped a \(count)-frame message from the coordinator (expected 1 frame)")]
        case (_, .sent(let now)):
            lastSent = now
            return []
        case (_, .tick(let now)):
            return tick(now: now)
        case (_, .taskDone(let done)):
            inFlight[done.taskID] = nil
            return [.send(.taskDone(done)), .send(.credit(Credit(count: 1)))]
        case (_, .startFailed(let assign, let reason, let description)):
            inFlight[assign.taskID] = nil
            return [
                .log(.error, "task \(assign.taskID) (\(assign.problemID)) could not start: \(description)"),
                .send(.taskFailed(TaskFailed(taskID: assign.taskID, attempt: assign.attempt, reason: reason))),
                .send(.credit(Credit(count: 1))),
            ]
        case (_, .stopRequested):
            state = .over
            let handBacks = inFlight.sorted { $0.key < $1.key }.map { task in
                Action.send(.taskFailed(TaskFailed(taskID: task.key, attempt: task.value, reason: Self.handBackReason, handedBack: true)))
            }
            inFlight.removeAll()
            return handBacks.isEmpty ? [.end(.interrupted)]
                : [.log(.info, "interrupted: handing \(handBacks.count) task(s) back to the coordinator")] + handBacks + [.end(.interrupted)]
        }
    }

    private mutating func received(_ message: Message, now: Double) -> [Action] {
        switch message {
        case .welcome(let welcome):
            // Hellos are repeated until one is answered, so several welcomes can arrive:
            // only the first opens the session (and grants credit).
            guard state == .greeting else { return [] }
            state = .welcomed
            heartbeatInterval = max(Self.minimumHeartbeatInterval, Double(welcome.heartbeatIntervalMilliseconds) / 1000)
            liveness = PeerLiveness(heartbeatInterval: heartbeatInterval, liveness: configuration.liveness, now: now)
            return [
                .log(.info, "welcomed to run \(PeerText.escaped(welcome.runID)) by \(configuration.coordinator)"),
                .send(.credit(Credit(count: configuration.hello.batchSlots))),
            ]
        case .reject(let reject):
            state = .over
            return [.log(.error, "the coordinator rejected this worker: \(PeerText.escaped(reject.reason, limit: 2000))"), .end(.rejected(reject.reason))]
        case .assign(let assign):
            inFlight[assign.taskID] = assign.attempt
            return [.startTask(assign)]
        case .shutdown(let shutdown):
            state = .over
            return [.log(.info, "the coordinator ended the run: \(PeerText.escaped(shutdown.reason))"), .end(.shutdown(shutdown.reason))]
        case .heartbeat:
            return []
        case .hello, .credit, .latentChunk, .taskDone, .taskFailed:
            return [.log(.warning, "ignored a \(message.typeName) message: workers do not accept it")]
        }
    }

    private mutating func tick(now: Double) -> [Action] {
        if liveness.isExpired(now: now) {
            let welcomed = state == .welcomed
            state = .over
            return [.connectionLost(welcomed: welcomed)]
        }
        guard now - lastSent >= heartbeatInterval else { return [] }
        heartbeatSequence += 1
        lastSent = now
        return [.send(state == .welcomed ? .heartbeat(Heartbeat(sequence: heartbeatSequence)) : .hello(configuration.hello))]
    }
}
