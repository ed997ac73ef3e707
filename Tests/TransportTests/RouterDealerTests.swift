import Experiment
import Protocol
import Testing
import Transport

@Suite("ROUTER/DEALER over tcp://127.0.0.1")
struct RouterDealerTests {
    @Test("Binding to port * returns the endpoint with the ephemeral port filled in")
    func bindReturnsEphemeralPort() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let port = Int(endpoint.split(separator: ":").last ?? "")
        #expect(port != nil && port! > 0)
    }

    @Test("A worker's hello, the coordinator's welcome and assign, and the worker's chunks and done all arrive intact")
    func protocolMessagesCrossRouterAndDealer() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        try router.setRouterMandatory(true)
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context, kind: .dealer)
        try dealer.setRoutingID(Array("worker-1".utf8))
        try dealer.connect(endpoint)

        let hello = Message.hello(Hello(
            workerID: "worker-1", host: "localhost", pid: 4242, threads: 2, batchSlots: 4,
            modelFingerprint: "model", tokenizerFingerprint: "tokenizer", saeFingerprints: ["layers.5.mlp": "sae5"]))
        #expect(try dealer.send([hello.encode()]) == .sent)

        let arrived = try #require(try receive(router))
        #expect(arrived.count == 2)
        #expect(arrived[0].bytes == Array("worker-1".utf8))
        #expect(try decode(arrived[1]) == hello)

        let workerID = arrived[0].bytes
        let welcome = Message.welcome(Welcome(runID: "run-1", heartbeatIntervalMilliseconds: 1000))
        let assign = Message.assign(Assign(
            taskID: 1, attempt: 0, problemID: "test-0", promptIDs: [1, 2, 3],
            generation: GenerationParameters(maxNewTokens: 8, sampling: SamplingParameters(temperature: 0, topK: 0, topP: 1), seed: 9),
            hookpoints: [HookpointSpec(capture: "layers.5.mlp", sae: "layers.5.mlp")], includePrompt: true))
        try router.send([workerID, welcome.encode()])
        try router.send([workerID, assign.encode()])
        #expect(try decode(try #require(try receive(dealer))[0]) == welcome)
        #expect(try decode(try #require(try receive(dealer))[0]) == assign)

        let chunks = (0..<20).map { index in
            Message.latentChunk(LatentChunk(
                taskID: 1, attempt: 0, hookpoint: "layers.5.mlp", firstPosition: index * 64,
                tokens: Array(repeating: Int32(index), count: 64), k: 32,
                indices: (0..<2048).map { Int32($0) }, activations: (0..<2048).map { Float($0) / 7 }))
        }
        let done = Message.taskDone(TaskDone(
            taskID: 1, attempt: 0, generatedIDs: [4, 5], stopReason: .length, promptTokens: 3,
            timings: ["decode": 0.5]))
        for message in chunks + [done] {
            try dealer.send([message.encode()])
        }
        for expected in chunks + [done] {
            let frames = try #require(try receive(router))
            #expect(frames[0].bytes == workerID)
            #expect(try decode(frames[1]) == expected)
        }
    }

    @Test("A non-blocking receive with nothing waiting returns nil instead of failing")
    func nonBlockingReceiveWouldBlock() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        try router.bind("tcp://127.0.0.1:*")
        #expect(try router.receive(mode: .nonBlocking) == nil)
    }

    @Test("A non-blocking send with no peer to take it reports would-block instead of failing")
    func nonBlockingSendWouldBlock() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, kind: .dealer)
        // A DEALER queues only for connected peers; before any connection there is none.
        #expect(try dealer.send([Message.credit(Credit(count: 1)).encode()], mode: .nonBlocking) == .wouldBlock)
    }

    @Test("Poll on an idle socket returns no events after its timeout")
    func pollTimesOut() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        try router.bind("tcp://127.0.0.1:*")
        let clock = ContinuousClock()
        let start = clock.now
        let ready = try ZMQPoll.poll([PollItem(router)], timeoutMilliseconds: 100)
        let elapsed = clock.now - start
        #expect(ready == [[]])
        #expect(elapsed >= .milliseconds(90))
    }

    @Test("With router-mandatory on, sending to an unknown peer fails as host-unreachable")
    func routerMandatoryReportsUnknownPeer() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        try router.setRouterMandatory(true)
        try router.bind("tcp://127.0.0.1:*")
        let error = #expect(throws: ZMQError.self) {
            try router.send([Array("nobody".utf8), Message.heartbeat(Heartbeat(sequence: 1)).encode()])
        }
        #expect(error?.isHostUnreachable == true)
        #expect(error?.description.contains("zmq_send") == true)
    }

    @Test("Shutting the context down wakes a blocked receive with a context-terminated error")
    func contextShutdownEndsBlockingReceive() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, kind: .dealer)
        try dealer.connect("tcp://127.0.0.1:9")
        context.shutdown()
        let error = #expect(throws: ZMQError.self) { _ = try dealer.receive() }
        #expect(error?.isContextTerminated == true)
    }

    @Test("A bad endpoint fails with an error naming the operation")
    func badEndpointNamesOperation() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        let error = #expect(throws: ZMQError.self) { try router.bind("nonsense://x") }
        #expect(error?.operation == "zmq_bind(nonsense://x)")
    }
}

