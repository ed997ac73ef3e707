/// Feeds ids one at a time and returns the text each completes. An incomplete UTF-8 character
/// at the end is held back until the next ids complete it (or `finish()` flushes it as
/// U+FFFD), so the pieces concatenate to exactly `decode(allIDs)`.
public struct StreamingDecoder {
    let tokenizer: BPETokenizer
    public let skipSpecialTokens: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: BPETokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    public mutating func feed(_ id: Int32) -> String {
        tokenizer.appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &pending)
        if pending.isEmpty { return "" }
        let (text, held) = pending.withUnsafeBufferPointer { LossyUTF8.decode($0, final: false) }
        pending.removeFirst(pending.count - held)
        return text
    }

    /// Text for bytes still held back (an unfinished character becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return LossyUTF8.decode(pending)
    }
}
