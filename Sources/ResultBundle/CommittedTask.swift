/// What one finished task contributes to a run: the problem, its generation, and the
/// top-k latents of every hookpoint. The coordinator journals these as they commit and
/// builds the result bundle from them.

import GSM8K
import Experiment


/// Whether the extracted answer matches the gold answer (`none`: no answer was extracted).
public typealias Verdict = GSM8K.Verdict

/// One problem and its generation; one line of `inferences.jsonl`.
public struct ProblemRecord: Sendable, Equatable {
    /// e.g. "gsm8k:test:17": dataset, split and index in the split.
    public var id: String
    public var split: String
    public var index: Int
    public var question: String
    public var gold: String?
    public var promptIDs: [Int32]
    public var generatedIDs: [Int32]
    /// The decoded generation.
    public var text: String
    public var stop: StopReason
    /// The extracted answer, or nil.
    public var answer: String?
    public var verdict: Verdict
    /// Absolute position of `</think>` in prompt + generation, or nil when it never appeared.
    public var thinkEnd: Int?

    public init(id: String, split: String, index: Int, question: String, gold: String?,
                promptIDs: [Int32], generatedIDs: [Int32], text: String, stop: StopReason,
                answer: String?, verdict: Verdict, thinkEnd: Int?) {
        self.id = id
        self.split = split
        self.index = index
        self.question = question
        self.gold = gold
        self.promptIDs = promptIDs
        self.generatedIDs = generatedIDs
        self.text = text
        self.stop = stop
        self.answer = answer
        self.verdict = verdict
        self.thinkEnd = thinkEnd
    }

    /// Length of prompt + generation: every captured position lies below it.
    public var sequenceLength: Int { promptIDs.count + generatedIDs.count }

    /// The token at an absolute position of prompt + generation.
    public func token(at position: Int) -> Int32 {
        position < promptIDs.count ? promptIDs[position] : generatedIDs[position - promptIDs.count]
    }

    /// Bundle order: by split, then index in the split, then id. Every table and latent
    /// file lists problems in this order, whatever order they were committed in.
    public static func precedes(_ a: ProblemRecord, _ b: ProblemRecord) -> Bool {
        ProblemOrder.precedes((a.split, a.index, a.id), (b.split, b.index, b.id))
    }
}

enum ProblemOrder {
    static func precedes(_ a: (String, Int, String), _ b: (String, Int, String)) -> Bool {
        if a.0 != b.0 { return a.0 < b.0 }
        if a.1 != b.1 { return a.1 < b.1 }
        return a.2 < b.2
    }
}

/// Which part of the sequence a position belongs to (the `segment` column).
public enum TokenSegment: UInt8, Sendable {
    case prompt = 0
    /// Generated, up to and including the `</think>` token (or all of it when `</think>` never came).
    case reasoning = 1
    /// Generated after `</think>`.
    case answer = 2

    public static func of(position: Int, promptLength: Int, thinkEnd: Int?) -> TokenSegment {
        if position < promptLength { return .prompt }
        guard let thinkEnd else { return .reasoning }
        return position <= thinkEnd ? .reasoning : .answer
    }
}

/// The top-k latents of one hookpoint for one problem: T captured positions.
public struct LatentRows: Sendable, Equatable {
    /// Latents kept per position.
    public var k: Int
    /// Absolute positions in prompt + generation; the first generated token sits at the prompt length. [T]
    public var positions: [Int32]
    /// The token at each position. [T]
    public var tokens: [Int32]
    /// `TokenSegment` raw values. [T]
    public var segments: [UInt8]
    /// Latent ids, row-major. [T, k]
    public var indices: [Int32]
    /// Activations, row-major, each row sorted descending. [T, k] (the bundle's `acts` tensor)
    public var activations: [Float]

    public init(k: Int, positions: [Int32], tokens: [Int32], segments: [UInt8], indices: [Int32], activations: [Float]) {
        self.k = k
        self.positions = positions
        self.tokens = tokens
        self.segments = segments
        self.indices = indices
        self.activations = activations
    }

    /// Rows whose segments are computed from the record's prompt length and `</think>` position.
    public init(k: Int, positions: [Int32], tokens: [Int32], indices: [Int32], activations: [Float], record: ProblemRecord) {
        self.init(k: k, positions: positions, tokens: tokens,
                  segments: LatentRows.segments(positions: positions, promptLength: record.promptIDs.count, thinkEnd: record.thinkEnd),
                  indices: indices, activations: activations)
    }

    public var rowCount: Int { positions.count }

    public static func segments(positions: [Int32], promptLength: Int, thinkEnd: Int?) -> [UInt8] {
        positions.map { TokenSegment.of(position: Int($0), promptLength: promptLength, thinkEnd: thinkEnd).rawValue }
    }

    /// The largest activation (rows are sorted descending, so the first column holds each row's maximum); 0 when empty.
    public var maxAct: Float {
        var best: Float = 0
        var r = 0
        while r < rowCount { best = max(best, activations[r * k]); r += 1 }
        return best
    }
}

/// One task as committed: the problem, its latents per hookpoint, and optionally the
/// SAE's fraction of variance unexplained per hookpoint on this problem.
public struct CommittedTask: Sendable, Equatable {
    public var record: ProblemRecord
    public var latents: [String: LatentRows]
    public var fvu: [String: Double]

    public init(record: ProblemRecord, latents: [String: LatentRows], fvu: [String: Double] = [:]) {
        self.record = record
        self.latents = latents
        self.fvu = fvu
    }