@Suite("Oversized messages")
struct OversizedMessageTests {
    @Test("A frame over the maximum message size is dropped and the receiver keeps serving other peers")
    func oversizedFrameIsDroppedWithoutHarm() throws {
        let limit = 4096
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        try router.setMaximumMessageSize(limit)
        let endpoint = try router.bind("tcp://127.0.0.1:*")

        let offender = try ZMQSocket(context, kind: .dealer)
        try offender.setRoutingID(Array("offender".utf8))
        try offender.connect(endpoint)
        let honest = try ZMQSocket(context, kind: .dealer)
        try honest.setRoutingID(Array("honest".utf8))
        try honest.connect(endpoint)

        let heartbeat = Message.heartbeat(Heartbeat(sequence: 1)).encode()
        // Both connections are up before the offence, so the honest peer's later traffic is a fair test.
        try offender.send([heartbeat])
        try honest.send([heartbeat])
        var greeted: Set<[UInt8]> = []
        while greeted.count < 2, let frames = try receive(router) {
            greeted.insert(frames[0].bytes)
        }
        #expect(greeted == [Array("offender".utf8), Array("honest".utf8)])

        try offender.send([Array(repeating: 0xab, count: limit * 4)])
        for sequence in 2...4 {
            try honest.send([Message.heartbeat(Heartbeat(sequence: UInt64(sequence))).encode()])
        }
        // Wait for the honest peer's three heartbeats, then a little longer for anything else.
        var later: [[Frame]] = []
        while later.filter({ $0[0].bytes == Array("honest".utf8) }).count < 3, let frames = try receive(router) {
            later.append(frames)
        }
        later += try drain(router, forMilliseconds: 200)
        #expect(later.allSatisfy { frames in frames.allSatisfy { $0.count <= limit } })
        let honestSequences = try later.filter { $0[0].bytes == Array("honest".utf8) }.map { frames in
            guard case .heartbeat(let beat) = try decode(frames[1]) else { return UInt64(0) }
            return beat.sequence
        }
        #expect(honestSequences == [2, 3, 4])
    }

    @Test("Without a maximum message size the same large frame arrives, so the test above is not vacuous")
    func largeFrameArrivesWithoutLimit() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context, kind: .dealer)
        try dealer.connect(endpoint)
        try dealer.send([Array(repeating: 0xab, count: 4096 * 4)])
        let frames = try #require(try receive(router))
        #expect(frames[1].count == 4096 * 4)
    }
}
