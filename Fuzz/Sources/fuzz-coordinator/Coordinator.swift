import Coordinator
import Foundation
import Experiment
import FuzzSupport
import GSM8K
import Protocol
import ResultBundle
import TestSupport
import Tokenizer

/// The coordinator's state machine driven by a script of events from three fake peers and a
/// fake clock. The input's first bytes choose the run's settings; each following event is an
/// opcode (low nibble) with a time step (high nibble) and the bytes its fields need: hellos,
/// credit, heartbeats, latent chunks and results (honest or not, for the peer's own tasks or
/// others), hand-backs, undecodable and malformed frames, failed sends, ticks and group
/// commits against a fake journal. The messages are ones `Message.decode` can produce (k ≥ 1,
/// indices and activations of tokens × k entries), so a finding is the machine's, not the wire's.
///
/// Checked after every event:
/// - no crash;
/// - an admitted peer's open credit never exceeds the batch slots of its hello, and a tick
///   assigns a peer no more tasks than its open credit;
/// - every attempt of a task is numbered above the one before;
/// - the latents staged for a task never exceed its row limit per hookpoint, and every staged
///   chunk carries at least one row (so staged bytes are bounded);
/// - every task handed to the group commit covers exactly its positions at every hookpoint
///   (rows = generated tokens, plus the prompt when it is included), with the sequence's token
///   at each, and k × rows latents;
/// - a task the journal holds is never assigned again and never recorded as failed, and no
///   failure is recorded twice;
/// - with `--verify-fraction` (a settings bit), a check runs the problem it names with that
///   problem's prompt, a replaced result replaces a committed one, and a quarantined worker is
///   never assigned anything again.
/// When the script ends, an honest worker joins and the clock runs on: every task must end up
/// committed or failed (none is lost), and none both. (Unless the honest worker itself was
/// quarantined: two fake peers that send the same wrong result outvote it, the limit of any
/// majority vote, and then no worker is left to finish the run.)
@main struct FuzzCoordinator {
    static func main() { runFuzzer(fuzzCoordinator, seeds: Seeds.all) }
}

func fuzzCoordinator(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(UnsafeRawBufferPointer(start: data, count: size))
    var harness = Harness(&input)
    while !input.isAtEnd { harness.step(&input) }
    harness.finish()
    return 0
}

typealias Machine = CoordinatorStateMachine
typealias Peer = [UInt8]

enum Run {
    static let tokenizer: BPETokenizer = {
        let path = ScratchFile.write(R1TokenizerFixture.json(), name: "tokenizer.json")
        do { return try BPETokenizer.load(modelDirectoryOrFile: path) } catch { fail("the R1 test tokenizer does not load: \(error)") }
    }()
    /// One hookpoint whose SAE's cfg.json states k = 2, one whose cfg.json says nothing.
    static let hookpoints = [
        HookpointSpec(capture: "layers.1.mlp", sae: "layers.1.mlp"),
        HookpointSpec(capture: "hidden_states.2", sae: "layers.2.mlp"),
    ]
    static let kByHookpoint = ["layers.1.mlp": 2]
    static let saes = [
        "layers.1.mlp": RunManifest.SAE(cfg: .object(["k": .int(2)]), fingerprint: "sae1"),
        "layers.2.mlp": RunManifest.SAE(cfg: .object([:]), fingerprint: "sae2"),
    ]
    static let problems = (0..<3).map {
        PromptSetProblem(GSM8KProblem(split: .test, index: $0, question: "What is \($0) + 1?", answerText: "#### \($0 + 1)", gold: "\($0 + 1)"))
    }
    /// Every configuration uses the default chat prompt.
    static let prompts = problems.map { ChatPrompt().ids(for: $0.question, tokenizer: tokenizer) }
    static let maxNewTokens = 8
    /// What an honest worker generates (a prefix of it): text, `</think>`, an answer, end of sequence.
    static let generation: [Int32] = [97, 98, R1TokenizerFixture.thinkEnd, 10, 49, 99, 100, R1TokenizerFixture.eos]
    static let trace = getenv("THINKLENS_FUZZ_TRACE") != nil
    static let peers: [Peer] = [[1], [2], [3]]
    static let honestPeer: Peer = [9]
    /// Time steps (seconds) an event's high nibble picks; a lease is 15 s.
    static let steps: [Double] = [0, 0, 0, 0, 0.001, 0.1, 0.5, 1, 2, 5, 10, 16, 30, 61, 130, 1000]

