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
}
