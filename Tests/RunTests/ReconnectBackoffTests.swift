import Testing
@testable import Worker

@Suite struct ReconnectBackoffTests {
    @Test func delaysDoubleUpToTheMaximum() {
        var b = ReconnectBackoff(initial: 0.5, maximum: 3)
        #expect((0..<5).map { _ in b.nextDelay() } == [0.5, 1, 2, 3, 3])
    }

    @Test func resetStartsOverAfterASuccessfulConnection() {
        var b = ReconnectBackoff(initial: 1, maximum: 8)
        _ = b.nextDelay(); _ = b.nextDelay()
        b.reset()
        #expect(b.nextDelay() == 1)
    }

    @Test func aPeerIsGoneAfterLivenessSilentIntervals() {
        var p = PeerLiveness(heartbeatInterval: 1, liveness: 3, now: 0)
        #expect(!p.isExpired(now: 2.9))
        #expect(p.isExpired(now: 3.1))
        p.heard(now: 3.1)
        #expect(!p.isExpired(now: 5))
    }
}