    static func configuration(includePrompt: Bool, minWorkers: Int, maxAttempts: Int, progressTimeout: Double,
                              verifyFraction: Double) -> CoordinatorConfiguration {
        var c = CoordinatorConfiguration(
            listen: "tcp://127.0.0.1:0", problems: problems, selectionText: "gsm8k:test[0:3]", hookpoints: hookpoints,
            outDirectory: "/nonexistent",
            generation: GenerationParameters(maxNewTokens: maxNewTokens, sampling: SamplingParameters(temperature: 0.6, topK: 0, topP: 0.95), seed: 0),
            includePrompt: includePrompt, prompt: ChatPrompt(), tokenizer: tokenizer,
            model: RunManifest.Model(config: .object([:]), fingerprint: "model"), saes: saes)
        c.leaseSeconds = 15
        c.heartbeatInterval = 1
        c.maxAttempts = maxAttempts
        c.minWorkers = minWorkers
        c.minWorkersWaitSeconds = 60
        c.progressTimeout = progressTimeout
        c.verifyFraction = verifyFraction
        return c
    }

    static func hello(_ peer: Peer, slots: Int, variant: Int) -> Hello {
        var hello = Hello(workerID: "w\(peer[0])", host: "host", pid: Int(peer[0]), threads: 1, batchSlots: slots,
                          modelFingerprint: "model", tokenizerFingerprint: tokenizer.fingerprint,
                          saeFingerprints: ["layers.1.mlp": "sae1", "layers.2.mlp": "sae2"])
        switch variant {
        case 1: hello.modelFingerprint = "another model"
        case 2: hello.protocolVersion += 1
        case 3: hello.saeFingerprints["layers.2.mlp"] = nil
        case 4: hello.tokenizerFingerprint = "another tokenizer"
        default: break
        }
        return hello
    }
}

struct Harness {
    var machine: Machine
    let configuration: CoordinatorConfiguration
    let generated: [Int32]
    var now = 0.0
    /// Batch slots of each admitted peer, from the hello that admitted it.
    var slots: [Peer: Int] = [:]
    /// The assigns each peer received, newest last (at most 16 kept).
    var assigned: [Peer: [Assign]] = [:]
    var lastAttempt: [Int: UInt32] = [:]
    /// The fake journal: what it holds, and the failures recorded.
    var journal: [Int: CommittedTask] = [:]
    var recordedFailures: Set<String> = []

    init(_ input: inout FuzzInput) {
        let settings = input.byte()
        configuration = Run.configuration(
            includePrompt: settings & 1 == 1, minWorkers: Int(settings >> 1 & 3) % 3 + 1,
            maxAttempts: Int(settings >> 3 & 3) % 3 + 1, progressTimeout: settings & 0x20 == 0 ? 0 : 3,
            verifyFraction: settings & 0x40 == 0 ? 0 : 1)
        generated = Array(Run.generation.prefix(input.int(below: Run.maxNewTokens) + 1))
        do {
            machine = try Machine(configuration: configuration, committedIDs: [], earlierFailures: [:], runID: "run", now: 0)
        } catch {
            fail("the harness's configuration is refused: \(error)")
        }
        perform(machine.listening(on: "tcp://127.0.0.1:5555", now: 0))
    }

    func promptIDs(_ task: Int) -> [Int32] { Run.prompts[task] }

    // MARK: Events

