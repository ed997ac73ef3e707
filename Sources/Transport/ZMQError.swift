import CZeroMQ

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A failed libzmq call: which operation, and the error code `zmq_errno()` gave.
///
/// "Would block" (EAGAIN under non-blocking calls) is not an error here: sends and
/// receives report it as a result. EINTR is retried where it occurs.
public struct ZMQError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The errno value, as `zmq_errno()` reported it.
    public let code: Int32
    /// The call that failed, e.g. "zmq_bind(tcp://127.0.0.1:*)".
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The error of the libzmq call that just failed on this thread.
    static func last(_ operation: @autoclosure () -> String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation())
    }

    /// The context was shut down or terminated: stop using its sockets and close them.
    public var isContextTerminated: Bool { code == ZMQErrorCode.terminated }
    /// A ROUTER with `routerMandatory` was asked to send to a peer it does not know (gone or never there).
    public var isHostUnreachable: Bool { code == ZMQErrorCode.hostUnreachable }

    public var description: String {
        "\(operation) failed: \(String(cString: zmq_strerror(code))) (errno \(code))"
    }
}

/// The error codes callers tell apart. libzmq defines its own values for some of them.
enum ZMQErrorCode {
    static let wouldBlock = EAGAIN
    static let interrupted = EINTR
    static let terminated: Int32 = ZMQ_HAUSNUMERO + 53  // ETERM
    static let hostUnreachable = EHOSTUNREACH
}

/// Runs a libzmq call that returns -1 on failure, retrying while it is interrupted by a signal.
@discardableResult
func retryingInterrupts(_ operation: @autoclosure () -> String, _ call: () -> Int32) throws(ZMQError) -> Int32 {
    while true {
        let result = call()
        if result != -1 { return result }
        let code = zmq_errno()
        if code != ZMQErrorCode.interrupted { throw ZMQError(code: code, operation: operation()) }
    }
}
