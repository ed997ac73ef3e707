import Transport

/// What the worker's socket monitor saw on one connection attempt, and what it means for a
/// connection that never brought a welcome: no coordinator at the address, a coordinator that
/// refused this worker's key, a handshake that failed (a wrong server key, CURVE at one end
/// only), or a peer that accepted the connection but did not answer. Without it every one of
/// these looked like "lost the coordinator".
struct ConnectionReport: Equatable {
    var connected = false
    var retried = false
    var handshakeSucceeded = false
    var disconnected = false
    /// The authenticator's status when it refused our key (400).
    var authenticationStatus: Int?
    var handshakeFailed = false

    mutating func add(_ events: [ZMQMonitor.Event]) {
        for event in events {
            switch event {
            case .connected: connected = true
            case .connectRetried: retried = true
            case .disconnected: disconnected = true
            case .handshakeSucceeded: handshakeSucceeded = true
            case .handshakeFailedAuth(let status): authenticationStatus = status
            case .handshakeFailedProtocol, .handshakeFailedNoDetail: handshakeFailed = true
            case .other: break
            }
        }
    }

    /// The coordinator refused this worker: waiting cannot help.
    var isRefusal: Bool { authenticationStatus != nil }

    /// One sentence for the log, for an attempt that got no welcome.
    func explanation(endpoint: String, usesCurve: Bool, publicKey: String?) -> String {
        if let status = authenticationStatus {
            let key = publicKey.map { " (\($0))" } ?? ""
            return "the coordinator at \(endpoint) refused this worker's CURVE key\(key), status \(status): add the worker's public key to the coordinator's --allow-workers file, or give the worker the key pair listed there"
        }
        if handshakeFailed || (connected && disconnected && !handshakeSucceeded) {
            return usesCurve
                ? "the CURVE handshake with \(endpoint) failed: check that --curve-server-key is the coordinator's public key (its coordinator.pub) and that the coordinator runs with --curve-secret-key"
                : "the handshake with \(endpoint) failed: the coordinator probably uses CURVE; give this worker --curve-server-key (the coordinator's .pub) and --curve-secret-key"
        }
        if handshakeSucceeded {
            return "connected to \(endpoint), but no welcome came: is it a ThinkLens coordinator of the same version?"
        }
        if retried && !connected {
            return "no coordinator is listening at \(endpoint) (connection refused)"
        }
        return "no answer from \(endpoint): is the address right and the port open to this machine?"
    }
}