    mutating func step(_ input: inout FuzzInput) {
        let op = input.byte()
        now += Run.steps[Int(op >> 4)]
        let peer = input.pick(Run.peers)
        switch op & 0x0f {
        case 0:
            let slots = input.pick([0, 1, 2, 3, 8, Machine.maximumBatchSlots, Machine.maximumBatchSlots + 1, Int.max])
            receive(.hello(Run.hello(peer, slots: slots, variant: input.int(below: 8))), from: peer)
        case 1:
            receive(.credit(Credit(count: input.pick([0, 1, 1, 2, 3, 8, 4097, Int.max / 2 + 1, Int.max]))), from: peer)
        case 2:
            receive(.heartbeat(Heartbeat(sequence: UInt64(input.byte()))), from: peer)
        case 3:
            receive(.latentChunk(chunk(for: peer, &input)), from: peer)
        case 4:
            receive(.taskDone(done(for: peer, &input)), from: peer)
        case 5:
            let (task, attempt) = target(for: peer, &input)
            receive(.taskFailed(TaskFailed(taskID: task, attempt: attempt, reason: "fuzz", handedBack: input.bool())), from: peer)
        case 6:
            event("undecodable from \(peer)") { $0.receivedUndecodable(from: peer, error: "fuzz") }
        case 7:
            let frames = input.int(below: 4)
            event("malformed") { $0.receivedMalformed(frameCount: frames) }
        case 8:
            tick()
        case 9:
            let failure = input.pick([Machine.SendFailure.queueFull, .unreachable, .failed("fuzz")])
            event("send to \(peer) failed: \(failure)") { $0.sendFailed(to: peer, failure, messageType: "assign") }
        case 10:
            commit()
        case 11:
            event("recordNewFailures") { $0.recordNewFailures() }
        case 12:
            let message = input.pick([
                Message.welcome(Welcome(runID: "x", heartbeatIntervalMilliseconds: 1)), .reject(Reject(reason: "x")),
                .shutdown(Shutdown(reason: "x")),
            ])
            receive(message, from: peer)
        default:
            // An honest worker's whole task: every hookpoint's chunks, then the result.
            guard let assign = pickAssign(of: peer, &input) else { return }
            let split = input.int(below: Run.maxNewTokens) + 1
            for chunk in honestChunks(for: assign, split: split) { receive(.latentChunk(chunk), from: peer) }
            receive(.taskDone(honestDone(for: assign)), from: peer)
        }
    }

    mutating func receive(_ message: Message, from peer: Peer) {
        if case .hello = message { lastHello[peer] = message }
        let now = self.now
        event("\(message) from \(peer)") { $0.received(message, from: peer, now: now) }
    }

    mutating func tick() {
        let now = self.now
        event("tick") { $0.tick(now: now) }
    }

    /// One event: its actions are checked and performed, then the bounds. With
    /// THINKLENS_FUZZ_TRACE set, each event and its actions are printed (to read a finding).
    mutating func event(_ name: @autoclosure () -> String, _ body: (inout Machine) -> [Machine.Action]) {
        if Run.trace { print(String(format: "%9.3f ", now) + name()) }
        let admittedBefore = Set(machine.admittedWorkers)
        var creditBefore: [Peer: Int] = [:]
        for peer in admittedBefore { creditBefore[peer] = machine.openCredit(of: peer) }
        let actions = body(&machine)
        if Run.trace { for action in actions { print("          → \(action)") } }
        var assignsTo: [Peer: Int] = [:]
        for action in actions {
            guard case .send(.assign, let peer) = action else { continue }
            assignsTo[peer, default: 0] += 1
            check(assignsTo[peer]! <= creditBefore[peer] ?? 0,
                  "peer \(peer) got \(assignsTo[peer]!) assigns with \(creditBefore[peer] ?? 0) open credit")
        }
        perform(actions, admittedBefore: admittedBefore)
        checkBounds()
    }