    /// Latent ids must lie below this (SAEs up to 16M latents): per-feature tables are sized
    /// by the largest id, so a garbage id must not make them allocate gigabytes.
    public static let latentIDLimit: Int32 = 1 << 24

    /// Checks everything the bundle relies on, so garbage from a worker is refused at
    /// commit time rather than discovered while writing the bundle.
    public func validate() throws {
        let r = record
        func fail(_ what: String, hookpoint: String? = nil) -> RunDataError {
            let subject = hookpoint.map { "problem \(r.id), hookpoint \($0)" } ?? "problem \(r.id)"
            return RunDataError(subject: subject, reason: what + "; the worker sent an inconsistent task, so it is not committed")
        }
        guard !r.id.isEmpty else { throw RunDataError(subject: "task", reason: "problem id is empty") }
        guard r.index >= 0 else { throw fail("index \(r.index) is negative") }
        if let end = r.thinkEnd, end < 0 || end >= r.sequenceLength {
            throw fail("think_end \(end) is outside the sequence of \(r.sequenceLength) tokens")
        }
        for hookpoint in latents.keys {
            try BundleLayout.checkHookpointName(hookpoint)
        }
        for (hookpoint, value) in fvu where !value.isFinite {
            throw fail("FVU \(value) is not finite", hookpoint: hookpoint)
        }
        for (hookpoint, rows) in latents {
            let t = rows.rowCount
            guard rows.k > 0 else { throw fail("k is \(rows.k)", hookpoint: hookpoint) }
            guard rows.tokens.count == t, rows.segments.count == t else {
                throw fail("\(t) positions but \(rows.tokens.count) tokens and \(rows.segments.count) segments", hookpoint: hookpoint)
            }
            guard rows.indices.count == t * rows.k, rows.activations.count == t * rows.k else {
                throw fail("indices has \(rows.indices.count) and acts \(rows.activations.count) entries, expected T×k = \(t)×\(rows.k)", hookpoint: hookpoint)
            }
            var previous = -1
            for i in 0..<t {
                let p = Int(rows.positions[i])
                guard p > previous else { throw fail("positions are not strictly increasing at row \(i) (\(previous) then \(p))", hookpoint: hookpoint) }
                guard p < r.sequenceLength else { throw fail("position \(p) at row \(i) is past the sequence of \(r.sequenceLength) tokens", hookpoint: hookpoint) }
                guard rows.tokens[i] == r.token(at: p) else {
                    throw fail("row \(i) says token \(rows.tokens[i]) at position \(p) but the sequence has \(r.token(at: p))", hookpoint: hookpoint)
                }
                let expected = TokenSegment.of(position: p, promptLength: r.promptIDs.count, thinkEnd: r.thinkEnd).rawValue
                guard rows.segments[i] == expected else {
                    throw fail("row \(i) (position \(p)) has segment \(rows.segments[i]), expected \(expected)", hookpoint: hookpoint)
                }
                previous = p
            }
            try rows.indices.withUnsafeBufferPointer { idx in
                try rows.activations.withUnsafeBufferPointer { act in
                    for row in 0..<t {
                        var last = Float.infinity
                        for j in 0..<rows.k {
                            let a = act[row * rows.k + j]
                            guard a.isFinite else { throw fail("row \(row) has a non-finite activation \(a)", hookpoint: hookpoint) }
                            guard a <= last else { throw fail("row \(row) activations are not sorted descending", hookpoint: hookpoint) }
                            let id = idx[row * rows.k + j]
                            guard id >= 0, id < CommittedTask.latentIDLimit else {
                                throw fail("row \(row) has latent id \(id), outside 0..<\(CommittedTask.latentIDLimit)", hookpoint: hookpoint)
                            }
                            last = a
                        }
                    }
                }
            }
        }
    }
}

/// Bad run data or a file problem: names the thing (file, problem, hookpoint), says what failed and what to do.
public struct RunDataError: Error, CustomStringConvertible, Equatable {
    public let subject: String
    public let reason: String

    public init(subject: String, reason: String) {
        self.subject = subject
        self.reason = reason
    }

    public var description: String { "\(subject): \(reason)" }
}

/// Names and limits shared by the writer and the reader of bundles.
public enum BundleLayout {
    public static let formatVersion = 1
    public static let manifestFile = "manifest.json"
    public static let runFile = "run.json"
    public static let inferencesFile = "inferences.jsonl"
    public static let tokensFile = "tokens.csv"
    public static let latentsDirectory = "latents"
    public static let latentIndexFile = "latents/index.csv"
    public static let tablesDirectory = "tables"
    public static let journalDirectory = "journal"

    /// Hookpoint names become file names and CSV fields: refuse anything that could escape the
    /// bundle or break a line. Checked on the bytes: String compares Characters, and "\r\n", or
    /// '/' or ',' followed by a combining mark, is one Character that equals none of these.
    public static func checkHookpointName(_ name: String) throws {
        let forbidden: [UInt8] = [0, 0x0a, 0x0d, UInt8(ascii: "/"), UInt8(ascii: ",")]
        guard let first = name.utf8.first, first != UInt8(ascii: "."), !name.utf8.contains(where: forbidden.contains) else {
            throw RunDataError(subject: "hookpoint '\(name)'", reason: "is not usable as a file name (empty, starts with '.', or contains '/', ',', NUL or a line break)")
        }
    }
}
