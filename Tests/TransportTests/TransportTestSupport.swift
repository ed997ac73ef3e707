import Protocol
import Transport

/// Positive waits are generous because the test box is small and shared; negative
/// waits ("nothing arrives") are short, and a connection normally completes in milliseconds.
let deliveryTimeoutMilliseconds = 5_000
let silenceMilliseconds = 700

/// The next message on `socket`, or nil if none arrives within the timeout.
func receive(_ socket: ZMQSocket, withinMilliseconds timeout: Int = deliveryTimeoutMilliseconds) throws -> [Frame]? {
    let ready = try ZMQPoll.poll([PollItem(socket, events: .readable)], timeoutMilliseconds: timeout)
    guard ready[0].contains(.readable) else { return nil }
    return try socket.receive(mode: .nonBlocking)
}

/// Every message that arrives on `socket` during `milliseconds`.
func drain(_ socket: ZMQSocket, forMilliseconds milliseconds: Int) throws -> [[Frame]] {
    var messages: [[Frame]] = []
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: .milliseconds(milliseconds))
    while clock.now < end {
        let left = clock.now.duration(to: end).components
        let leftMilliseconds = Int(left.seconds) * 1000 + Int(left.attoseconds / 1_000_000_000_000_000)
        if let frames = try receive(socket, withinMilliseconds: max(1, leftMilliseconds)) {
            messages.append(frames)
        }
    }
    return messages
}

func decode(_ frame: Frame) throws -> Message {
    try frame.withUnsafeBytes { try Message.decode($0) }
}