    mutating func perform(_ actions: [Machine.Action], admittedBefore: Set<Peer> = []) {
        for action in actions {
            switch action {
            case .send(.welcome, let peer):
                if !admittedBefore.contains(peer) {
                    guard case .hello(let hello)? = lastHello[peer] else { fail("welcomed peer \(peer) without a hello") }
                    slots[peer] = hello.batchSlots
                }
            case .send(.assign(let assign), let peer):
                let task = Int(assign.taskID)
                check(!machine.quarantinedWorkers.contains("w\(peer[0])@host"), "quarantined peer \(peer) is assigned task \(task)")
                if task < Run.problems.count {
                    check(journal[task] == nil, "task \(task) is assigned again (attempt \(assign.attempt)) after the journal committed it")
                    check(assign.promptIDs == promptIDs(task), "task \(task) is assigned with another prompt")
                } else {
                    // A check: a second run of a committed problem.
                    guard let problem = Run.problems.firstIndex(where: { $0.id == assign.problemID }) else {
                        fail("check task \(task) names no problem of the run: \(assign.problemID)")
                    }
                    check(configuration.verifyFraction > 0, "task \(task) is beyond the problems without --verify-fraction")
                    check(journal[problem] != nil, "check task \(task) runs \(assign.problemID), which is not committed")
                    check(assign.promptIDs == promptIDs(problem), "check task \(task) is assigned with another prompt")
                }
                check(assign.attempt > lastAttempt[task] ?? 0, "task \(task): attempt \(assign.attempt) follows attempt \(lastAttempt[task] ?? 0)")
                lastAttempt[task] = assign.attempt
                assigned[peer, default: []].append(assign)
                newAssigns.append((peer, assign))
                if assigned[peer]!.count > 16 { assigned[peer]!.removeFirst() }
            case .recordFailure(let entry, _):
                check(recordedFailures.insert(entry.id).inserted, "the failure of \(entry.id) is recorded twice")
                check(!journal.keys.contains { Run.problems[$0].id == entry.id }, "\(entry.id) is recorded as failed, but the journal holds it")
            case .replaceResult(let result, _):
                guard let problem = Run.problems.firstIndex(where: { $0.id == result.record.id }) else {
                    fail("a replacement for \(result.record.id), which is not a problem of the run")
                }
                check(journal[problem] != nil, "a replacement for \(result.record.id), which is not committed")
                journal[problem] = result
            case .send, .sendBestEffort, .log, .recordVerification:
                break
            }
        }
    }

    mutating func checkBounds() {
        let admitted = Set(machine.admittedWorkers)
        for peer in slots.keys where !admitted.contains(peer) { slots[peer] = nil }
        for peer in admitted {
            guard let slots = slots[peer] else { fail("peer \(peer) is admitted, but no welcome was sent to it") }
            check(machine.openCredit(of: peer) <= slots, "peer \(peer) has \(machine.openCredit(of: peer)) open credit, more than its \(slots) batch slots")
        }
        for task in Run.problems.indices {
            let limit = machine.rowLimit(of: task)
            for (hookpoint, staged) in machine.staged(task: task) {
                check(staged.rows <= limit, "task \(task), \(hookpoint): \(staged.rows) rows staged, limit \(limit)")
                check(staged.chunks <= staged.rows, "task \(task), \(hookpoint): \(staged.chunks) chunks staged for \(staged.rows) rows")
            }
        }
        check(machine.progress.done <= Run.problems.count && machine.progress.failed <= Run.problems.count, "progress \(machine.progress)")
    }

    /// The group commit, as `CoordinatorLoop.commitPending` does it, against the fake journal.
    mutating func commit() {
        let batch = machine.takePendingCommits()
        guard !batch.isEmpty else { return }
        var outcomes: [RunStore.CommitOutcome] = []
        for entry in batch {
            check(batch.filter { $0.task == entry.task }.count == 1, "task \(entry.task) is twice in one group commit")
            checkComplete(entry)
            do {
                try entry.committed.validate()
            } catch let error as RunDataError {
                outcomes.append(.rejected(error))
                continue
            } catch {
                fail("validate threw \(error)")
            }
            if let held = journal[entry.task] {
                outcomes.append(held == entry.committed ? .duplicateIdentical : .duplicateDifferent)
            } else {
                journal[entry.task] = entry.committed
                outcomes.append(.committed)
            }
        }
        let now = self.now
        event("committed \(zip(batch.map(\.task), outcomes).map { "task \($0) \($1)" })") { $0.committed(batch, outcomes: outcomes, now: now) }
    }

