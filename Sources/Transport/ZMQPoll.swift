import CZeroMQ

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// What a socket is ready for.
public struct PollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// At least one message can be received without blocking.
    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// At least one message can be sent without blocking.
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
}

/// A socket and the events to wait for on it.
public struct PollItem {
    public let socket: ZMQSocket
    public let events: PollEvents

    public init(_ socket: ZMQSocket, events: PollEvents = .readable) {
        self.socket = socket
        self.events = events
    }
}

public enum ZMQPoll {
    /// Waits until one of the items is ready or the timeout passes, and returns each item's
    /// ready events (empty sets on timeout), in the order of `items`.
    ///
    /// - Parameter timeoutMilliseconds: 0 returns at once, -1 waits without limit. An
    ///   interrupting signal restarts the wait with the time that is left.
    public static func poll(_ items: [PollItem], timeoutMilliseconds: Int) throws(ZMQError) -> [PollEvents] {
        var raw: [zmq_pollitem_t] = []
        raw.reserveCapacity(items.count)
        for item in items {
            // A closed socket's nil handle would make libzmq poll file descriptor 0 instead.
            guard let handle = item.socket.rawHandle else {
                throw ZMQError(code: ENOTSOCK, operation: "zmq_poll (a socket in the poll set is closed)")
            }
            raw.append(zmq_pollitem_t(socket: handle, fd: 0, events: item.events.rawValue, revents: 0))
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(max(timeoutMilliseconds, 0)))
        var timeout = timeoutMilliseconds
        while true {
            let result = zmq_poll(&raw, Int32(raw.count), timeout)
            if result >= 0 { break }
            let code = zmq_errno()
            guard code == ZMQErrorCode.interrupted else { throw ZMQError(code: code, operation: "zmq_poll") }
            if timeoutMilliseconds > 0 {
                let left = clock.now.duration(to: deadline).components
                timeout = max(0, Int(left.seconds) * 1000 + Int(left.attoseconds / 1_000_000_000_000_000))
            }
        }
        return raw.map { PollEvents(rawValue: $0.revents) }
    }
}
