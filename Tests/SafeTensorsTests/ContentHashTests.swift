import Testing
@testable import SafeTensors

/// The fingerprint hash's values are part of every manifest and of the wire handshake: they
/// must never change. These were computed by the C implementation the fingerprints used before
/// `ContentHash` replaced it (tl_sae_hash_*, removed since), so the Swift port is held to it.
@Suite struct ContentHashTests {
    static func hash(_ pieces: [String]) -> String {
        var h = ContentHash()
        for piece in pieces { Array(piece.utf8).withUnsafeBytes { h.add($0) } }
        return h.hex
    }

    @Test(arguments: [
        (["a"], "fe465a77913a869d"),
        (["hello world"], "47c18a1c933d30f9"),
        (["0123456789abcdef0123456789abcdef0"], "5f4d0af5b6785b32"),
        (["ab", "cdefghijk"], "34c6965ecf632d6c"),
    ])
    func valuesMatchTheFormerCImplementation(pieces: [String], expected: String) {
        #expect(Self.hash(pieces) == expected)
    }

    @Test func piecesAreNotConcatenated() {
        #expect(Self.hash(["ab", "c"]) != Self.hash(["a", "bc"]))
    }

    @Test func stringsEndWithAZeroByte() {
        var text = ContentHash(), bytes = ContentHash()
        text.add("ab")
        [UInt8(0x61), 0x62, 0].withUnsafeBytes { bytes.add($0) }
        #expect(text.value == bytes.value)
    }

    @Test func sampledTensorsReadEvenlySpacedPieces() {
        let big = [UInt8](repeating: 7, count: 10_000)
        var whole = ContentHash(), sampled = ContentHash()
        big.withUnsafeBytes { whole.addSampled($0, wholeUpTo: 1 << 20) }
        big.withUnsafeBytes { sampled.addSampled($0, wholeUpTo: 1000, samples: 4, sampleBytes: 100) }
        #expect(whole.value != sampled.value)
        var manual = ContentHash()
        for offset in [0, 3300, 6600, 9900] { Array(big[offset..<(offset + 100)]).withUnsafeBytes { manual.add($0) } }
        #expect(manual.value == sampled.value)
    }
}
