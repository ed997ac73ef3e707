import Foundation

/// The words whose neighbourhoods define ReasonScore's reasoning positions, and how their
/// occurrences are found in a generation.
///
/// An occurrence of word w is a run of consecutive generated tokens whose texts, concatenated,
/// stripped of surrounding whitespace and lowercased, equal w, and which is not part of a
/// longer such run (of any word). Its window is the run plus 1 token before and 2 after,
/// clipped to the generation.
public struct ReasoningWords: Sendable, Equatable {
    /// Galichin et al.'s reasoning vocabulary, as the issue lists it.
    public static let defaultWords = ["wait", "hmm", "alternatively", "maybe", "perhaps", "let me", "therefore", "however", "but", "another"]
    public static let windowBefore = 1
    public static let windowAfter = 2
    /// Longest run of tokens considered for one occurrence: whitespace-only tokens cost
    /// nothing in length, so runs are bounded by count too.
    static let maximumRunTokens = 32

    /// Lowercased and stripped, in the order given (the order of `reason_*` per-word sums).
    public let words: [String]
    private let lookup: [[UInt8]: Int]
    private let longestWordBytes: Int

    public init(_ words: [String]) throws {
        var normalized: [String] = []
        var lookup: [[UInt8]: Int] = [:]
        for (n, raw) in words.enumerated() {
            let word = String(decoding: Self.stripped(Array(raw.lowercased().utf8))[...], as: UTF8.self)
            guard !word.isEmpty else {
                throw RunDataError(subject: "reasoning word \(n + 1)", reason: "is empty or only whitespace; give one word or phrase per line")
            }
            guard lookup[Array(word.utf8)] == nil else {
                throw RunDataError(subject: "reasoning word \(n + 1) ('\(word)')", reason: "is listed twice; list each word once")
            }
            lookup[Array(word.utf8)] = normalized.count
            normalized.append(word)
        }
        guard !normalized.isEmpty else {
            throw RunDataError(subject: "reasoning words", reason: "the list is empty; give at least one word")
        }
        self.words = normalized
        self.lookup = lookup
        longestWordBytes = normalized.map(\.utf8.count).max()!
    }

    public static let standard = try! ReasoningWords(defaultWords)

    /// Reads a word list: one word or phrase per line; blank lines and surrounding spaces are ignored.
    public static func read(file: String) throws -> ReasoningWords {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw RunDataError(subject: file, reason: "cannot read the reasoning-word list; check the path (one word per line)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RunDataError(subject: file, reason: "is not UTF-8 text; save the word list as UTF-8, one word per line")
        }
        var words: [String] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let word = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if word.isEmpty { continue }
            if words.contains(word.lowercased()) {
                throw RunDataError(subject: "\(file) line \(n + 1)", reason: "'\(word)' is listed twice; list each word once")
            }
            words.append(word.lowercased())
        }
        guard !words.isEmpty else {
            throw RunDataError(subject: file, reason: "lists no words; give one word or phrase per line")
        }
        return try ReasoningWords(words)
    }

    /// One occurrence: generated tokens `start..<end` spell `words[word]`.
    public struct Occurrence: Equatable, Sendable {
        public let word: Int
        public let start: Int
        public let end: Int
    }

    /// Occurrences in a generation given each token's lowercased UTF-8 text, in order of start.
    public func occurrences(_ tokens: [[UInt8]]) -> [Occurrence] {
        var found: [Occurrence] = []
        var buffer: [UInt8] = []
        for s in tokens.indices {
            buffer.removeAll(keepingCapacity: true)
            for e in s..<min(tokens.count, s + Self.maximumRunTokens) {
                buffer += tokens[e]
                let text = Self.stripped(buffer)
                // Appending never shortens the stripped text, so past the longest word nothing can match.
                if text.count > longestWordBytes { break }
                if !text.isEmpty, let w = lookup[Array(text)] { found.append(Occurrence(word: w, start: s, end: e + 1)) }
            }
        }
        // Keep runs that no other (longer) matching run contains.
        return found.filter { a in
            !found.contains { b in b != a && b.start <= a.start && a.end <= b.end }
        }
    }

    /// Per word, the generated token indices covered by its occurrences' windows (sorted,
    /// each index once), for a generation of `length` tokens.
    public func windows(_ occurrences: [Occurrence], length: Int) -> [[Int]] {
        var covered = [Set<Int>](repeating: [], count: words.count)
        for o in occurrences {
            let lo = max(0, o.start - Self.windowBefore), hi = min(length - 1, o.end - 1 + Self.windowAfter)
            if lo <= hi { covered[o.word].formUnion(lo...hi) }
        }
        return covered.map { $0.sorted() }
    }

    /// A token text lowercased, as UTF-8, for `occurrences`.
    public static func normalizedToken(_ text: String) -> [UInt8] { Array(text.lowercased().utf8) }

    /// The bytes without leading and trailing ASCII whitespace (space, tab, line feed,
    /// vertical tab, form feed, carriage return).
    static func stripped(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        func space(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
        var lo = 0, hi = bytes.count
        while lo < hi, space(bytes[lo]) { lo += 1 }
        while hi > lo, space(bytes[hi - 1]) { hi -= 1 }
        return bytes[lo..<hi]
    }
}