    /// A task handed to the commit covers exactly its positions at every hookpoint.
    func checkComplete(_ entry: Machine.PendingCommit) {
        let record = entry.committed.record
        let prompt = promptIDs(entry.task)
        check(record.promptIDs == prompt && record.generatedIDs == entry.done.generatedIDs,
              "task \(entry.task): the record's prompt or generation is not the one sent and reported")
        let first = configuration.includePrompt ? 0 : prompt.count
        let positions = Array(first..<record.sequenceLength)
        check(Set(entry.committed.latents.keys) == Set(Run.hookpoints.map(\.name)), "task \(entry.task): hookpoints \(entry.committed.latents.keys.sorted())")
        for (hookpoint, rows) in entry.committed.latents {
            check(rows.positions.map(Int.init) == positions,
                  "task \(entry.task), \(hookpoint): positions \(rows.positions), expected \(first)..<\(record.sequenceLength)")
            check(rows.tokens == positions.map { record.token(at: $0) }, "task \(entry.task), \(hookpoint): tokens differ from the sequence")
            check(rows.k >= 1 && rows.indices.count == rows.k * positions.count && rows.activations.count == rows.k * positions.count,
                  "task \(entry.task), \(hookpoint): k \(rows.k), \(rows.indices.count) indices for \(positions.count) rows")
            if let k = Run.kByHookpoint[hookpoint] { check(rows.k == k, "task \(entry.task), \(hookpoint): k \(rows.k), the SAE has \(k)") }
        }
    }

    // MARK: Messages

    /// The hello a peer last sent (welcomes refer to it).
    var lastHello: [Peer: Message] = [:]
    /// Assigns sent since `finish` last looked.
    var newAssigns: [(peer: Peer, assign: Assign)] = []

    mutating func pickAssign(of peer: Peer, _ input: inout FuzzInput) -> Assign? {
        guard let list = assigned[peer], !list.isEmpty else { return nil }
        return list[list.count - 1 - input.int(below: list.count)]
    }

    /// Mostly a task the peer holds, sometimes another attempt or task.
    mutating func target(for peer: Peer, _ input: inout FuzzInput) -> (task: UInt64, attempt: UInt32) {
        let variant = input.byte()
        guard let assign = pickAssign(of: peer, &input) else { return (UInt64(variant % 4), UInt32(variant >> 2 & 3)) }
        switch variant % 8 {
        case 5: return (assign.taskID, assign.attempt &+ 1)
        case 6: return (assign.taskID, assign.attempt &- 1)
        case 7: return ((assign.taskID + 1) % 4, assign.attempt)
        default: return (assign.taskID, assign.attempt)
        }
    }

    mutating func chunk(for peer: Peer, _ input: inout FuzzInput) -> LatentChunk {
        let (task, attempt) = target(for: peer, &input)
        let hookpoint = input.pick(Run.hookpoints.map(\.name) + ["layers.9.mlp"])
        let prompt = task < Run.problems.count ? promptIDs(Int(task)) : []
        let base = configuration.includePrompt ? 0 : prompt.count
        let shape = input.byte()
        let firstPosition = shape == 255 ? Int.max : base + Int(shape % 16) - (shape & 0x80 == 0 ? 0 : 4)
        let count = input.int(below: 9) + 1   // the decoder refuses an empty chunk
        let sequence = prompt + generated
        var tokens: [Int32] = []
        let honest = input.byte()
        for i in 0..<count {
            let p = max(0, firstPosition) &+ i
            tokens.append(honest < 192 && p >= 0 && p < sequence.count ? sequence[p] : Int32(honest))
        }
        let k = honest < 224 ? (Run.kByHookpoint[hookpoint] ?? 3) : Int(honest % 5) + 1
        return LatentChunk(taskID: task, attempt: attempt, hookpoint: hookpoint, firstPosition: max(0, firstPosition),
                           tokens: tokens, k: k, indices: [Int32](repeating: 7, count: count * k),
                           activations: [Float](repeating: 1, count: count * k))
    }

