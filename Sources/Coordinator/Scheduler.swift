/// The coordinator's task bookkeeping as a state machine without I/O: events go in
/// (a worker joined, granted credit, finished or failed a task, went silent), decisions
/// come out (which task to send where, which tasks were lost). The event loop owns the
/// sockets and the clock and feeds this; tests drive it directly.
///
/// Rules, after the ZeroMQ guide's reliable patterns:
/// - Workers pull: a worker is sent at most as many tasks as it has granted credit for.
/// - Every task attempt is numbered; only the current attempt of a task, from the worker
///   it was given to, can finish it. Late or duplicate results are ignored.
/// - A worker that stays silent past its lease is presumed dead; its tasks go back to
///   the front of the queue with the next attempt number.
/// - A task that has used up `maxAttempts` is recorded as failed, with every reason.
/// - A task the journal holds is done, whichever attempt sent it (`committed`): its worker may
///   have been dropped between sending the result and the group commit.
public struct Scheduler<WorkerKey: Hashable> {
    public struct Configuration: Sendable {
        /// Seconds of silence after which a worker is presumed dead.
        public var leaseSeconds: Double
        /// Attempts per task before it is recorded as failed (worker deaths count).
        public var maxAttempts: Int

        public init(leaseSeconds: Double = 30, maxAttempts: Int = 3) {
            self.leaseSeconds = leaseSeconds
            self.maxAttempts = maxAttempts
        }
    }

    /// One task handed out: what to send to which worker.
    public struct Assignment: Equatable {
        public let worker: WorkerKey
        public let task: Int
        public let attempt: UInt32
    }

    /// What happened to a task's result when it arrived.
    public enum Outcome: Equatable {
        /// The current attempt finished: commit it.
        case accepted
        /// A result for an attempt that is no longer current, or from the wrong worker: drop it.
        case stale
    }

    private struct WorkerState {
        var credit: Int = 0
        var lastHeard: Double
        var tasks: Set<Int> = []
        var joinOrder: Int
    }

    private struct InFlight {
        let worker: WorkerKey
        let attempt: UInt32
    }

    public let configuration: Configuration
    /// Tasks known so far: the run's problems, then any added while it runs (`addTask`).
    public private(set) var taskCount: Int

    private var pending: [Int]          // a stack: the next task is at the end
    private var inFlight: [Int: InFlight] = [:]
    private var attemptsUsed: [Int]
    /// Attempts given back unfinished (not counted against maxAttempts, up to a bound).
    private var handBacks: [Int: Int] = [:]
    private var reasons: [Int: [String]] = [:]
    private var workers: [WorkerKey: WorkerState] = [:]
    private var joined = 0
    private var rotation = 0

    public private(set) var completed: Set<Int> = []
    public private(set) var failed: Set<Int> = []
    /// Tasks put back in the queue after a worker died or failed them.
    public private(set) var requeues = 0

    /// `tasks` are indices into the run's problem selection; `alreadyDone` ones (from the
    /// journal of an interrupted run) are never handed out, and neither are `alreadyFailed`
    /// ones, which stay failed with the reasons recorded then.
    public init(taskCount: Int, alreadyDone: Set<Int> = [], alreadyFailed: [Int: [String]] = [:],
                configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.taskCount = taskCount
        self.completed = alreadyDone
        let failedBefore = Set(alreadyFailed.keys).subtracting(alreadyDone)
        self.failed = failedBefore
        for task in failedBefore { reasons[task] = alreadyFailed[task] }
        self.pending = (0..<taskCount).reversed().filter { !alreadyDone.contains($0) && !failedBefore.contains($0) }
        self.attemptsUsed = Array(repeating: 0, count: taskCount)
    }

    // MARK: Queries

