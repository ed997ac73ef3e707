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

    public var count: Int { rows.count }

    public init(capacity: Int) {
        slots.reserveCapacity(capacity)
        rows.reserveCapacity(capacity)
        logitIndex.reserveCapacity(capacity)
    }

    public mutating func removeAll() {
        slots.removeAll(keepingCapacity: true)
        rows.removeAll(keepingCapacity: true)
        logitIndex.removeAll(keepingCapacity: true)
        logitCount = 0
    }

    /// Adds one position of the sequence in `slot`; `wantsLogits` asks for next-token logits.
    public mutating func append(slot: Int, row: ActivationRow, wantsLogits: Bool) {
        slots.append(slot)
        rows.append(row)
        logitIndex.append(wantsLogits ? logitCount : -1)
        if wantsLogits { logitCount += 1 }
    }
}