    mutating func done(for peer: Peer, _ input: inout FuzzInput) -> TaskDone {
        let (task, attempt) = target(for: peer, &input)
        let prompt = task < Run.problems.count ? promptIDs(Int(task)) : []
        let variant = input.byte()
        var ids = generated
        switch variant % 8 {
        case 1: ids.removeLast()
        case 2: ids.append(97)
        case 3: ids[0] = -1
        case 4: ids = Array(repeating: 97, count: Run.maxNewTokens + 1)
        default: break
        }
        let timing = input.pick([0.5, -1, .nan, .infinity])
        return TaskDone(taskID: task, attempt: attempt, generatedIDs: ids, stopReason: variant & 8 == 0 ? .eos : .length,
                        promptTokens: prompt.count + (variant & 16 == 0 ? 0 : 1), timings: ["total": timing, "decode": timing],
                        fvu: variant & 32 == 0 ? ["layers.1.mlp": 0.25] : ["layers.2.mlp": .nan, "unknown": 1])
    }

    func honestChunks(for assign: Assign, split: Int) -> [LatentChunk] {
        let sequence = assign.promptIDs + generated
        let first = configuration.includePrompt ? 0 : assign.promptIDs.count
        var chunks: [LatentChunk] = []
        for hookpoint in Run.hookpoints.map(\.name) {
            let k = Run.kByHookpoint[hookpoint] ?? 3
            var start = first
            while start < sequence.count {
                let tokens = Array(sequence[start..<min(sequence.count, start + split)])
                chunks.append(LatentChunk(taskID: assign.taskID, attempt: assign.attempt, hookpoint: hookpoint, firstPosition: start,
                                          tokens: tokens, k: k, indices: [Int32](repeating: 5, count: tokens.count * k),
                                          activations: [Float](repeating: 2, count: tokens.count * k)))
                start += split
            }
        }
        return chunks
    }

    func honestDone(for assign: Assign) -> TaskDone {
        TaskDone(taskID: assign.taskID, attempt: assign.attempt, generatedIDs: generated, stopReason: .eos,
                 promptTokens: assign.promptIDs.count, timings: ["total": 0.5], fvu: ["layers.1.mlp": 0.25])
    }

    // MARK: The end

    /// An honest worker joins and the clock runs on until the run is finished: no task may be lost.
    mutating func finish() {
        let worker = Run.honestPeer
        if Run.trace { print("— the script ends: an honest worker joins and the clock runs on") }
        receive(.hello(Run.hello(worker, slots: 8, variant: 0)), from: worker)
        receive(.credit(Credit(count: 8)), from: worker)
        var rounds = 0
        while !machine.isFinished && rounds < 100 {
            rounds += 1
            now += 5
            receive(.heartbeat(Heartbeat(sequence: UInt64(rounds))), from: worker)
            newAssigns = []
            tick()
            for (peer, assign) in newAssigns where peer == worker {
                for chunk in honestChunks(for: assign, split: 3) { receive(.latentChunk(chunk), from: worker) }
                receive(.taskDone(honestDone(for: assign)), from: worker)
                receive(.credit(Credit(count: 1)), from: worker)
            }
            commit()
        }
        event("recordNewFailures") { $0.recordNewFailures() }
        if machine.quarantinedWorkers.contains("w\(worker[0])@host") { return }
        check(machine.isFinished, "the run does not finish: \(machine.progress.done) done, \(machine.progress.failed) failed of \(Run.problems.count) after \(rounds) rounds with an honest worker")
        let failed = Set(machine.failedProblems.keys)
        for task in Run.problems.indices {
            let id = Run.problems[task].id
            let committed = journal[task] != nil
            check(committed != failed.contains(id), "\(id) is \(committed ? "both committed and failed" : "neither committed nor failed")")
        }
    }
}
