/// Canonical composition (NFC), applied only where it could change something.
///
/// Uses the standard library's own normalizer (`String._nfcCodeUnits`, public but
/// underscored; it is what String comparison uses). Foundation's
/// `precomposedStringWithCanonicalMapping` on Linux is not exact: it drops a leading U+FEFF
/// and misses some compositions (8 of 33,236 test strings differed from Python's
/// unicodedata), while the standard library matched all of them.
enum NFC {
    /// The NFC form of `text`, or nil when `text` is already NFC. Every scalar below U+0300
    /// is NFC-stable (in UTF-8 those are the bytes below 0xCC), which covers most text.
    static func normalizeIfNeeded(_ text: UnsafeBufferPointer<UInt8>) -> String? {
        var needsWork = false
        for b in text where b >= 0xCC {
            needsWork = true
            break
        }
        guard needsWork else { return nil }
        let normalized = String(decoding: text, as: UTF8.self)._nfcCodeUnits
        return normalized.elementsEqual(text) ? nil : String(decoding: normalized, as: UTF8.self)
    }

    static func normalize(_ text: String) -> String {
        var copy = text
        return copy.withUTF8 { normalizeIfNeeded($0) } ?? text
    }
}
