import Protocol
import Testing

/// Peer-supplied strings reach the log escaped and bounded.
@Suite struct PeerTextTests {
    @Test func controlCharactersAreEscaped() {
        #expect(PeerText.escaped("w1\n2026 error forged\u{1B}[2J\u{7F}") == "w1\\u{a}2026 error forged\\u{1b}[2J\\u{7f}")
    }

    @Test func printableTextIsKept() {
        #expect(PeerText.escaped("worker-3@node17 ünïcode") == "worker-3@node17 ünïcode")
    }

    @Test func longTextIsCut() {
        #expect(PeerText.escaped(String(repeating: "x", count: 500), limit: 10) == "xxxxxxxxxx…")
    }
}
