import Testing
@testable import Coordinator

/// The coordinator's scheduling rules, driven without sockets or clocks.
@Suite struct SchedulerTests {
    typealias S = Scheduler<String>

    @Test func workersReceiveNoMoreTasksThanTheirCredit() {
        var s = S(taskCount: 10)
        s.workerJoined("a", now: 0)
        s.granted(3, by: "a")
        let sent = s.assign()
        #expect(sent.count == 3)
        #expect(s.assign().isEmpty)
        #expect(s.pendingCount == 7)
    }

    @Test func tasksGoOutInSelectionOrder() {
        var s = S(taskCount: 4)
        s.workerJoined("a", now: 0)
        s.granted(4, by: "a")
        #expect(s.assign().map(\.task) == [0, 1, 2, 3])
    }

    @Test func creditIsSharedRoundRobin() {
        var s = S(taskCount: 4)
        s.workerJoined("a", now: 0)
        s.workerJoined("b", now: 0)
        s.granted(4, by: "a")
        s.granted(4, by: "b")
        let sent = s.assign()
        #expect(sent.prefix(2).map(\.worker) == ["a", "b"])
        #expect(sent.filter { $0.worker == "a" }.count == 2)
        #expect(sent.filter { $0.worker == "b" }.count == 2)
    }

    @Test func onlyTheCurrentAttemptFromItsWorkerCompletesATask() {
        var s = S(taskCount: 1)
        s.workerJoined("a", now: 0)
        s.workerJoined("b", now: 0)
        s.granted(1, by: "a")
        let first = s.assign()[0]
        #expect(s.finished(first.task, attempt: first.attempt, by: "b") == .stale)
        #expect(s.finished(first.task, attempt: first.attempt + 1, by: "a") == .stale)
        #expect(s.finished(first.task, attempt: first.attempt, by: "a") == .accepted)
        #expect(s.finished(first.task, attempt: first.attempt, by: "a") == .stale)
        #expect(s.isFinished)
    }

    @Test func aTaskTheJournalHoldsIsDoneWhateverBecameOfItsAttempt() {
        var s = S(taskCount: 3, configuration: .init(maxAttempts: 1))
        s.workerJoined("a", now: 0)
        s.granted(2, by: "a")
        _ = s.assign()
        s.workerLost("a", reason: "gone")   // one attempt each: tasks 0 and 1 fail
        let first = s.committed(0), queued = s.committed(2), again = s.committed(0)
        #expect(first && queued && !again)
        #expect(s.completed == [0, 2])
        #expect(s.failed == [1])
        #expect(s.failureReasons(for: 0).isEmpty)
        #expect(s.pendingCount == 0)
        #expect(s.isFinished)
    }

    @Test func silentWorkerLosesItsTasksToTheNextAttempt() {
        var s = S(taskCount: 2, configuration: .init(leaseSeconds: 5, maxAttempts: 3))
        s.workerJoined("a", now: 0)
        s.workerJoined("b", now: 0)
        s.granted(2, by: "a")
        let sent = s.assign()
        #expect(sent.count == 2)
        s.heard(from: "b", now: 6)
        let dead = s.expire(now: 6)
        #expect(dead.map(\.worker) == ["a"])
        #expect(dead[0].requeued == [0, 1])
        #expect(s.requeues == 2)
        s.granted(2, by: "b")
        let again = s.assign()
        #expect(again.map(\.task) == [0, 1])
        #expect(again.allSatisfy { $0.attempt == 2 && $0.worker == "b" })
        // The presumed-dead worker's late result is ignored.
        #expect(s.finished(0, attempt: 1, by: "a") == .stale)
        #expect(s.finished(0, attempt: 2, by: "b") == .accepted)
    }

    @Test func heartbeatsKeepAWorkerAlive() {
        var s = S(taskCount: 1, configuration: .init(leaseSeconds: 5, maxAttempts: 3))
        s.workerJoined("a", now: 0)
        s.heard(from: "a", now: 4)
        #expect(s.expire(now: 8).isEmpty)
        #expect(s.expire(now: 9.5).map(\.worker) == ["a"])
    }

