import Platform
import Experiment
import Compute
import Protocol

/// Turns captured activations into `LatentChunk`s: rows are buffered per capture point
/// across sequences (so the SAE's GEMM sees a block of rows, not one at a time), encoded,
/// routed back to their task, and cut into chunks of consecutive positions.
///
/// SAE encoding is row-independent, so which rows share a block does not change any
/// row's latents; a task's chunks are the same whatever else the worker is doing.
final class LatentStreamer: ActivationSink {
    /// One (capture point, SAE) pair of the run, e.g. `hidden_states.10` encoded by `layers.10.mlp`.
    struct Stream {
        let spec: HookpointSpec
        /// The model's tap point that `spec.capture` names.
        let capture: Hookpoint
        let sae: SparseAutoencoder
        var pendingValues: [Float] = []      // [pendingRows, width]
        var pendingRows: [(task: Int, position: Int, token: Int32)] = []

        init(spec: HookpointSpec, capture: Hookpoint, sae: SparseAutoencoder) {
            self.spec = spec
            self.capture = capture
            self.sae = sae
        }

        /// The bundle's hookpoint name.
        var name: String { spec.name }
    }

    /// Per task and stream: latents not yet sent, and the running fit statistics.
    struct TaskStream {
        var firstPosition = -1
        var tokens: [Int32] = []
        var indices: [Int32] = []            // [tokens, k]
        var activations: [Float] = []        // [tokens, k]
        var nextPosition = -1
        var residualSquares = 0.0            // Σ‖x − x̂‖²
        var sum: [Double] = []               // Σx, [width]
        var squares = 0.0                    // Σ‖x‖²
        var rows = 0
    }

    struct TaskState {
        let assign: Assign
        var streams: [TaskStream]
    }

    private(set) var streams: [Stream]
    private var tasks: [Int: TaskState] = [:]
    private let encodeBlockRows: Int
    private let chunkTokens: Int
    private let measureFit: Bool
    /// Messages ready to send, in order.
    var outbox: [Message] = []
    /// Streams whose SAE cannot reconstruct (e.g. skip_connection without W_skip), with the
    /// reason: their FVU is left out, and the worker says why once.
    private(set) var fitUnavailable: [String: String] = [:]
    /// Seconds spent encoding (for the TaskDone timings; shared across tasks in a block).
    private(set) var encodeSeconds = 0.0

    init(streams: [Stream], encodeBlockRows: Int = 64, chunkTokens: Int = 64, measureFit: Bool = true) {
        self.streams = streams
        self.encodeBlockRows = encodeBlockRows
        self.chunkTokens = chunkTokens
        self.measureFit = measureFit
    }

    var activeTaskCount: Int { tasks.count }
    var activeTaskIDs: [UInt64] { tasks.values.map(\.assign.taskID).sorted() }

    func begin(sequence: Int, assign: Assign) {
        tasks[sequence] = TaskState(assign: assign, streams: Array(repeating: TaskStream(), count: streams.count))
    }

    /// Forget every task (the connection to the coordinator was lost).
    func abandonAll() {
        tasks.removeAll()
        for s in streams.indices {
            streams[s].pendingValues.removeAll(keepingCapacity: true)
            streams[s].pendingRows.removeAll(keepingCapacity: true)
        }
    }

    // MARK: ActivationSink

    func receive(hookpoint: Hookpoint, rows: UnsafeBufferPointer<ActivationRow>, values: UnsafeBufferPointer<Float>, width: Int) {
        for s in streams.indices where streams[s].capture == hookpoint {
            for (r, row) in rows.enumerated() {
                guard let state = tasks[row.sequenceID], state.assign.streamsLatents else { continue }
                if row.isPrompt && !state.assign.includePrompt { continue }
                streams[s].pendingValues.append(contentsOf: values[(r * width)..<((r + 1) * width)])
                streams[s].pendingRows.append((row.sequenceID, row.position, row.tokenID))
            }
            if streams[s].pendingRows.count >= encodeBlockRows { encodePending(stream: s) }
        }
    }