    public var isFinished: Bool { completed.count + failed.count == taskCount }
    public var pendingCount: Int { pending.count }
    /// Queued tasks, next first.
    public var pendingTasks: [Int] { pending.reversed() }
    public var inFlightCount: Int { inFlight.count }
    public var workerCount: Int { workers.count }
    /// Workers that have granted credit (are ready to take a task).
    public var readyWorkerCount: Int { workers.values.filter { $0.credit > 0 }.count }
    public func isKnown(_ worker: WorkerKey) -> Bool { workers[worker] != nil }
    public func tasks(of worker: WorkerKey) -> Set<Int> { workers[worker]?.tasks ?? [] }
    public func failureReasons(for task: Int) -> [String] { reasons[task] ?? [] }

    /// The attempt number currently out for `task`, if any (chunks for other attempts are dropped).
    public func currentAttempt(of task: Int, by worker: WorkerKey) -> UInt32? {
        guard let flight = inFlight[task], flight.worker == worker else { return nil }
        return flight.attempt
    }

    // MARK: Events

    /// A task that did not exist when the run started (a second run of a problem, to check a
    /// result): it goes to the front of the queue and gets the next index.
    public mutating func addTask() -> Int {
        let task = taskCount
        taskCount += 1
        attemptsUsed.append(0)
        pending.append(task)
        return task
    }

    public mutating func workerJoined(_ worker: WorkerKey, now: Double) {
        if workers[worker] != nil { return }
        workers[worker] = WorkerState(lastHeard: now, joinOrder: joined)
        joined += 1
    }

    /// Any message from a known worker renews its lease.
    public mutating func heard(from worker: WorkerKey, now: Double) {
        workers[worker]?.lastHeard = now
    }

    /// The worker can take `n` more tasks (credit adds up, as in credit-based flow control).
    /// `n` comes from a peer: the open credit never exceeds `limit` (the worker's batch slots,
    /// all an honest worker ever has open), and the sum never overflows.
    public mutating func granted(_ n: Int, by worker: WorkerKey, limit: Int = .max) {
        guard n > 0, let credit = workers[worker]?.credit else { return }
        workers[worker]?.credit = credit + min(n, max(0, limit - credit))
    }

    /// Credit `worker` has granted and not yet used.
    public func openCredit(of worker: WorkerKey) -> Int { workers[worker]?.credit ?? 0 }

    /// A worker left (said goodbye, was rejected, or its connection is known dead):
    /// its tasks go back to the queue. Returns the requeued tasks.
    @discardableResult
    public mutating func workerLost(_ worker: WorkerKey, reason: String) -> [Int] {
        guard let state = workers.removeValue(forKey: worker) else { return [] }
        var back: [Int] = []
        for task in state.tasks.sorted(by: >) {
            inFlight[task] = nil
            if giveUpOrRequeue(task, reason: reason) { back.append(task) }
        }
        return back.sorted()
    }

    /// Workers silent for longer than the lease at `now`: each is dropped and its tasks requeued.
    public mutating func expire(now: Double) -> [(worker: WorkerKey, requeued: [Int])] {
        let dead = workers.filter { now - $0.value.lastHeard > configuration.leaseSeconds }
            .sorted { $0.value.joinOrder < $1.value.joinOrder }
            .map(\.key)
        return dead.map { worker in
            (worker, workerLost(worker, reason: "worker silent for more than \(configuration.leaseSeconds) s"))
        }
    }

    /// A result for (task, attempt) from `worker`. Only the current attempt counts.
    public mutating func finished(_ task: Int, attempt: UInt32, by worker: WorkerKey) -> Outcome {
        guard release(task, attempt: attempt, by: worker) else { return .stale }
        completed.insert(task)
        return .accepted
    }

    /// The journal holds a result of `task`, whichever attempt it came from: the task is done.
    /// Its worker may have been dropped after sending the result and before the group commit,
    /// which put the task back in the queue (or failed it, out of attempts): it leaves the queue,
    /// the failed set and flight (a later result of that attempt is stale). Returns false when
    /// the task was already done.
    public mutating func committed(_ task: Int) -> Bool {
        guard completed.insert(task).inserted else { return false }
        if let flight = inFlight.removeValue(forKey: task) { workers[flight.worker]?.tasks.remove(task) }
        pending.removeAll { $0 == task }
        failed.remove(task)
        reasons[task] = nil
        return true
    }

