/// Delays between reconnection attempts to a lost coordinator: doubling from `initial`
/// up to `maximum`, reset once a connection is welcomed (zguide's Paranoid Pirate).
public struct ReconnectBackoff: Sendable {
    public let initial: Double
    public let maximum: Double
    public private(set) var attempts = 0

    public init(initial: Double = 0.5, maximum: Double = 30) {
        precondition(initial > 0 && maximum >= initial, "backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt; each call doubles the following one.
    public mutating func nextDelay() -> Double {
        let delay = min(maximum, initial * Double(1 << min(attempts, 30)))
        attempts += 1
        return delay
    }

    public mutating func reset() { attempts = 0 }
}
