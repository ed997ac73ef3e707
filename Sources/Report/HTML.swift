import Foundation

/// Bytes of an XHTML-compatible page. Every piece of text from the bundle goes through
/// `text` or `attribute`, which escape markup and replace characters XML cannot carry
/// (C0/C1 controls, U+FFFE/U+FFFF) by visible stand-ins, so the pages parse with a strict
/// XML parser as well as with a browser.
struct HTMLBuffer {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 1 << 16) {
        bytes.reserveCapacity(capacity)
    }

    /// Markup written by the report itself (never bundle data).
    @inline(__always)
    mutating func raw(_ s: String) {
        bytes.append(contentsOf: s.utf8)
    }

    mutating func raw(_ other: HTMLBuffer) {
        bytes.append(contentsOf: other.bytes)
    }

    /// Escaped element content.
    mutating func text(_ s: String) {
        escape(s, quotes: false)
    }

    /// Escaped attribute value (without the surrounding quotes).
    mutating func attribute(_ s: String) {
        escape(s, quotes: true)
    }

    private mutating func escape(_ s: String, quotes: Bool) {
        // Fast path, byte by byte, unless the text holds a character that needs a stand-in:
        // an ASCII control or DEL, a C1 control (UTF-8 C2 80…C2 9F), or a noncharacter
        // (EF B7 90…EF B7 AF, EF BF BE/BF); those take the scalar loop below.
        var needsStandIn = false
        var needsEscape = false
        var previous: UInt8 = 0
        for byte in s.utf8 {
            if byte < 0x20 || byte == 0x7F {
                if byte == 0x0A || byte == 0x09 || byte == 0x0D { needsEscape = true } else { needsStandIn = true; break }
            } else if byte == 0x26 || byte == 0x3C || byte == 0x3E || byte == 0x22 {
                needsEscape = true
            } else if (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F) || (previous == 0xEF && (byte == 0xB7 || byte == 0xBF)) {
                needsStandIn = true
                break
            }
            previous = byte
        }
        if !needsStandIn {
            if !needsEscape { bytes.append(contentsOf: s.utf8); return }
            for byte in s.utf8 {
                switch byte {
                case 0x26: raw("&amp;")
                case 0x3C: raw("&lt;")
                case 0x3E: raw("&gt;")
                case 0x22 where quotes: raw("&quot;")
                case 0x0A where quotes: raw("&#10;")
                case 0x09 where quotes: raw("&#9;")
                case 0x0D where quotes: raw("&#13;")
                default: bytes.append(byte)
                }
            }
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": raw("&amp;")
            case "<": raw("&lt;")
            case ">": raw("&gt;")
            case "\"" where quotes: raw("&quot;")
            case "\n", "\t", "\r":
                if quotes { raw("&#\(scalar.value);") } else { bytes.append(UInt8(scalar.value)) }
            default:
                if scalar.value < 0x80 && scalar.value >= 0x20 && scalar.value != 0x7F {
                    bytes.append(UInt8(scalar.value))
                } else if !TokenText.needsStandIn(scalar) {
                    bytes.append(contentsOf: UTF8.encode(scalar)!)
                } else {
                    bytes.append(contentsOf: TokenText.xmlSafe(scalar).utf8)
                }
            }
        }
    }

    @inline(__always)
    mutating func int(_ n: Int) {
        appendNumber(negative: n < 0, n.magnitude, fraction: 0, decimals: 0)
    }

    /// A chart coordinate: one decimal, without a trailing ".0" (charts hold many of them).
    @inline(__always)
    mutating func coord(_ x: Double) {
        guard x.isFinite, abs(x) < 1e12 else { raw("0"); return }
        let n = Int((x * 10).rounded())
        let m = n.magnitude
        appendNumber(negative: n < 0, m / 10, fraction: m % 10, decimals: m % 10 == 0 ? 0 : 1)
    }

    /// A number with a fixed count of decimals, trailing zeros kept (chart coordinates, tables);
    /// written digit by digit because charts hold hundreds of thousands of coordinates.
    mutating func fixed(_ x: Double, _ decimals: Int) {
        guard decimals >= 0, decimals <= 6, x.isFinite, abs(x) < 1e12 else { raw(Format.fixed(x, decimals)); return }
        var scale: UInt = 1
        for _ in 0..<decimals { scale *= 10 }
        let n = Int((x * Double(scale)).rounded())
        let m = n.magnitude
        appendNumber(negative: n < 0, m / scale, fraction: m % scale, decimals: decimals)
    }

    /// Appends `[-]integer[.fraction]` (the fraction zero-padded to `decimals` digits, none
    /// when 0), composed on the stack and appended at once: one capacity check per number,
    /// not per digit.
    @inline(__always)
    private mutating func appendNumber(negative: Bool, _ integer: UInt, fraction: UInt, decimals: Int) {
        var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes: sign, 20 digits, '.', 6 decimals
        withUnsafeMutableBytes(of: &storage) { raw in
            let b = raw.bindMemory(to: UInt8.self)
            var at = b.count
            var f = fraction
            for _ in 0..<decimals {
                at -= 1; b[at] = 0x30 + UInt8(truncatingIfNeeded: f % 10); f /= 10
            }
            if decimals > 0 { at -= 1; b[at] = 0x2E }
            var v = integer
            repeat {
                at -= 1; b[at] = 0x30 + UInt8(truncatingIfNeeded: v % 10); v /= 10
            } while v > 0
            if negative { at -= 1; b[at] = 0x2D }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[at..<b.count]))
        }
    }
}

