/// GPT-2's reversible byte ↔ character map, which byte-level BPE vocabularies use to write
/// raw bytes as printable characters (space is "Ġ", newline "Ċ").
///
/// Printable Latin-1 bytes map to themselves; the other 68 bytes map, in byte order, to
/// U+0100, U+0101, …
public enum ByteLevel {
    /// byteToScalar[b] is the character that stands for byte b.  [256]
    public static let byteToScalar: [Unicode.Scalar] = {
        var isPrintable = [Bool](repeating: false, count: 256)
        for b in 0x21...0x7E { isPrintable[b] = true }
        for b in 0xA1...0xAC { isPrintable[b] = true }
        for b in 0xAE...0xFF { isPrintable[b] = true }
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var nextExtra: UInt32 = 0x100
        for b in 0..<256 {
            if isPrintable[b] {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(nextExtra)!
                nextExtra += 1
            }
        }
        return table
    }()

    /// The byte a byte-level character stands for, or nil for any other character.
    @inline(__always)
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        guard scalar.value < UInt32(scalarToByte.count) else { return nil }
        let b = scalarToByte[Int(scalar.value)]
        return b < 0 ? nil : UInt8(b)
    }

    /// scalarToByte[c] = the byte character c stands for, or -1; the map's characters are
    /// all below U+0144.  [0x144]
    private static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, scalar) in byteToScalar.enumerated() { table[Int(scalar.value)] = Int16(b) }
        return table
    }()

    /// The raw bytes a vocabulary string stands for; nil when it has a character outside the map.
    static func bytes<S: StringProtocol>(forVisible token: S) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard let b = byte(for: scalar) else { return nil }
            out.append(b)
        }
        return out
    }

    /// The vocabulary string for raw bytes (as Hugging Face's `id_to_token` shows it).
    static func visible(_ bytes: [UInt8]) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }
}