    @Test func aTaskFailingEveryAttemptIsRecordedWithAllReasons() {
        var s = S(taskCount: 1, configuration: .init(leaseSeconds: 5, maxAttempts: 2))
        s.workerJoined("a", now: 0)
        s.granted(5, by: "a")
        var a = s.assign()[0]
        #expect(s.failed(a.task, attempt: a.attempt, by: "a", reason: "out of memory") == .accepted)
        a = s.assign()[0]
        #expect(a.attempt == 2)
        #expect(s.failed(a.task, attempt: a.attempt, by: "a", reason: "out of memory again") == .accepted)
        #expect(s.assign().isEmpty)
        #expect(s.failed == [0])
        #expect(s.isFinished)
        #expect(s.failureReasons(for: 0) == ["attempt 1: out of memory", "attempt 2: out of memory again"])
    }

    @Test func workerDeathsCountAsAttempts() {
        var s = S(taskCount: 1, configuration: .init(leaseSeconds: 5, maxAttempts: 2))
        for (i, w) in ["a", "b"].enumerated() {
            s.workerJoined(w, now: Double(i * 10))
            s.granted(1, by: w)
            #expect(s.assign().count == 1)
            s.workerLost(w, reason: "killed")
        }
        #expect(s.failed == [0])
    }

    @Test func aHandedBackTaskIsRequeuedWithoutUsingUpAnAttempt() {
        var s = S(taskCount: 1, configuration: .init(leaseSeconds: 5, maxAttempts: 1))
        s.workerJoined("a", now: 0)
        s.granted(5, by: "a")
        let first = s.assign()[0]
        #expect(s.handedBack(first.task, attempt: first.attempt, by: "a") == .accepted)
        #expect(s.failed.isEmpty)
        let second = s.assign()[0]
        #expect(second.task == 0 && second.attempt == 2, "a fresh attempt number, so late chunks of the first are discarded")
        #expect(s.finished(second.task, attempt: second.attempt, by: "a") == .accepted)
        #expect(s.isFinished && s.failed.isEmpty)
    }

    @Test func aTaskHandedBackOverAndOverEventuallyFails() {
        var s = S(taskCount: 1, configuration: .init(leaseSeconds: 5, maxAttempts: 2))
        s.workerJoined("a", now: 0)
        s.granted(100, by: "a")
        var rounds = 0
        while let a = s.assign().first {
            rounds += 1
            _ = s.handedBack(a.task, attempt: a.attempt, by: "a")
        }
        #expect(s.failed == [0])
        #expect(rounds <= 4, "maxAttempts forgiven hand-backs, then maxAttempts counted ones: \(rounds)")
    }

    @Test func tasksAlreadyInTheJournalAreNeverSent() {
        var s = S(taskCount: 4, alreadyDone: [0, 2])
        s.workerJoined("a", now: 0)
        s.granted(10, by: "a")
        #expect(s.assign().map(\.task) == [1, 3])
        #expect(s.completed == [0, 2])
    }

    @Test func tasksThatFailedBeforeARestartStayFailedWithTheirReasons() {
        var s = S(taskCount: 4, alreadyDone: [0], alreadyFailed: [2: ["attempt 1: boom", "attempt 2: boom"]])
        s.workerJoined("a", now: 0)
        s.granted(10, by: "a")
        #expect(s.assign().map(\.task) == [1, 3])
        #expect(s.failed == [2])
        #expect(s.failureReasons(for: 2) == ["attempt 1: boom", "attempt 2: boom"])
        #expect(s.finished(1, attempt: 1, by: "a") == .accepted)
        #expect(s.finished(3, attempt: 1, by: "a") == .accepted)
        #expect(s.isFinished)
    }

    @Test func aTaskBothDoneAndFailedBeforeARestartCountsAsDone() {
        let s = S(taskCount: 2, alreadyDone: [1], alreadyFailed: [1: ["attempt 1: boom"]])
        #expect(s.completed == [1] && s.failed.isEmpty && s.pendingCount == 1)
    }

    @Test func requeuedTasksGoToTheFrontOfTheQueue() {
        var s = S(taskCount: 5)
        s.workerJoined("a", now: 0)
        s.granted(1, by: "a")
        let first = s.assign()[0]
        s.workerLost("a", reason: "connection reset")
        s.workerJoined("b", now: 1)
        s.granted(1, by: "b")
        #expect(s.assign().map(\.task) == [first.task])
    }
}
