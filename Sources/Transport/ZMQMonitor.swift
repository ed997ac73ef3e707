import CZeroMQ
import Synchronization

/// What libzmq saw on a socket's connections (`zmq_socket_monitor`): whether the peer was
/// reachable at all, and whether the security handshake succeeded or why it failed. A worker
/// uses it to tell "no coordinator there" from "the coordinator refused this worker's key",
/// which the data socket alone cannot (a refused CURVE handshake just looks like silence).
///
/// Create it before `connect`, drain it from the thread that owns the socket, close it before
/// the socket.
public final class ZMQMonitor {
    public enum Event: Equatable, Sendable {
        case connected
        /// Connection refused or unreachable; libzmq will retry.
        case connectRetried
        case disconnected
        case handshakeSucceeded
        /// The peer's authenticator (ZAP) refused our key; `status` is its status code (400 = denied).
        case handshakeFailedAuth(status: Int)
        /// The peers disagree on the protocol or the security mechanism; `code` is libzmq's reason.
        case handshakeFailedProtocol(code: Int)
        /// The handshake failed without details (e.g. a CURVE message that did not decrypt).
        case handshakeFailedNoDetail(errno: Int)
        case other(event: Int, value: Int)
    }

    private let monitored: ZMQSocket
    private let pair: ZMQSocket
    private var closed = false

    /// Numbers the monitors' inproc addresses. libzmq frees a stopped monitor's address only when
    /// its reaper thread gets to it, and a new socket may take a closed one's memory, so an address
    /// made from the socket's identity could still be taken when a worker reconnects.
    private static let created = Atomic<UInt64>(0)

    public init(_ socket: ZMQSocket, context: ZMQContext) throws(ZMQError) {
        monitored = socket
        let address = "inproc://thinklens-monitor-\(Self.created.wrappingAdd(1, ordering: .relaxed).newValue)"
        let events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
            | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
        guard zmq_socket_monitor(socket.rawHandle, address, events) == 0 else {
            throw ZMQError.last("zmq_socket_monitor(\(address))")
        }
        pair = try ZMQSocket(context, kind: .pair)
        try pair.connect(address)
    }

    deinit { close() }

    /// Events that arrived since the last call; never blocks.
    public func drain() -> [Event] {
        var out: [Event] = []
        while !closed, let frames = try? pair.receive(mode: .nonBlocking) {
            guard let first = frames.first, first.count >= 6 else { continue }
            let (event, value) = first.withUnsafeBytes { raw in
                (Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt16.self))),
                 Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt32.self))))
            }
            out.append(Self.event(event, value))
        }
        return out
    }

    static func event(_ event: Int, _ value: Int) -> Event {
        switch Int32(event) {
        case ZMQ_EVENT_CONNECTED: return .connected
        case ZMQ_EVENT_CONNECT_RETRIED: return .connectRetried
        case ZMQ_EVENT_DISCONNECTED: return .disconnected
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return .handshakeSucceeded
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return .handshakeFailedAuth(status: value)
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: return .handshakeFailedProtocol(code: value)
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return .handshakeFailedNoDetail(errno: value)
        default: return .other(event: event, value: value)
        }
    }

    /// Stops monitoring and closes the receiving end.
    public func close() {
        guard !closed else { return }
        closed = true
        if monitored.rawHandle != nil { _ = zmq_socket_monitor(monitored.rawHandle, nil, 0) }
        pair.close()
    }
}
