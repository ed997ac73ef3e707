/// UTF-8 → String that replaces each maximal invalid subsequence with one U+FFFD (Unicode's
/// "substitution of maximal subparts", which Rust's `String::from_utf8_lossy`, and so Hugging
/// Face's ByteLevel decoder, follows). Can stop before an incomplete trailing sequence so a
/// stream can finish it with the next bytes.
enum LossyUTF8 {
    /// Decodes `bytes`; when `final` is false an incomplete sequence at the end is left
    /// undecoded and its length is returned as `pending`.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, final: Bool) -> (text: String, pending: Int) {
        var scalars = String.UnicodeScalarView()
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 {
                scalars.append(Unicode.Scalar(b0))
                i += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch b0 {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default:
                // 80–BF (stray continuation), C0, C1, F5–FF never start a character.
                scalars.append("\u{FFFD}")
                i += 1
                continue
            }
            var value = UInt32(b0) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
            var k = 1
            var valid = true
            while k < length {
                if i + k >= n {
                    if !final { return (String(scalars), n - i) }
                    valid = false
                    break
                }
                let b = bytes[i + k]
                let (lo, hi) = k == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
                if b < lo || b > hi {
                    valid = false
                    break
                }
                value = value << 6 | UInt32(b & 0x3F)
                k += 1
            }
            if valid {
                scalars.append(Unicode.Scalar(value)!)
                i += length
            } else {
                // The bytes read so far are a maximal subpart; the byte that broke it starts afresh.
                scalars.append("\u{FFFD}")
                i += k
            }
        }
        return (String(scalars), 0)
    }

    static func decode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { decode($0, final: true).text }
    }
}
