import CZeroMQ

/// A ROUTER or DEALER socket.
///
/// Not thread-safe: one thread owns each socket for its whole life (libzmq sockets are
/// not thread-safe either). Drive it from one event loop with `ZMQPoll.poll` and the
/// non-blocking `send`/`receive` modes:
///
///     let router = try ZMQSocket(context, kind: .router)
///     try router.setRouterMandatory(true)
///     let endpoint = try router.bind("tcp://127.0.0.1:*")
///     while running {
///         let ready = try ZMQPoll.poll([PollItem(router)], timeoutMilliseconds: 100)
///         while ready[0].contains(.readable), let frames = try router.receive(mode: .nonBlocking) {
///             let peer = frames[0].bytes  // routing id of the sender
///             let message = try frames[1].withUnsafeBytes { try Message.decode($0) }
///             ...
///         }
///         // timers (heartbeats, expiry) run here
///     }
public final class ZMQSocket {
    public enum Kind: Sendable {
        /// Talks to many peers; every received message starts with the sender's routing id
        /// frame, and every sent message must start with the recipient's.
        case router
        /// Talks to one peer (the coordinator); frames go out and come in as they are.
        case dealer
        /// One-to-one over inproc; here only the receiving end of a socket monitor.
        case pair

        var zmqType: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER
            case .dealer: return ZMQ_DEALER
            case .pair: return ZMQ_PAIR
            }
        }
    }

    public enum Mode: Sendable {
        /// Wait until the call can complete (or the context is shut down).
        case blocking
        /// Return `.wouldBlock` / `nil` at once when the call cannot complete now.
        case nonBlocking

        var flags: Int32 { self == .blocking ? 0 : ZMQ_DONTWAIT }
    }

    public enum SendResult: Equatable, Sendable {
        case sent
        /// The high-water mark is reached (or, for a DEALER, no peer is connected yet); nothing was queued.
        case wouldBlock
    }

    public let kind: Kind
    private let context: ZMQContext
    private var handle: UnsafeMutableRawPointer?

    /// - Parameter lingerMilliseconds: how long closing waits for queued outgoing messages;
    ///   0 (the default) drops them, so closing and context termination never hang.
    public init(_ context: ZMQContext, kind: Kind, lingerMilliseconds: Int = 0) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, kind.zmqType) else {
            throw ZMQError.last("zmq_socket(\(kind))")
        }
        self.kind = kind
        self.context = context
        self.handle = handle
        try setLinger(milliseconds: lingerMilliseconds)
    }

    deinit { close() }

    /// Closes the socket (also done on deinit); later calls fail with ENOTSOCK.
    public func close() {
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    var rawHandle: UnsafeMutableRawPointer? { handle }

    // MARK: Options

    public func setLinger(milliseconds: Int) throws(ZMQError) {
        try setOption(ZMQ_LINGER, Int32(clamping: milliseconds), "ZMQ_LINGER")
    }

    /// Messages queued per peer before sends would block (0 = unlimited). A safety net;
    /// credit-based flow control is what keeps queues short.
    public func setSendHighWaterMark(_ messages: Int) throws(ZMQError) {
        try setOption(ZMQ_SNDHWM, Int32(clamping: messages), "ZMQ_SNDHWM")
    }

    public func setReceiveHighWaterMark(_ messages: Int) throws(ZMQError) {
        try setOption(ZMQ_RCVHWM, Int32(clamping: messages), "ZMQ_RCVHWM")
    }

    /// Largest message frame accepted from a peer; a peer sending a larger one is
    /// disconnected (it may reconnect) and the frame is never delivered. -1 = no limit.
    public func setMaximumMessageSize(_ bytes: Int) throws(ZMQError) {
        try setOption(ZMQ_MAXMSGSIZE, Int64(bytes), "ZMQ_MAXMSGSIZE")
    }

    /// ROUTER only: sending to an unknown routing id fails with `isHostUnreachable`
    /// instead of being dropped silently, so the sender notices dead peers.
    public func setRouterMandatory(_ enabled: Bool) throws(ZMQError) {
        try setOption(ZMQ_ROUTER_MANDATORY, Int32(enabled ? 1 : 0), "ZMQ_ROUTER_MANDATORY")
    }

    /// The id a ROUTER peer sees this socket by (set before `connect`); at most 255 bytes, not starting with 0.
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) {
        try setOption(ZMQ_ROUTING_ID, bytes: id, "ZMQ_ROUTING_ID")
    }

    /// ZMTP heartbeats: ping every `interval`, drop the connection when no traffic arrives
    /// within `timeout`; `ttl` tells the peer to drop us after that long without traffic.
    public func setHeartbeat(intervalMilliseconds: Int, timeoutMilliseconds: Int, ttlMilliseconds: Int = 0) throws(ZMQError) {
        try setOption(ZMQ_HEARTBEAT_IVL, Int32(clamping: intervalMilliseconds), "ZMQ_HEARTBEAT_IVL")
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, Int32(clamping: timeoutMilliseconds), "ZMQ_HEARTBEAT_TIMEOUT")
        try setOption(ZMQ_HEARTBEAT_TTL, Int32(clamping: ttlMilliseconds), "ZMQ_HEARTBEAT_TTL")
    }

    /// Makes this socket a CURVE server (call before `bind`): peers must know `keys.publicKey`.
    public func setCurveServer(_ keys: CurveKeyPair) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVER, Int32(1), "ZMQ_CURVE_SERVER")
        try setKey(ZMQ_CURVE_SECRETKEY, keys.secretKey, "ZMQ_CURVE_SECRETKEY")
    }

    /// Makes this socket a CURVE client (call before `connect`) of the server whose public
    /// key is `serverPublicKey`; a server with another key never completes the handshake.
    public func setCurveClient(serverPublicKey: String, keys: CurveKeyPair) throws(ZMQError) {
        try setKey(ZMQ_CURVE_SERVERKEY, serverPublicKey, "ZMQ_CURVE_SERVERKEY")
        try setKey(ZMQ_CURVE_PUBLICKEY, keys.publicKey, "ZMQ_CURVE_PUBLICKEY")
        try setKey(ZMQ_CURVE_SECRETKEY, keys.secretKey, "ZMQ_CURVE_SECRETKEY")
    }

    private func setKey(_ option: Int32, _ z85: String, _ name: String) throws(ZMQError) {
        guard CurveKeyPair.isValidZ85Key(z85) else {
            throw ZMQError(code: EINVAL, operation: "zmq_setsockopt(\(name)): key is not 40 Z85 characters")
        }
        // libzmq takes a Z85 key with its terminating NUL (41 bytes).
        var bytes = Array(z85.utf8)
        bytes.append(0)
        try setOption(option, bytes: bytes, name)
    }

    private func setOption<Value>(_ option: Int32, _ value: Value, _ name: String) throws(ZMQError) {
        var value = value
        try retryingInterrupts("zmq_setsockopt(\(name))") {
            withUnsafeBytes(of: &value) { raw in zmq_setsockopt(handle, option, raw.baseAddress, raw.count) }
        }
    }

    private func setOption(_ option: Int32, bytes: [UInt8], _ name: String) throws(ZMQError) {
        try retryingInterrupts("zmq_setsockopt(\(name))") {
            bytes.withUnsafeBytes { raw in zmq_setsockopt(handle, option, raw.baseAddress, raw.count) }
        }
    }

    // MARK: Endpoints

    /// Binds, e.g. to "tcp://127.0.0.1:*" for an ephemeral port, and returns the endpoint
    /// actually bound (with the port filled in).
    @discardableResult
    public func bind(_ endpoint: String) throws(ZMQError) -> String {
        try retryingInterrupts("zmq_bind(\(endpoint))") { zmq_bind(handle, endpoint) }
        return try lastEndpoint()
    }

    /// Starts connecting (libzmq connects and reconnects in the background) and returns the endpoint.
    @discardableResult
    public func connect(_ endpoint: String) throws(ZMQError) -> String {
        try retryingInterrupts("zmq_connect(\(endpoint))") { zmq_connect(handle, endpoint) }
        return try lastEndpoint()
    }

    /// The endpoint of the last `bind` or `connect`.
    public func lastEndpoint() throws(ZMQError) -> String {
        var buffer = [CChar](repeating: 0, count: 1024)
        var length = buffer.count
        try retryingInterrupts("zmq_getsockopt(ZMQ_LAST_ENDPOINT)") {
            zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &length)
        }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Messages

    /// Sends one multipart message; each frame is copied once, into libzmq.
    /// A ROUTER's first frame is the recipient's routing id.
    @discardableResult
    public func send(_ frames: [[UInt8]], mode: Mode = .blocking) throws(ZMQError) -> SendResult {
        precondition(!frames.isEmpty, "a message has at least one frame")
        for (index, frame) in frames.enumerated() {
            let isLast = index == frames.count - 1
            // libzmq queues all frames of a message or none: once the first is accepted, the rest are too.
            let flags = (isLast ? 0 : ZMQ_SNDMORE) | (index == 0 ? mode.flags : 0)
            while true {
                let status = frame.withUnsafeBytes { bytes in zmq_send(handle, bytes.baseAddress, bytes.count, flags) }
                if status >= 0 { break }
                let code = zmq_errno()
                if code == ZMQErrorCode.interrupted { continue }
                if code == ZMQErrorCode.wouldBlock && index == 0 { return .wouldBlock }
                throw ZMQError(code: code, operation: "zmq_send")
            }
        }
        return .sent
    }

    /// Receives one multipart message, or `nil` in `.nonBlocking` mode when none is waiting.
    /// The frames own libzmq's buffers; nothing is copied.
    public func receive(mode: Mode = .blocking) throws(ZMQError) -> [Frame]? {
        var frames: [Frame] = []
        while true {
            let frame = Frame()
            // Frames of one message arrive together, so only the first may have to wait.
            let flags = frames.isEmpty ? mode.flags : 0
            do {
                try retryingInterrupts("zmq_msg_recv") { zmq_msg_recv(frame.message, handle, flags) }
            } catch {
                if error.code == ZMQErrorCode.wouldBlock && frames.isEmpty { return nil }
                throw error
            }
            frames.append(frame)
            if zmq_msg_more(frame.message) == 0 { return frames }
        }
    }
}

/// Sockets belong to one thread; the compiler should refuse to send them elsewhere.
@available(*, unavailable)
extension ZMQSocket: Sendable {}

/// One received frame. Owns libzmq's message buffer (released on deinit), so reading it
/// through `withUnsafeBytes` copies nothing.
public final class Frame {
    fileprivate let message: UnsafeMutablePointer<zmq_msg_t>

    fileprivate init() {
        message = .allocate(capacity: 1)
        zmq_msg_init(message)
    }

    deinit {
        zmq_msg_close(message)
        message.deallocate()
    }

    public var count: Int { zmq_msg_size(message) }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(message), count: zmq_msg_size(message)))
    }

    /// A copy of the bytes, e.g. a routing id to address a reply with.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