    // MARK: Encoding and chunking

    private func encodePending(stream s: Int) {
        let rows = streams[s].pendingRows
        guard !rows.isEmpty else { return }
        let sae = streams[s].sae
        let width = sae.dIn
        let x = streams[s].pendingValues
        let started = MonotonicClock.now()
        let latents = sae.encode(x, rows: rows.count)
        var reconstruction: [Float]? = nil
        if measureFit && sae.hasDecoder && fitUnavailable[streams[s].name] == nil {
            // The input goes in too: an SAE with a skip connection reconstructs from it.
            do {
                reconstruction = try sae.reconstruct(latents, x: x)
            } catch {
                fitUnavailable[streams[s].name] = "\(error)"
            }
        }
        encodeSeconds += MonotonicClock.now() - started
        streams[s].pendingValues.removeAll(keepingCapacity: true)
        streams[s].pendingRows.removeAll(keepingCapacity: true)
        let k = latents.k
        for (r, row) in rows.enumerated() {
            guard var state = tasks[row.task] else { continue }
            var ts = state.streams[s]
            if ts.nextPosition != row.position, !ts.tokens.isEmpty {
                // Not consecutive (cannot happen for one sequence, but a chunk must never lie).
                flushChunk(&ts, stream: s, assign: state.assign)
            }
            if ts.tokens.isEmpty { ts.firstPosition = row.position }
            ts.tokens.append(row.token)
            ts.indices.append(contentsOf: latents.indices[(r * k)..<((r + 1) * k)])
            ts.activations.append(contentsOf: latents.activations[(r * k)..<((r + 1) * k)])
            ts.nextPosition = row.position + 1
            if let reconstruction {
                if ts.sum.isEmpty { ts.sum = Array(repeating: 0, count: width) }
                var residual = 0.0, square = 0.0
                for j in 0..<width {
                    let v = Double(x[r * width + j])
                    let d = v - Double(reconstruction[r * width + j])
                    residual += d * d
                    square += v * v
                    ts.sum[j] += v
                }
                ts.residualSquares += residual
                ts.squares += square
                ts.rows += 1
            }
            if ts.tokens.count >= chunkTokens { flushChunk(&ts, stream: s, assign: state.assign) }
            state.streams[s] = ts
            tasks[row.task] = state
        }
    }

    private func flushChunk(_ ts: inout TaskStream, stream s: Int, assign: Assign) {
        guard !ts.tokens.isEmpty else { return }
        outbox.append(.latentChunk(LatentChunk(
            taskID: assign.taskID, attempt: assign.attempt, hookpoint: streams[s].name,
            firstPosition: ts.firstPosition, tokens: ts.tokens, k: streams[s].sae.k,
            indices: ts.indices, activations: ts.activations)))
        ts.tokens.removeAll(keepingCapacity: true)
        ts.indices.removeAll(keepingCapacity: true)
        ts.activations.removeAll(keepingCapacity: true)
        ts.firstPosition = -1
    }

    /// The sequence is finished: encode what is still buffered, send its last chunks, and
    /// return its fraction of variance unexplained per stream (over the task's rows).
    func finish(sequence: Int) -> (assign: Assign, fvu: [String: Double])? {
        for s in streams.indices where streams[s].pendingRows.contains(where: { $0.task == sequence }) {
            encodePending(stream: s)
        }
        guard var state = tasks.removeValue(forKey: sequence) else { return nil }
        var fvu: [String: Double] = [:]
        for s in streams.indices {
            flushChunk(&state.streams[s], stream: s, assign: state.assign)
            let ts = state.streams[s]
            if ts.rows > 0 {
                let n = Double(ts.rows)
                let centred = ts.squares - ts.sum.reduce(0) { $0 + $1 * $1 } / n
                fvu[streams[s].name] = centred > 0 ? ts.residualSquares / centred : 0
            }
        }
        return (state.assign, fvu)
    }
}
