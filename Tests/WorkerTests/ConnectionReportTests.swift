import Testing
import Transport
@testable import Worker

/// What a worker says about a connection that never brought a welcome.
@Suite struct ConnectionReportTests {
    func report(_ events: [ZMQMonitor.Event]) -> ConnectionReport {
        var r = ConnectionReport()
        r.add(events)
        return r
    }

    @Test func aRefusedKeyIsARefusalNamingTheAllowList() {
        let r = report([.connected, .handshakeFailedAuth(status: 400)])
        #expect(r.isRefusal)
        #expect(r.explanation(endpoint: "tcp://c:5555", usesCurve: true, publicKey: "KEY").contains("refused this worker's CURVE key (KEY)"))
    }

    @Test func aHandshakeThatFailsPointsAtTheServerKey() {
        let r = report([.connected, .disconnected])
        #expect(!r.isRefusal)
        #expect(r.explanation(endpoint: "tcp://c:5555", usesCurve: true, publicKey: nil).contains("--curve-server-key is the coordinator's public key"))
        #expect(r.explanation(endpoint: "tcp://c:5555", usesCurve: false, publicKey: nil).contains("probably uses CURVE"))
    }

    @Test func refusedConnectionsMeanNoCoordinator() {
        #expect(report([.connectRetried, .connectRetried]).explanation(endpoint: "tcp://c:5555", usesCurve: false, publicKey: nil)
            == "no coordinator is listening at tcp://c:5555 (connection refused)")
    }

    @Test func aCompletedHandshakeWithoutWelcomeNamesAVersionMismatch() {
        #expect(report([.connected, .handshakeSucceeded]).explanation(endpoint: "tcp://c:5555", usesCurve: true, publicKey: nil)
            .contains("no welcome came"))
    }
}
