/// The worker's view of whether the coordinator is still there: any message renews it,
/// and `liveness` silent heartbeat intervals in a row mean it is gone.
public struct PeerLiveness: Sendable {
    public let heartbeatInterval: Double
    public let liveness: Int
    public private(set) var lastHeard: Double

    public init(heartbeatInterval: Double, liveness: Int = 3, now: Double) {
        self.heartbeatInterval = heartbeatInterval
        self.liveness = liveness
        self.lastHeard = now
    }

    public mutating func heard(now: Double) { lastHeard = now }

    public func isExpired(now: Double) -> Bool {
        now - lastHeard > heartbeatInterval * Double(liveness)
    }
}
