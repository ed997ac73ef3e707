/// GPT-2's reversible byte ↔ character map, which byte-level BPE vocabularies use to write
/// raw bytes as printable characters (space is "Ġ", newline "Ċ").
///
/// Printable Latin-1 bytes map to themselves; the other 68 bytes map, in byte order, to
/// U+0100, U+0101, …
enum ByteLevel {
    /// byteToScalar[b] is the character that stands for byte b.  [256]
    static let byteToScalar: [Unicode.Scalar] = {
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
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        scalarToByte[scalar.value]
    }

    private static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, scalar) in byteToScalar.enumerated() { map[scalar.value] = UInt8(b) }
        return map
    }()

    /// The raw bytes a vocabulary string stands for; nil when it has a character outside the map.
    static func bytes(forVisible token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
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
