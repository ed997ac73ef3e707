/// An `ActivationSink` that keeps every row it receives, per sequence and hookpoint, in position
/// order: for `thinklens generate --dump` and tests. (The worker streams rows to the SAE instead.)
public final class ActivationRecorder: ActivationSink {
    public struct Recording {
        /// [positions, width] row-major, per hookpoint.
        public var values: [Hookpoint: [Float]] = [:]
        /// One entry per position, in order.
        public var rows: [ActivationRow] = []
    }

    public private(set) var recordings: [Int: Recording] = [:]
    public private(set) var width = 0
    private let firstHookpoint: Hookpoint?

    /// `hookpoints` must be the generator's list; rows are recorded once, with the first hookpoint.
    public init(hookpoints: [Hookpoint]) {
        firstHookpoint = hookpoints.first
    }

    public func receive(hookpoint: Hookpoint, rows: UnsafeBufferPointer<ActivationRow>, values: UnsafeBufferPointer<Float>, width: Int) {
        self.width = width
        for (r, row) in rows.enumerated() {
            recordings[row.sequenceID, default: Recording()].values[hookpoint, default: []]
                .append(contentsOf: values[(r * width)..<((r + 1) * width)])
            if hookpoint == firstHookpoint { recordings[row.sequenceID]!.rows.append(row) }
        }
    }
}