/// Deterministic number text, independent of locale.
enum Format {
    private static let powers: [Double] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]

    static func fixed(_ x: Double, _ decimals: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "n/a" : (x > 0 ? "∞" : "−∞") }
        let scale = powers[min(max(decimals, 0), powers.count - 1)]
        let scaled = (x * scale).rounded()
        guard abs(scaled) < 9e15 else { return String(x) }
        let n = Int64(scaled)
        let negative = n < 0
        let m = n.magnitude
        let s = UInt64(scale)
        var out = negative ? "-" : ""
        out += String(m / s)
        if decimals > 0 {
            let fraction = String(m % s)
            out += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        }
        return out
    }

    /// Activations and similar: three decimals.
    static func act(_ x: Double) -> String { fixed(x, 3) }

    /// Integers with thin grouping for readability ("1 234 567").
    static func count(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "\u{2009}" }
            out.append(c)
        }
        return n < 0 ? "−" + out : out
    }

    static func percent(_ part: Int, of whole: Int) -> String {
        whole == 0 ? "n/a" : fixed(100 * Double(part) / Double(whole), 1) + "%"
    }
}

/// How token texts are shown: whitespace and control characters become visible symbols, so
/// a bar labelled `␣:220` is the space token, `↵:198` a newline.
public enum TokenText {
    /// The token's text with every character visible (for labels and tables).
    public static func visible(_ text: String) -> String {
        if text.isEmpty { return "∅" }
        return render(text, showingSpaces: true)
    }

    /// The token's text inside running text: spaces stay spaces, line breaks and tabs and
    /// controls become visible symbols.
    public static func inline(_ text: String) -> String { render(text, showingSpaces: false) }

    private static func render(_ text: String, showingSpaces: Bool) -> String {
        let lowest: UInt8 = showingSpaces ? 0x21 : 0x20
        if text.utf8.allSatisfy({ $0 >= lowest && $0 < 0x7F }) { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case " " where showingSpaces: out.append("␣")
            case "\n": out.append("↵")
            case "\t": out.append("⇥")
            case "\r": out.append("␍")
            default:
                if needsStandIn(scalar) { out.append(contentsOf: xmlSafe(scalar).unicodeScalars) } else { out.append(scalar) }
            }
        }
        return String(out)
    }

    /// A bar label: visible text, a colon, the id ("␣the:279").
    public static func label(_ text: String, id: Int32, maxCharacters: Int = 18) -> String {
        var shown = visible(text)
        if shown.count > maxCharacters { shown = String(shown.prefix(maxCharacters - 1)) + "…" }
        return "\(shown):\(id)"
    }

    /// Characters XML 1.0 cannot carry (and other invisible controls) as visible stand-ins:
    /// C0 controls as the Control Pictures block (U+2400…), DEL as ␡, C1 controls and
    /// noncharacters as ⟨U+XXXX⟩. Everything else unchanged.
    @inline(__always)
    static func needsStandIn(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || (0x7F...0x9F).contains(v) || v == 0xFFFE || v == 0xFFFF || (0xFDD0...0xFDEF).contains(v)
    }

    static func xmlSafe(_ scalar: Unicode.Scalar) -> String {
        let v = scalar.value
        if v < 0x20 { return String(Unicode.Scalar(0x2400 + v)!) }
        if v == 0x7F { return "␡" }
        if (0x80...0x9F).contains(v) || v == 0xFFFE || v == 0xFFFF || (0xFDD0...0xFDEF).contains(v) {
            let hex = String(v, radix: 16, uppercase: true)
            return "⟨U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "⟩"
        }
        return String(scalar)
    }
}

/// Percent-encoding of one path segment for an href (hookpoint names may hold '%', '#', '?').
enum URLPath {
    static func segment(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || c == "-" || c == "." || c == "_" || c == "~" {
                out.append(c)
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    /// A file name for a problem id: letters, digits, '-', '.', '_' kept, everything else '-'.
    static func fileName(_ id: String) -> String {
        var out = ""
        for c in id.unicodeScalars {
            let v = c.value
            if (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || c == "." || c == "_" || c == "-" {
                out.unicodeScalars.append(c)
            } else {
                out += "-"
            }
        }
        if out.isEmpty || out.hasPrefix(".") { out = "p" + out }
        return String(out.prefix(120))
    }
}
