import Experiment
import Foundation
import ResultBundle

/// Counters the coordinator loop keeps for the progress display and `run.json`.
public struct RunProgress: Sendable {
    public var total: Int
    public var done = 0
    public var failed = 0
    public var tokens = 0
    public var workersAlive = 0
    public var requeues = 0
    public let started: Double
    /// Problems already committed when this coordinator started (resume); they do not count
    /// towards the rate, only towards done.
    public var resumed = 0

    public init(total: Int, started: Double) {
        self.total = total
        self.started = started
    }

    /// One line: `12/32 problems (1 failed) · 431 tok/s · 2 workers · 0 requeues · ETA 1m05s`.
    public func line(now: Double) -> String {
        let elapsed = max(now - started, 1e-9)
        let rate = Double(tokens) / elapsed
        let finishedHere = done + failed - resumed
        var eta = "ETA --"
        if finishedHere > 0 {
            let remaining = Double(total - done - failed) * elapsed / Double(finishedHere)
            eta = "ETA " + Self.duration(remaining)
        }
        let failedText = failed > 0 ? " (\(failed) failed)" : ""
        return "\(done + failed)/\(total) problems\(failedText) · \(String(format: "%.0f", rate)) tok/s · \(workersAlive) worker\(workersAlive == 1 ? "" : "s") · \(requeues) requeue\(requeues == 1 ? "" : "s") · \(eta)"
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }
}

/// Shows progress on a terminal as one redrawn line, or as a log line every
/// `logInterval` seconds when stderr is not a terminal (CI, Slurm, systemd).
public final class ProgressReporter {
    private let isTerminal: Bool
    private let logInterval: Double
    private let redrawInterval = 0.2
    private var lastDraw = -Double.infinity
    private let write: (String) -> Void

    public init(isTerminal: Bool = isatty(STDERR_FILENO) != 0, logInterval: Double = 10, write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.isTerminal = isTerminal
        self.logInterval = logInterval
        self.write = write
    }

    public func update(_ progress: RunProgress, now: Double, force: Bool = false) {
        let interval = isTerminal ? redrawInterval : logInterval
        guard force || now - lastDraw >= interval else { return }
        lastDraw = now
        if isTerminal {
            write("\r\u{1B}[2K" + progress.line(now: now))
        } else {
            write("progress: " + progress.line(now: now) + "\n")
        }
    }

    /// Ends the redrawn line so later output starts on a fresh one.
    public func finish(_ progress: RunProgress, now: Double) {
        update(progress, now: now, force: true)
        if isTerminal { write("\n") }
    }
}
