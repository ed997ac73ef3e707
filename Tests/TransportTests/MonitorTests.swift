import Foundation
import Testing
import Transport

/// The socket monitor tells a refused key, a failed handshake and an absent peer apart (what a
/// worker needs to say the right thing; the hardening issue's defect 5).
@Suite struct MonitorTests {
    /// Events seen on `socket`'s monitor until `done` holds or two seconds pass; the router is
    /// polled meanwhile so its ZAP handler answers.
    func events(_ monitor: ZMQMonitor, zap: ZAPAuthenticator? = nil, until done: ([ZMQMonitor.Event]) -> Bool) throws -> [ZMQMonitor.Event] {
        var seen: [ZMQMonitor.Event] = []
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            if let zap { _ = try ZMQPoll.poll([PollItem(zap.socket, events: .readable)], timeoutMilliseconds: 10); try zap.handlePending() }
            else { usleep(10_000) }
            seen += monitor.drain()
            if done(seen) { break }
        }
        return seen
    }

    /// A CURVE router and a dealer holding its public key and a fresh key pair, the dealer's
    /// monitor attached before it connects.
    func curvePair(_ context: ZMQContext) throws -> (router: ZMQSocket, dealer: ZMQSocket, monitor: ZMQMonitor) {
        let server = try CurveKeyPair.generate()
        let router = try ZMQSocket(context, kind: .router)
        try router.setCurveServer(server)
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context, kind: .dealer)
        try dealer.setCurveClient(serverPublicKey: server.publicKey, keys: try CurveKeyPair.generate())
        let monitor = try ZMQMonitor(dealer, context: context)
        try dealer.connect(endpoint)
        return (router, dealer, monitor)
    }

    @Test func aKeyTheAllowListLacksIsReportedAsAnAuthenticationFailure() throws {
        let context = try ZMQContext()
        let zap = try ZAPAuthenticator(context, allowedKeys: [try CurveKeyPair.generate().publicKey])
        let (router, dealer, monitor) = try curvePair(context)
        defer { monitor.close() }
        let seen = try events(monitor, zap: zap) { $0.contains { if case .handshakeFailedAuth = $0 { return true } else { return false } } }
        #expect(seen.contains(.handshakeFailedAuth(status: 400)), "\(seen)")
        _ = (router, dealer)
    }

    @Test func aRightKeyCompletesTheHandshake() throws {
        let context = try ZMQContext()
        let (router, dealer, monitor) = try curvePair(context)
        defer { monitor.close() }
        let seen = try events(monitor) { $0.contains(.handshakeSucceeded) }
        #expect(seen.contains(.connected) && seen.contains(.handshakeSucceeded), "\(seen)")
        _ = (router, dealer)
    }

    @Test func nobodyListeningIsReportedAsRetries() throws {
        let context = try ZMQContext()
        // Port 1 (tcpmux) is closed on any machine that runs these tests. (A port bound and
        // closed by ZeroMQ is no good: its listener closes asynchronously, after connects.)
        let endpoint = "tcp://127.0.0.1:1"
        let dealer = try ZMQSocket(context, kind: .dealer)
        let monitor = try ZMQMonitor(dealer, context: context)
        defer { monitor.close() }
        try dealer.connect(endpoint)
        let seen = try events(monitor) { $0.contains(.connectRetried) }
        #expect(seen.contains(.connectRetried) && !seen.contains(.connected), "\(seen)")
    }

    /// A worker makes a new socket and monitor for every reconnect, right after closing the last
    /// pair. libzmq unbinds a closed monitor's inproc endpoint later, on its reaper thread, and the
    /// new socket may take the old one's memory: so no two monitors may share an address.
    @Test func aMonitorMadeRightAfterClosingThePreviousSocketAndMonitorAttaches() throws {
        let context = try ZMQContext()
        for _ in 0..<50 {
            let dealer = try ZMQSocket(context, kind: .dealer)
            let monitor = try ZMQMonitor(dealer, context: context)
            try dealer.connect("tcp://127.0.0.1:1")
            monitor.close()
            dealer.close()
        }
    }
}
