import CZeroMQ

/// A libzmq context: the I/O threads all its sockets share. Safe to use from any thread
/// (libzmq contexts are); its sockets are not.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// - Parameter ioThreads: threads libzmq uses for network I/O; one handles about a gigabyte a second.
    public init(ioThreads: Int = 1) throws(ZMQError) {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        self.handle = handle
        if zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads)) != 0 {
            let error = ZMQError.last("zmq_ctx_set(ZMQ_IO_THREADS, \(ioThreads))")
            zmq_ctx_term(handle)
            throw error
        }
    }

    /// Makes every blocking call on this context's sockets return an error with
    /// `isContextTerminated`, e.g. to stop a thread blocked in `poll` from a signal handler thread.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    /// Sockets keep their context alive, so by now every socket is closed and, because
    /// `ZMQSocket` sets a finite linger, termination cannot hang on unsent messages forever.
    deinit {
        while zmq_ctx_term(handle) == -1 && zmq_errno() == ZMQErrorCode.interrupted {}
    }
}
