import Experiment
import Protocol
import Testing
@testable import Worker

/// The worker's side of the protocol, driven without sockets or clocks: times are plain
/// seconds, the coordinator's messages are scripted.
@Suite struct WorkerSessionTests {
    typealias Session = WorkerSession

    static let hello = Hello(workerID: "w1", host: "node", pid: 42, threads: 2, batchSlots: 4,
                             modelFingerprint: "model", tokenizerFingerprint: "tokenizer", saeFingerprints: ["layers.1": "sae"])
    static let coordinator = "tcp://coordinator:5555"

    /// A session started at time 0 with a 1 s heartbeat and a liveness of 3.
    static func started(interval: Double = 1, liveness: Int = 3) -> Session {
        var s = Session(configuration: .init(hello: hello, heartbeatInterval: interval, liveness: liveness, coordinator: coordinator))
        _ = s.handle(.started(now: 0))
        return s
    }

    /// A session welcomed at time 0 with the given heartbeat interval.
    static func welcomed(intervalMilliseconds: Int = 1000, liveness: Int = 3) -> Session {
        var s = started(liveness: liveness)
        _ = s.handle(.received(welcome(intervalMilliseconds), now: 0))
        return s
    }

    static func welcome(_ intervalMilliseconds: Int = 1000, run: String = "run-1") -> Message {
        .welcome(Welcome(runID: run, heartbeatIntervalMilliseconds: intervalMilliseconds))
    }

    static func assign(_ taskID: UInt64, attempt: UInt32 = 1) -> Assign {
        Assign(taskID: taskID, attempt: attempt, problemID: "gsm8k-\(taskID)", promptIDs: [1, 2, 3],
               generation: GenerationParameters(maxNewTokens: 8, sampling: SamplingParameters(temperature: 0, topK: 0, topP: 1), seed: 7),
               hookpoints: [HookpointSpec(capture: "layers.1", sae: "layers.1")], includePrompt: false)
    }

    static func done(_ taskID: UInt64, attempt: UInt32 = 1) -> TaskDone {
        TaskDone(taskID: taskID, attempt: attempt, generatedIDs: [5, 6], stopReason: .eos, promptTokens: 3, timings: ["total": 0.5])
    }

    static let oneCredit = Session.Action.send(.credit(Credit(count: 1)))

    // MARK: Greeting

    @Test func aHelloIsSentWhenTheSessionStarts() {
        var s = Session(configuration: .init(hello: Self.hello, heartbeatInterval: 1, liveness: 3, coordinator: Self.coordinator))
        #expect(s.handle(.started(now: 10)) == [.send(.hello(Self.hello))])
        #expect(!s.isWelcomed)
    }

    @Test func theHelloIsRepeatedEveryIntervalUntilWelcomed() {
        var s = Self.started()
        #expect(s.handle(.tick(now: 0.5)).isEmpty)
        #expect(s.handle(.tick(now: 1.0)) == [.send(.hello(Self.hello))])
        #expect(s.handle(.tick(now: 1.5)).isEmpty)
        #expect(s.handle(.tick(now: 2.0)) == [.send(.hello(Self.hello))])
        _ = s.handle(.received(Self.welcome(), now: 2.1))
        let after = s.handle(.tick(now: 3.0))
        #expect(after.count == 1)
        guard case .send(.heartbeat) = after.first else {
            Issue.record("after the welcome a heartbeat, not a hello, keeps the connection alive: \(after)")
            return
        }
    }

