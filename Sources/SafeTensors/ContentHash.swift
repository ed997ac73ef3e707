/// The one 64-bit content hash of ThinkLens: model and SAE fingerprints are built from it.
/// xxHash64-style rounds over 8-byte little-endian words, the odd tail bytes one at a time,
/// each `add` closed by mixing in its length, and a SplitMix64 finaliser. It detects mix-ups
/// (another checkpoint, a re-export in another dtype), not tampering: it is not cryptographic.
///
/// The values are part of every bundle (fingerprints in `manifest.json`) and of the wire
/// handshake, so the algorithm never changes; `ContentHashTests` pins known values.
public struct ContentHash: Sendable {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private var state: UInt64 = 0x27D4_EB2F_1656_67C5

    public init() {}

    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let n = bytes.count
        var s = state
        var i = 0
        while i + 8 <= n {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            s = Self.rotate(s ^ (word &* Self.prime2), 31) &* Self.prime1
            i += 8
        }
        while i < n {
            s = Self.rotate(s ^ (UInt64(base.load(fromByteOffset: i, as: UInt8.self)) &* Self.prime1), 11) &* Self.prime2
            i += 1
        }
        state = Self.rotate(s ^ UInt64(n), 27) &* Self.prime1
    }

    /// Strings end with a zero byte, so concatenations cannot collide.
    public mutating func add(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.append(0)
        bytes.withUnsafeBytes { add($0) }
    }

    /// Small tensors whole; larger ones as `samples` evenly spaced `sampleBytes` pieces from
    /// the first byte to the last, so fingerprinting a GB-sized file reads about a MB.
    public mutating func addSampled(_ bytes: UnsafeRawBufferPointer, wholeUpTo: Int = 1 << 20, samples: Int = 64, sampleBytes: Int = 4096) {
        guard bytes.count > 0 else { return }
        if bytes.count <= wholeUpTo {
            add(bytes)
            return
        }
        let lastStart = bytes.count - sampleBytes
        for i in 0..<samples {
            let offset = lastStart * i / (samples - 1)
            add(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + sampleBytes)]))
        }
    }

    public var value: UInt64 {
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 16 lower-case hex digits.
    public var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    @inline(__always) private static func rotate(_ x: UInt64, _ r: UInt64) -> UInt64 {
        (x << r) | (x >> (64 - r))
    }
}
