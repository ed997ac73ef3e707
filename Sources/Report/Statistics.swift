import Foundation

/// Bins of a position's distance to `</think>` and to the end of the generation, on log2
/// scales: the study had no such view; it shows whether a feature belongs to early
/// reasoning, the run-up to the answer, or the answer itself.
enum PositionBins {
    /// Signed distance d = position − think_end: bin 10 is the `</think>` token; 9…0 are
    /// d = −1, −2…−3, −4…−7, … ≤ −512; 11…20 are d = 1, 2…3, … ≥ 512.
    static let thinkCount = 21
    /// Distance to the last generated token: 0 (the last), 1, 2…3, 4…7, … ≥ 16384.
    static let endCount = 16

    @inline(__always)
    static func think(_ d: Int) -> Int {
        if d == 0 { return 10 }
        let magnitude = d.magnitude
        let j = min(10, Int(UInt.bitWidth - magnitude.leadingZeroBitCount))  // floor(log2) + 1
        return d < 0 ? 10 - j : 10 + j
    }

    @inline(__always)
    static func end(_ d: Int) -> Int {
        if d <= 0 { return 0 }
        return min(endCount - 1, Int(UInt.bitWidth - UInt(d).leadingZeroBitCount))
    }

    static func thinkLabel(_ bin: Int) -> String {
        if bin == 10 { return "0" }
        let j = abs(bin - 10)
        let sign = bin < 10 ? "−" : "+"
        if j == 10 { return (bin < 10 ? "≤−" : "≥+") + String(1 << 9) }
        let lo = 1 << (j - 1), hi = (1 << j) - 1
        return lo == hi ? sign + String(lo) : sign + String(lo) + "…" + String(hi)
    }

    static func endLabel(_ bin: Int) -> String {
        if bin == 0 { return "0" }
        if bin == endCount - 1 { return "≥" + String(1 << (bin - 1)) }
        let lo = 1 << (bin - 1), hi = (1 << bin) - 1
        return lo == hi ? String(lo) : String(lo) + "…" + String(hi)
    }
}

