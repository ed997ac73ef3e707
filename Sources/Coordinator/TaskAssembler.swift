import Experiment
import GSM8K
import Protocol
import ResultBundle
import Tokenizer

/// Builds the committed form of a finished task from its `TaskDone` and the latent chunks
/// staged for it, checking that the latents cover exactly the expected positions, each with the
/// token the sequence has there. Pure: no I/O, so the state machine's tests can drive it.
struct TaskAssembler {
    let configuration: CoordinatorConfiguration
    let promptIDs: [[Int32]]

    /// `hookpoints`: those the task's condition streams (the run's, or none for a condition of a
    /// run with `--intervention-latents none`).
    func assemble(task: Int, done: TaskDone, chunks: [String: [LatentChunk]], hookpoints: [HookpointSpec]) throws -> CommittedTask {
        let problem = configuration.problems[task]
        let prompt = promptIDs[task]
        guard done.promptTokens == prompt.count else {
            throw CoordinatorError("worker reports a \(done.promptTokens)-token prompt; the coordinator sent \(prompt.count)")
        }
        let tokenizer = configuration.tokenizer
        let text = tokenizer.decode(done.generatedIDs)
        let check = problem.check(modelOutput: text)
        let thinkEnd = ChatPrompt.thinkEndIndex(in: done.generatedIDs, tokenizer: tokenizer).map { prompt.count + $0 }
        let record = ProblemRecord(
            id: problem.id, split: problem.split, index: problem.index, question: problem.question,
            gold: problem.gold?.text, promptIDs: prompt, generatedIDs: done.generatedIDs, text: text,
            stop: done.stopReason, answer: check.answer,
            verdict: check.verdict, thinkEnd: thinkEnd)
        let first = configuration.includePrompt ? 0 : prompt.count
        let end = prompt.count + done.generatedIDs.count
        var latents: [String: LatentRows] = [:]
        for hookpoint in hookpoints {
            latents[hookpoint.name] = try rows(of: hookpoint.name, from: chunks[hookpoint.name] ?? [], record: record, covering: first..<end)
        }
        var fvu: [String: Double] = [:]
        for (name, value) in done.fvu where hookpoints.contains(where: { $0.name == name }) { fvu[name] = value }
        return CommittedTask(record: record, latents: latents, fvu: fvu)
    }

    /// One hookpoint's chunks, in position order, as rows covering `range` exactly.
    private func rows(of hookpoint: String, from chunks: [LatentChunk], record: ProblemRecord, covering range: Range<Int>) throws -> LatentRows {
        var positions: [Int32] = [], tokens: [Int32] = [], indices: [Int32] = [], activations: [Float] = []
        var k: Int? = nil
        var next = range.lowerBound
        for chunk in chunks.sorted(by: { $0.firstPosition < $1.firstPosition }) {
            guard chunk.firstPosition == next else {
                throw CoordinatorError("\(hookpoint): latents jump from position \(next) to \(chunk.firstPosition)")
            }
            if let k, k != chunk.k { throw CoordinatorError("\(hookpoint): chunks disagree on k (\(k) vs \(chunk.k))") }
            k = chunk.k
            for (i, token) in chunk.tokens.enumerated() {
                let p = chunk.firstPosition + i
                guard p < range.upperBound, record.token(at: p) == token else {
                    throw CoordinatorError("\(hookpoint): position \(p) carries token \(token), the sequence has \(p < range.upperBound ? String(record.token(at: p)) : "no token there")")
                }
                positions.append(Int32(p))
            }
            tokens += chunk.tokens
            indices += chunk.indices
            activations += chunk.activations
            next += chunk.tokens.count
        }
        guard next == range.upperBound else {
            throw CoordinatorError("\(hookpoint): latents cover positions \(range.lowerBound)..<\(next), expected \(range.lowerBound)..<\(range.upperBound)")
        }
        // Every task generates at least one token, so reaching the end means chunks arrived.
        guard let k else { throw CoordinatorError("\(hookpoint): no latents arrived") }
        return LatentRows(k: k, positions: positions, tokens: tokens, indices: indices, activations: activations, record: record)
    }
}
