import CZeroMQ

/// Admits CURVE clients by public key (ZeroMQ Authentication Protocol, RFC 27).
///
/// libzmq asks the handler bound at `inproc://zeromq.zap.01` in the same context about every
/// new connection to a CURVE server socket; without a handler any client that knows the
/// server's public key gets in. Bind this before the server socket accepts connections and
/// poll `socket` in the same loop as the server socket (one thread owns both).
public final class ZAPAuthenticator {
    public static let endpoint = "inproc://zeromq.zap.01"

    public let socket: ZMQSocket
    /// Z85 public keys of the clients that may connect.
    public private(set) var allowedKeys: Set<String>
    /// Connections refused so far, for logs and tests.
    public private(set) var refused = 0
    /// Called for each refusal with the client's address and key, so the owner can log it.
    public var onRefusal: ((_ address: String, _ publicKey: String) -> Void)?

    public init(_ context: ZMQContext, allowedKeys: Set<String>) throws(ZMQError) {
        self.allowedKeys = allowedKeys
        socket = try ZMQSocket(context, kind: .router)
        try socket.bind(Self.endpoint)
    }

    /// Answers every pending request without waiting.
    public func handlePending() throws(ZMQError) {
        while let frames = try socket.receive(mode: .nonBlocking) {
            // [routing id, empty, version, request id, domain, address, identity, mechanism, credentials...]
            guard frames.count >= 8 else { continue }
            let routing = frames[0].bytes
            let version = frames[2].bytes
            let requestID = frames[3].bytes
            let address = String(decoding: frames[5].bytes, as: UTF8.self)
            let mechanism = String(decoding: frames[7].bytes, as: UTF8.self)
            var status = "400", text = "unknown client key", user = ""
            if version == Array("1.0".utf8), mechanism == "CURVE", frames.count >= 9, frames[8].count == 32 {
                let key = Self.z85(frames[8].bytes)
                if allowedKeys.contains(key) {
                    status = "200"; text = "OK"; user = key
                } else {
                    refused += 1
                    onRefusal?(address, key)
                }
            } else {
                refused += 1
                onRefusal?(address, "(\(mechanism) without a CURVE key)")
                text = "CURVE required"
            }
            try socket.send([routing, [], Array("1.0".utf8), requestID, Array(status.utf8), Array(text.utf8), Array(user.utf8), []], mode: .nonBlocking)
        }
    }

    static func z85(_ key: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: 41)
        _ = key.withUnsafeBufferPointer { zmq_z85_encode(&text, $0.baseAddress, 32) }
        return String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
