import Testing
@testable import Coordinator

@Suite struct RunProgressTests {
    @Test func lineShowsCountsRateWorkersAndETA() {
        var p = RunProgress(total: 32, started: 0)
        p.done = 8
        p.tokens = 4000
        p.workersAlive = 2
        p.requeues = 1
        // 8 problems in 10 s → 24 more take 30 s.
        #expect(p.line(now: 10) == "8/32 problems · 400 tok/s · 2 workers · 1 requeue · ETA 30s")
    }

    @Test func resumedProblemsDoNotInflateTheEstimate() {
        var p = RunProgress(total: 10, started: 0)
        p.resumed = 5
        p.done = 6
        // Only one problem was done by this coordinator, in 60 s; 4 remain.
        #expect(p.line(now: 60).hasSuffix("ETA 4m00s"))
    }

    @Test func terminalRedrawsOneLineAndLogsOtherwise() {
        var lines: [String] = []
        let log = ProgressReporter(isTerminal: false, logInterval: 10) { lines.append($0) }
        let p = RunProgress(total: 1, started: 0)
        log.update(p, now: 0)
        log.update(p, now: 5)
        log.update(p, now: 11)
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.hasPrefix("progress: ") && $0.hasSuffix("\n") })

        var drawn: [String] = []
        let tty = ProgressReporter(isTerminal: true) { drawn.append($0) }
        tty.update(p, now: 0)
        tty.finish(p, now: 0.01)
        #expect(drawn.first?.hasPrefix("\r") == true)
        #expect(drawn.last == "\n")
    }
}
