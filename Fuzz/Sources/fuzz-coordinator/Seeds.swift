/// Scripts of whole runs, in the harness's encoding, for the fuzzer to start from: each
/// reaches the group commit, so mutations start deep in the state machine.
///
/// An event is `step << 4 | opcode`, a peer (0, 1, 2), then the opcode's bytes (see
/// `Harness.step`); `Run.steps[step]` is how far the clock moves first.
enum Seeds {
    enum Op: UInt8 {
        case hello = 0, credit, heartbeat, chunk, done, failed, undecodable, malformed, tick, sendFailed, commit,
             recordFailures, coordinatorMessage, honestTask
    }

    static func event(_ op: Op, peer: UInt8 = 0, step: UInt8 = 0, _ fields: UInt8...) -> [UInt8] {
        [step << 4 | op.rawValue, peer] + fields
    }

    /// hello with 8 slots (index 4 of the harness's list), then credit 8 (index 5).
    static func join(_ peer: UInt8) -> [UInt8] {
        event(.hello, peer: peer, 4, 0) + event(.credit, peer: peer, 5)
    }

    static func all() -> [String: [UInt8]] {
        // settings: bit 0 include the prompt, bits 1-2 min workers - 1, bits 3-4 max attempts - 1,
        // bit 5 a 3 s progress timeout; then the generation's length - 1.
        let oneWorker: [UInt8] = [0x10, 7] + join(0) + event(.tick, step: 7)
            + event(.honestTask, 0, 2) + event(.honestTask, 1, 8) + event(.commit) + event(.tick, step: 7)
            + event(.honestTask, 2, 1) + event(.commit) + event(.tick, step: 7)
        // The same by hand: chunks of both hookpoints (honest tokens and k), then the result.
        let chunks: [UInt8] = [0x00, 3] + join(0) + event(.tick, step: 7)
            + event(.chunk, 0, 0, 0, 0, 3, 0) + event(.chunk, 0, 0, 1, 0, 3, 0)
            + event(.done, 0, 0, 0, 0) + event(.commit) + event(.tick, step: 7)
        let twoWorkers: [UInt8] = [0x12, 5] + join(0) + join(1) + event(.tick, step: 7)
            + event(.honestTask, peer: 0, 0, 3) + event(.honestTask, peer: 1, 0, 3) + event(.commit)
            + event(.heartbeat, peer: 0, step: 8, 1) + event(.tick, step: 1)
        let withPrompt: [UInt8] = [0x01, 2] + join(2) + event(.tick, step: 7)
            + event(.honestTask, peer: 2, 0, 7) + event(.commit) + event(.tick, step: 7)
        // Failure, hand-back, a dropped worker, a lease expiry and a rejoin.
        let trouble: [UInt8] = [0x08, 4] + join(0) + event(.tick, step: 7)
            + event(.failed, 0, 0, 0) + event(.tick, step: 7) + event(.failed, 0, 0, 1)
            + event(.undecodable) + join(1) + event(.tick, step: 7) + event(.honestTask, peer: 1, 0, 2)
            + event(.sendFailed, peer: 1, 1) + event(.commit) + event(.tick, step: 13)
            + join(1) + event(.tick, step: 7) + event(.recordFailures)
        return ["one-worker": oneWorker, "chunks": chunks, "two-workers": twoWorkers, "with-prompt": withPrompt, "trouble": trouble]
    }
}
