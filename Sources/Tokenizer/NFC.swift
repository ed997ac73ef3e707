/// Canonical composition (NFC) as Hugging Face's NFC normalizer computes it, applied only
/// where it could change something.
///
/// Uses the standard library's own normalizer (`String._nfcCodeUnits`, public but
/// underscored; it is what String comparison uses). Foundation's
/// `precomposedStringWithCanonicalMapping` on Linux is not exact: it drops a leading U+FEFF
/// and misses some compositions (8 of 33,236 test strings differed from Python's
/// unicodedata), while the standard library matched all of them.
///
/// Hugging Face normalizes with Unicode 9.0 data (crate unicode-normalization-alignments):
/// to it, characters assigned after 9.0 are unassigned, i.e. starters that neither
/// reorder nor compose. So the text is cut around such characters and each piece is
/// normalized alone; Unicode's stability policy keeps everything older identical.
enum NFC {
    static let huggingFaceUnicodeVersion = (major: 9, minor: 0)

    /// The NFC form of `text`, or nil when `text` is already NFC. Every scalar below U+0300
    /// is NFC-stable (in UTF-8 those are the bytes below 0xCC), which covers most text.
    static func normalizeIfNeeded(_ text: UnsafeBufferPointer<UInt8>) -> String? {
        var needsWork = false
        for b in text where b >= 0xCC {
            needsWork = true
            break
        }
        guard needsWork else { return nil }
        let scalars = String(decoding: text, as: UTF8.self).unicodeScalars
        var normalized: [UInt8] = []
        normalized.reserveCapacity(text.count)
        var pieceStart = scalars.startIndex
        for index in scalars.indices where isNewerThanHuggingFace(scalars[index]) {
            normalized += String(scalars[pieceStart..<index])._nfcCodeUnits
            normalized += String(scalars[index]).utf8
            pieceStart = scalars.index(after: index)
        }
        normalized += String(scalars[pieceStart...])._nfcCodeUnits
        return normalized.elementsEqual(text) ? nil : String(decoding: normalized, as: UTF8.self)
    }

    @inline(__always)
    private static func isNewerThanHuggingFace(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.value >= 0x300, let age = scalar.properties.age else { return false }
        return (age.major, age.minor) > (huggingFaceUnicodeVersion.major, huggingFaceUnicodeVersion.minor)
    }

    static func normalize(_ text: String) -> String {
        var copy = text
        return copy.withUTF8 { normalizeIfNeeded($0) } ?? text
    }
}
