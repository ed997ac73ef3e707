import Foundation

/// The rows one forward step processes: any mix of sequences (slots), each with one or more
/// consecutive positions. Arrays keep their capacity between steps, so a step does not allocate.
public struct ForwardBatch {
    /// Slot (KV-cache row) of each row.
    public internal(set) var slots: [Int] = []
    /// Sequence, position, input token and prompt flag of each row; also what sinks receive.
    public internal(set) var rows: [ActivationRow] = []
    /// For each row, the index of its logits in `Qwen2Workspace.logits`, or -1 when none are needed.
    public internal(set) var logitIndex: [Int] = []
    public internal(set) var logitCount = 0
    /// The feature edits of each row's sequence (empty for most); see `FeatureEditPass`.
    public internal(set) var rowEdits: [[BoundFeatureEdit]] = []
    /// Whether any row has edits (so a step without them skips the edit pass entirely).
    public internal(set) var hasEdits = false

    public var count: Int { rows.count }

    public init(capacity: Int) {
        slots.reserveCapacity(capacity)
        rows.reserveCapacity(capacity)
        logitIndex.reserveCapacity(capacity)
        rowEdits.reserveCapacity(capacity)
    }

    public mutating func removeAll() {
        slots.removeAll(keepingCapacity: true)
        rows.removeAll(keepingCapacity: true)
        logitIndex.removeAll(keepingCapacity: true)
        rowEdits.removeAll(keepingCapacity: true)
        logitCount = 0
        hasEdits = false
    }

    /// Adds one position of the sequence in `slot`; `wantsLogits` asks for next-token logits;
    /// `edits` are the sequence's feature edits (the forward pass applies those active at this row).
    public mutating func append(slot: Int, row: ActivationRow, wantsLogits: Bool, edits: [BoundFeatureEdit] = []) {
        slots.append(slot)
        rowEdits.append(edits)
        if !edits.isEmpty { hasEdits = true }
        rows.append(row)
        logitIndex.append(wantsLogits ? logitCount : -1)
        if wantsLogits { logitCount += 1 }
    }
}
