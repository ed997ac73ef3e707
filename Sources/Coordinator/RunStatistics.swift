import Foundation
import ResultBundle

/// What happened during one coordinator start, for `run.json`: when work began and ended, how
/// many peers were turned away, and what each worker (by "id@host") did. None of it enters the
/// rest of the bundle, which must not depend on timing or on which worker ran what.
struct RunStatistics {
    struct WorkerHistory {
        var host: String
        var tasks = 0, tokens = 0
        var seconds = 0.0
        var phases: [String: Double] = [:]
    }

    /// Monotonic seconds: when this start began, when the first task went out, when the last
    /// one was committed.
    let started: Double
    var firstAssigned: Double?
    var lastCommitted: Double?
    var rejectedWorkers = 0
    var garbageMessages = 0
    var workers: [String: WorkerHistory] = [:]

    init(started: Double) { self.started = started }

    mutating func recordFinished(by key: String, host: String, tokens: Int, timings: [String: Double]) {
        var history = workers[key] ?? WorkerHistory(host: host)
        history.tasks += 1
        history.tokens += tokens
        // Peer-supplied: a NaN or a negative time would poison the sums in run.json.
        if let total = timings["total"], total.isFinite, total >= 0 { history.seconds += total }
        for (phase, seconds) in timings where phase != "total" && seconds.isFinite && seconds >= 0 {
            history.phases[phase, default: 0] += seconds
        }
        workers[key] = history
    }

    /// The `run.json` object. `progress` carries the run-wide counters.
    func json(endpoint: String, requeues: Int, progress: RunProgress, now: Double, startedWall: Date, finishedWall: Date) -> JSONValue {
        let elapsed = now - started
        let formatter = ISO8601DateFormatter()
        // Coordinator wall time: until the first task went out (loading, tokenizing, waiting for
        // workers), generating until the last commit, then the rest (before the bundle is written).
        let generationStart = firstAssigned ?? now, generationEnd = max(lastCommitted ?? generationStart, generationStart)
        var phases: [String: JSONValue] = [
            "setup": .double(generationStart - started), "generation": .double(generationEnd - generationStart),
            "finalize": .double(now - generationEnd),
        ]
        var workerPhases: [String: Double] = [:]
        for h in workers.values { workerPhases.merge(h.phases) { $0 + $1 } }
        phases["worker_seconds"] = .object(workerPhases.mapValues { .double($0) })
        return .object([
            "started": .string(formatter.string(from: startedWall)),
            "finished": .string(formatter.string(from: finishedWall)),
            "seconds": .double(elapsed),
            "endpoint": .string(endpoint),
            "requeues": .int(Int64(requeues)),
            "rejected_workers": .int(Int64(rejectedWorkers)),
            "dropped_messages": .int(Int64(garbageMessages)),
            "resumed_problems": .int(Int64(progress.resumed)),
            "tokens_generated_here": .int(Int64(progress.tokens)),
            "tokens_per_second": .double(Double(progress.tokens) / max(elapsed, 1e-9)),
            "phases": .object(phases),
            "workers": .array(workers.keys.sorted().map { key in
                let h = workers[key]!
                return .object([
                    "worker": .string(key), "host": .string(h.host), "tasks": .int(Int64(h.tasks)),
                    "tokens": .int(Int64(h.tokens)), "busy_seconds": .double(h.seconds),
                    "tokens_per_second": .double(h.seconds > 0 ? Double(h.tokens) / h.seconds : 0),
                    "phase_seconds": .object(h.phases.mapValues { .double($0) }),
                ])
            }),
        ])
    }
}