    @Test func theFirstWelcomeGrantsCreditForEveryBatchSlot() {
        var s = Self.started()
        #expect(s.handle(.received(Self.welcome(run: "run-7"), now: 0.2)) == [
            .log(.info, "welcomed to run run-7 by \(Self.coordinator)"),
            .send(.credit(Credit(count: Self.hello.batchSlots))),
        ])
        #expect(s.isWelcomed)
    }

    @Test func aSecondWelcomeGrantsNothingAndChangesNothing() {
        var s = Self.started()
        _ = s.handle(.received(Self.welcome(500), now: 0.2))
        #expect(s.handle(.received(Self.welcome(2000), now: 0.3)).isEmpty)
        #expect(s.heartbeatInterval == 0.5, "the first welcome's interval stays")
    }

    @Test func theWelcomesHeartbeatIntervalIsAdopted() {
        var s = Self.welcomed(intervalMilliseconds: 250)
        #expect(s.heartbeatInterval == 0.25)
        #expect(s.handle(.tick(now: 0.2)).isEmpty)
        #expect(s.handle(.tick(now: 0.25)).count == 1)
    }

    @Test(arguments: [0, 1, 49])
    func aWelcomedIntervalBelowFiftyMillisecondsIsRaisedToIt(milliseconds: Int) {
        let s = Self.welcomed(intervalMilliseconds: milliseconds)
        #expect(s.heartbeatInterval == Session.minimumHeartbeatInterval)
        #expect(Session.minimumHeartbeatInterval == 0.05)
    }

    @Test func theConfiguredIntervalHoldsUntilTheWelcome() {
        let s = Self.started(interval: 2)
        #expect(s.heartbeatInterval == 2)
    }

    // MARK: Heartbeats

    @Test func heartbeatsGoOutOnlyAfterAnIdleInterval() {
        var s = Self.welcomed()
        _ = s.handle(.sent(now: 0.6))                 // e.g. latent chunks streamed out
        #expect(s.handle(.tick(now: 1.2)).isEmpty)
        #expect(s.handle(.tick(now: 1.6)) == [.send(.heartbeat(Heartbeat(sequence: 1)))])
        #expect(s.handle(.tick(now: 2.0)).isEmpty, "one heartbeat per idle interval")
    }

    @Test func heartbeatSequenceNumbersFollowTheRepeatedHellos() {
        var s = Self.started()
        _ = s.handle(.tick(now: 1))                    // hello, sequence 1
        _ = s.handle(.tick(now: 2))                    // hello, sequence 2
        _ = s.handle(.received(Self.welcome(), now: 2.5))
        #expect(s.handle(.tick(now: 3)) == [.send(.heartbeat(Heartbeat(sequence: 3)))])
        #expect(s.handle(.tick(now: 4)) == [.send(.heartbeat(Heartbeat(sequence: 4)))])
    }

    // MARK: Liveness

    @Test func silenceForLivenessIntervalsLosesTheConnection() {
        var s = Self.welcomed(liveness: 3)
        #expect(s.handle(.tick(now: 3.0)) == [.send(.heartbeat(Heartbeat(sequence: 1)))])
        #expect(s.handle(.tick(now: 3.01)) == [.connectionLost(welcomed: true)])
        #expect(s.isOver)
    }

    @Test func anyMessageFromTheCoordinatorRenewsLiveness() {
        var s = Self.welcomed(liveness: 3)
        _ = s.handle(.received(.heartbeat(Heartbeat(sequence: 9)), now: 2.5))
        #expect(!s.handle(.tick(now: 5.5)).contains(.connectionLost(welcomed: true)))
        #expect(s.handle(.tick(now: 5.51)) == [.connectionLost(welcomed: true)])
    }

    @Test func livenessCountsIntervalsOfTheWelcomesHeartbeat() {
        var s = Self.welcomed(intervalMilliseconds: 100, liveness: 3)
        #expect(s.handle(.tick(now: 0.31)) == [.connectionLost(welcomed: true)])
    }

    @Test func aCoordinatorThatNeverAnswersIsLostUnwelcomed() {
        var s = Self.started(liveness: 3)
        _ = s.handle(.tick(now: 3))
        #expect(s.handle(.tick(now: 3.5)) == [.connectionLost(welcomed: false)])
    }

    // MARK: The coordinator ends it

    @Test func aRejectEndsTheSessionWithTheReason() {
        var s = Self.started()
        #expect(s.handle(.received(.reject(Reject(reason: "model fingerprint differs")), now: 0.1)) == [
            .log(.error, "the coordinator rejected this worker: model fingerprint differs"),
            .end(.rejected("model fingerprint differs")),
        ])
        #expect(s.isOver)
    }

    @Test func aShutdownEndsTheSession() {
        var s = Self.welcomed()
        #expect(s.handle(.received(.shutdown(Shutdown(reason: "run complete")), now: 5)) == [
            .log(.info, "the coordinator ended the run: run complete"),
            .end(.shutdown("run complete")),
        ])
        #expect(s.isOver)
    }

    @Test func anEndedSessionAnswersEveryEventWithNothing() {
        var s = Self.welcomed()
        _ = s.handle(.received(.assign(Self.assign(1)), now: 0.5))
        _ = s.handle(.received(.shutdown(Shutdown(reason: "done")), now: 1))
        #expect(s.handle(.tick(now: 100)).isEmpty)
        #expect(s.handle(.received(Self.welcome(), now: 100)).isEmpty)
        #expect(s.handle(.taskDone(Self.done(1))).isEmpty)
        #expect(s.handle(.stopRequested).isEmpty)
    }

    // MARK: Tasks

    @Test func anAssignStartsTheTask() {
        var s = Self.welcomed()
        let a = Self.assign(7, attempt: 2)
        #expect(s.handle(.received(.assign(a), now: 1)) == [.startTask(a)])
        #expect(s.inFlight == [7: 2])
    }

    @Test func aTaskThatCannotStartIsFailedAndReturnsItsCredit() {
        var s = Self.welcomed()
        let a = Self.assign(7, attempt: 2)
        _ = s.handle(.received(.assign(a), now: 1))
        #expect(s.handle(.startFailed(a, reason: "prompt too long", description: "request 3: prompt too long")) == [
            .log(.error, "task 7 (gsm8k-7) could not start: request 3: prompt too long"),
            .send(.taskFailed(TaskFailed(taskID: 7, attempt: 2, reason: "prompt too long"))),
            Self.oneCredit,
        ])
        #expect(s.inFlight.isEmpty)
    }

    @Test func aFinishedTaskSendsTaskDoneThenOneCredit() {
        var s = Self.welcomed()
        _ = s.handle(.received(.assign(Self.assign(7)), now: 1))
        #expect(s.handle(.taskDone(Self.done(7))) == [.send(.taskDone(Self.done(7))), Self.oneCredit])
        #expect(s.inFlight.isEmpty)
    }

    @Test func creditGrantedIsTheBatchSlotsPlusOnePerEndedTask() {
        var s = Self.started()
        var actions = s.handle(.received(Self.welcome(), now: 0))
        for id in UInt64(1)...6 { actions += s.handle(.received(.assign(Self.assign(id)), now: 1)) }
        actions += s.handle(.taskDone(Self.done(1)))
        actions += s.handle(.startFailed(Self.assign(2), reason: "x", description: "x"))
        actions += s.handle(.taskDone(Self.done(3)))
        let granted = actions.reduce(0) { sum, action in
            if case .send(.credit(let credit)) = action { return sum + credit.count }
            return sum
        }
        #expect(granted == Self.hello.batchSlots + 3)
        #expect(s.inFlight.keys.sorted() == [4, 5, 6])
    }

    // MARK: Stopping

    @Test func stopHandsBackEveryTaskInFlightWithItsAttempt() {
        var s = Self.welcomed()
        for (id, attempt) in [(9, 1), (3, 2), (5, 1)] as [(UInt64, UInt32)] {
            _ = s.handle(.received(.assign(Self.assign(id, attempt: attempt)), now: 1))
        }
        _ = s.handle(.taskDone(Self.done(5)))
        let actions = s.handle(.stopRequested)
        let handedBack = actions.compactMap { action -> TaskFailed? in
            if case .send(.taskFailed(let failed)) = action { return failed }
            return nil
        }
        #expect(handedBack == [
            TaskFailed(taskID: 3, attempt: 2, reason: "worker interrupted (SIGINT/SIGTERM); task handed back", handedBack: true),
            TaskFailed(taskID: 9, attempt: 1, reason: "worker interrupted (SIGINT/SIGTERM); task handed back", handedBack: true),
        ])
        #expect(actions.last == .end(.interrupted))
        #expect(!actions.contains(Self.oneCredit), "a leaving worker grants no credit")
        #expect(s.isOver)
    }

    @Test func stopWithNothingInFlightJustEnds() {
        var s = Self.welcomed()
        #expect(s.handle(.stopRequested) == [.end(.interrupted)])
    }

    // MARK: What a worker does not accept

    @Test(arguments: [
        Message.hello(hello),
        .credit(Credit(count: 3)),
        .latentChunk(LatentChunk(taskID: 1, attempt: 1, hookpoint: "layers.1", firstPosition: 0, tokens: [1], k: 1, indices: [0], activations: [1])),
        .taskDone(done(1)),
        .taskFailed(TaskFailed(taskID: 1, attempt: 1, reason: "no")),
    ])
    func messagesAWorkerDoesNotAcceptAreIgnoredWithALogLine(message: Message) {
        var s = Self.welcomed()
        _ = s.handle(.received(.assign(Self.assign(7)), now: 0))
        #expect(s.handle(.received(message, now: 0.5)) == [.log(.warning, "ignored a \(message.typeName) message: workers do not accept it")])
        #expect(s.isWelcomed && s.inFlight == [7: 1] && s.heartbeatInterval == 1)
        #expect(s.handle(.tick(now: 1)) == [.send(.heartbeat(Heartbeat(sequence: 1)))], "heartbeats go on as before")
    }

    @Test func anUndecodableFrameIsDroppedWithALogLineAndDoesNotRenewLiveness() {
        var s = Self.welcomed(liveness: 3)
        #expect(s.handle(.undecodable(reason: "not valid msgpack at byte 0: reserved byte 0xc1")) == [
            .log(.warning, "dropped an undecodable message from the coordinator: not valid msgpack at byte 0: reserved byte 0xc1"),
        ])
        _ = s.handle(.undecodable(reason: "garbage"))
        _ = s.handle(.tick(now: 2.9))
        #expect(s.handle(.tick(now: 3.01)) == [.connectionLost(welcomed: true)])
    }

    @Test func aMultiFrameMessageIsDroppedWithALogLine() {
        var s = Self.welcomed()
        #expect(s.handle(.wrongFrameCount(3)) == [.log(.warning, "dropped a 3-frame message from the coordinator (expected 1 frame)")])
        #expect(s.isWelcomed)
    }
}
