import Testing
@testable import Worker

@Suite struct PeerLivenessTests {
    @Test func aPeerIsGoneAfterLivenessSilentIntervals() {
        var p = PeerLiveness(heartbeatInterval: 1, liveness: 3, now: 0)
        #expect(!p.isExpired(now: 2.9))
        #expect(p.isExpired(now: 3.1))
        p.heard(now: 3.1)
        #expect(!p.isExpired(now: 5))
    }
}
