/// The journal's record checksum: 64 bits over a record's payload, four independent lanes of
/// eight bytes (a multiply–rotate mix in the style of xxHash), so checksumming a large record
/// runs at memory speed. It detects torn and corrupted records; it is not cryptographic. It is
/// part of the journal format (versions 1 and 2 store it), which is why it stays apart from
/// `ContentHash`, the fingerprint hash, whose values are fixed by the manifests.
enum JournalChecksum {
    static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
        let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (prime1 &+ prime2, prime2, 0, 0 &- prime1)
        let n = bytes.count
        guard let base = bytes.baseAddress else { return prime1 ^ UInt64(n) }
        @inline(__always) func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
            let x = acc &+ input &* prime2
            return ((x << 31) | (x >> 33)) &* prime1
        }
        // Four independent lanes so the multiplies overlap.
        var i = 0
        while i + 32 <= n {
            lanes.0 = round(lanes.0, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            lanes.1 = round(lanes.1, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)))
            lanes.2 = round(lanes.2, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)))
            lanes.3 = round(lanes.3, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)))
            i += 32
        }
        var h = ((lanes.0 << 1) | (lanes.0 >> 63)) &+ ((lanes.1 << 7) | (lanes.1 >> 57))
            &+ ((lanes.2 << 12) | (lanes.2 >> 52)) &+ ((lanes.3 << 18) | (lanes.3 >> 46))
        h = h &+ UInt64(n)
        while i + 8 <= n {
            h = round(h, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        while i < n {
            h = round(h, UInt64(base.load(fromByteOffset: i, as: UInt8.self)))
            i += 1
        }
        h ^= h >> 33
        h = h &* prime2
        h ^= h >> 29
        return h
    }

    static func of(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { of($0) }
    }
}