    /// A queued task that will not run after all (a check no worker may take): it counts as
    /// done, so the run can end.
    public mutating func withdraw(_ task: Int) {
        guard pending.contains(task) else { return }
        _ = committed(task)
    }

    /// Takes (task, attempt) out of flight when it is the current attempt from `worker`.
    private mutating func release(_ task: Int, attempt: UInt32, by worker: WorkerKey) -> Bool {
        guard let flight = inFlight[task], flight.worker == worker, flight.attempt == attempt else { return false }
        inFlight[task] = nil
        workers[worker]?.tasks.remove(task)
        return true
    }

    /// The worker could not do (task, attempt); it is retried elsewhere until attempts run out.
    public mutating func failed(_ task: Int, attempt: UInt32, by worker: WorkerKey, reason: String) -> Outcome {
        guard release(task, attempt: attempt, by: worker) else { return .stale }
        giveUpOrRequeue(task, reason: reason)
        return .accepted
    }

    /// The worker gave (task, attempt) back unfinished because it is shutting down: requeued at
    /// once and, up to maxAttempts times, not counted against the task (preempted nodes and
    /// rolling restarts are not the task's fault; the bound stops a worker that always hands
    /// back from cycling a task forever).
    public mutating func handedBack(_ task: Int, attempt: UInt32, by worker: WorkerKey) -> Outcome {
        guard release(task, attempt: attempt, by: worker) else { return .stale }
        if handBacks[task, default: 0] < configuration.maxAttempts {
            handBacks[task, default: 0] += 1
            pending.append(task)
            requeues += 1
        } else {
            giveUpOrRequeue(task, reason: "handed back unfinished more than \(configuration.maxAttempts) times")
        }
        return .accepted
    }

    /// Hands out queued tasks to workers with credit, one at a time round-robin so a
    /// fast-granting worker cannot starve the others. Each assignment uses one credit.
    /// `isAllowed(task, worker)` keeps a task from a worker (a check must run elsewhere than
    /// the result it checks); a worker gets the next queued task it is allowed.
    public mutating func assign(isAllowed: (Int, WorkerKey) -> Bool = { _, _ in true }) -> [Assignment] {
        var out: [Assignment] = []
        let order = workers.sorted { $0.value.joinOrder < $1.value.joinOrder }.map(\.key)
        guard !order.isEmpty else { return out }
        var progress = true
        while !pending.isEmpty && progress {
            progress = false
            for offset in 0..<order.count {
                guard !pending.isEmpty else { break }
                let worker = order[(rotation + offset) % order.count]
                guard var state = workers[worker], state.credit > 0,
                      let slot = pending.lastIndex(where: { isAllowed($0, worker) }) else { continue }
                let task = pending.remove(at: slot)
                attemptsUsed[task] += 1
                let attempt = UInt32(attemptsUsed[task])
                state.credit -= 1
                state.tasks.insert(task)
                workers[worker] = state
                inFlight[task] = InFlight(worker: worker, attempt: attempt)
                out.append(Assignment(worker: worker, task: task, attempt: attempt))
                progress = true
            }
            rotation = (rotation + 1) % order.count
        }
        return out
    }

    /// Returns true when the task went back to the queue, false when it is now failed.
    @discardableResult
    private mutating func giveUpOrRequeue(_ task: Int, reason: String) -> Bool {
        reasons[task, default: []].append("attempt \(attemptsUsed[task]): \(reason)")
        if attemptsUsed[task] - handBacks[task, default: 0] >= configuration.maxAttempts {
            failed.insert(task)
            return false
        }
        // Front of the queue: a lost task should not wait behind the whole backlog.
        pending.append(task)
        requeues += 1
        return true
    }
}
