/// Which sequence and position one activation row belongs to.
public struct ActivationRow: Sendable, Equatable {
    /// The `GenerationRequest.id` of the sequence.
    public var sequenceID: Int
    /// 0-based position in the sequence (prompt first, then generated tokens).
    public var position: Int
    /// The input token at this position.
    public var tokenID: Int32
    /// True for prompt positions, false for generated tokens.
    public var isPrompt: Bool

    public init(sequenceID: Int, position: Int, tokenID: Int32, isPrompt: Bool) {
        self.sequenceID = sequenceID
        self.position = position
        self.tokenID = tokenID
        self.isPrompt = isPrompt
    }
}

/// Receives captured activations, one call per hookpoint per forward step, rows in a block so an
/// SAE encoder can take them as one matrix. Within a sequence, positions arrive in increasing order
/// for each hookpoint. `values` is [rows.count, width] row-major and valid only during the call:
/// copy or encode what you need before returning.
public protocol ActivationSink: AnyObject {
    func receive(hookpoint: Hookpoint, rows: UnsafeBufferPointer<ActivationRow>, values: UnsafeBufferPointer<Float>, width: Int)
}
