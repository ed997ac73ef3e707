import Experiment
import Foundation
import Platform
import SafeTensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The journal's record payloads: how a committed or replacing task (kinds 1 and 3), a failed
/// problem (kind 2) and a verification record (kind 4) are laid out as bytes, and read back. See `TaskJournal` for the file and record framing.
extension TaskJournal {
    static func decodeFailure(_ rd: inout ByteReader) throws -> FailureEntry {
        let id = try rd.string("id")
        let split = try rd.string("split")
        let index = try rd.i64("index")
        let count = Int(try rd.u32("reason count"))
        guard count <= 1 << 16 else {
            throw RunDataError(subject: rd.context, reason: "\(count) failure reasons in one record; the journal is corrupt")
        }
        var reasons: [String] = []
        for _ in 0..<count { reasons.append(try rd.string("reason")) }
        guard rd.offset == rd.buffer.count else {
            throw RunDataError(subject: rd.context, reason: "\(rd.buffer.count - rd.offset) unexpected bytes after the record; the journal is corrupt")
        }
        return FailureEntry(id: id, split: split, index: index, reasons: reasons)
    }

    static func decodeVerification(_ rd: inout ByteReader) throws -> VerificationRecord {
        let problem = try rd.string("problem id")
        let eventName = try rd.string("event")
        guard let event = VerificationRecord.Event(rawValue: eventName) else {
            throw RunDataError(subject: rd.context, reason: "unknown verification event '\(eventName)'; the journal is corrupt or from a newer ThinkLens")
        }
        let count = Int(try rd.u32("worker count"))
        guard count <= 16 else {
            throw RunDataError(subject: rd.context, reason: "\(count) workers in one verification record; the journal is corrupt")
        }
        var workers: [String] = []
        for _ in 0..<count { workers.append(try rd.string("worker")) }
        let odd = try rd.string("odd worker")
        guard rd.offset == rd.buffer.count else {
            throw RunDataError(subject: rd.context, reason: "\(rd.buffer.count - rd.offset) unexpected bytes after the record; the journal is corrupt")
        }
        return VerificationRecord(problem: problem, event: event, workers: workers, oddWorker: odd.isEmpty ? nil : odd)
    }

    /// Appends a record header placeholder and the payload; returns the per-hookpoint summary.
    static func encode(_ task: CommittedTask, into w: inout ByteWriter) -> [HookpointSummary] {
        for _ in 0..<recordHeaderSize { w.u8(0) }
        let r = task.record
        w.string(r.id)
        w.string(r.split)
        w.i64(r.index)
        w.string(r.question)
        w.optionalString(r.gold)
        w.array(r.promptIDs)
        w.array(r.generatedIDs)
        w.string(r.text)
        w.string(r.stop.rawValue)
        w.optionalString(r.answer)
        w.string(r.verdict.rawValue)
        w.optionalInt(r.thinkEnd)
        let names = task.latents.keys.sorted()
        var summaries: [HookpointSummary] = []
        w.u32(UInt32(names.count))
        for name in names {
            let rows = task.latents[name]!
            let summary = HookpointSummary(name: name, k: rows.k, rows: rows.rowCount, maxAct: rows.maxAct)
            summaries.append(summary)
            w.string(name)
            w.u64(UInt64(summary.k))
            w.u64(UInt64(summary.rows))
            w.f32(summary.maxAct)
        }
        let fvuNames = task.fvu.keys.sorted()
        w.u32(UInt32(fvuNames.count))
        for name in fvuNames {
            w.string(name)
            w.f64(task.fvu[name]!)
        }
        for name in names {
            let rows = task.latents[name]!
            w.raw(rows.positions)
            w.raw(rows.tokens)
            w.raw(rows.segments)
            // SAEs up to 65,536 latents fit ids in two bytes: a quarter less to write and flush.
            if let narrow = Self.narrowed(rows.indices) {
                w.u8(2)
                w.raw(narrow)
            } else {
                w.u8(4)
                w.raw(rows.indices)
            }
            w.raw(rows.activations)
        }
        return summaries
    }

    /// The ids as UInt16 when all fit, else nil.
    static func narrowed(_ indices: [Int32]) -> [UInt16]? {
        var fits = true
        let out = [UInt16](unsafeUninitializedCapacity: indices.count) { buffer, count in
            indices.withUnsafeBufferPointer { source in
                var bad: Int32 = 0
                for i in 0..<source.count {
                    let v = source[i]
                    bad |= v & ~0xFFFF
                    buffer[i] = UInt16(truncatingIfNeeded: v)
                }
                fits = bad == 0
            }
            count = indices.count
        }
        return fits ? out : nil
    }

    static func decode(_ rd: inout ByteReader, summaryOnly: Bool = false) throws -> (task: CommittedTask, summaries: [HookpointSummary]) {
        let id = try rd.string("id")
        let split = try rd.string("split")
        let index = try rd.i64("index")
        let question = try rd.string("question")
        let gold = try rd.optionalString("gold")
        let promptIDs = try rd.array(Int32.self, "prompt_ids")
        let generatedIDs = try rd.array(Int32.self, "generated_ids")
        let text = try rd.string("text")
        let stopText = try rd.string("stop")
        let answer = try rd.optionalString("answer")
        let verdictText = try rd.string("verdict")
        let thinkEnd = try rd.optionalInt("think_end")
        guard let stop = StopReason(rawValue: stopText), let verdict = Verdict(rawValue: verdictText) else {
            throw RunDataError(subject: rd.context, reason: "unknown stop '\(stopText)' or verdict '\(verdictText)'; the journal is corrupt")
        }
        let record = ProblemRecord(id: id, split: split, index: index, question: question, gold: gold,
                                   promptIDs: promptIDs, generatedIDs: generatedIDs, text: text, stop: stop,
                                   answer: answer, verdict: verdict, thinkEnd: thinkEnd)
        let hookpointCount = Int(try rd.u32("hookpoint count"))
        guard hookpointCount <= 4096 else {
            throw RunDataError(subject: rd.context, reason: "\(hookpointCount) hookpoints in one record; the journal is corrupt")
        }
        var summaries: [HookpointSummary] = []
        for _ in 0..<hookpointCount {
            let name = try rd.string("hookpoint name")
            let k = Int(try rd.u64("k"))
            let rows = Int(try rd.u64("rows"))
            let maxAct = try rd.f32("max act")
            guard k > 0, k < 1 << 20, rows < 1 << 40 else {
                throw RunDataError(subject: rd.context, reason: "hookpoint \(name) has k \(k) and \(rows) rows; the journal is corrupt")
            }
            summaries.append(HookpointSummary(name: name, k: k, rows: rows, maxAct: maxAct))
        }
        let fvuCount = Int(try rd.u32("fvu count"))
        guard fvuCount <= 4096 else {
            throw RunDataError(subject: rd.context, reason: "\(fvuCount) FVU entries in one record; the journal is corrupt")
        }
        var fvu: [String: Double] = [:]
        for _ in 0..<fvuCount {
            let name = try rd.string("fvu hookpoint")
            fvu[name] = try rd.f64("fvu")
        }
        var latents: [String: LatentRows] = [:]
        if !summaryOnly {
            for s in summaries {
                let positions = try rd.raw(Int32.self, count: s.rows, "positions")
                let tokens = try rd.raw(Int32.self, count: s.rows, "tokens")
                let segments = try rd.raw(UInt8.self, count: s.rows, "segments")
                let width = try rd.u8("index width")
                let indices: [Int32]
                switch width {
                case 2: indices = try rd.raw(UInt16.self, count: s.rows * s.k, "indices").map { Int32($0) }
                case 4: indices = try rd.raw(Int32.self, count: s.rows * s.k, "indices")
                default: throw RunDataError(subject: rd.context, reason: "index width \(width) is neither 2 nor 4; the journal is corrupt")
                }
                let acts = try rd.raw(Float.self, count: s.rows * s.k, "acts")
                latents[s.name] = LatentRows(k: s.k, positions: positions, tokens: tokens, segments: segments, indices: indices, activations: acts)
            }
            guard rd.offset == rd.buffer.count else {
                throw RunDataError(subject: rd.context, reason: "\(rd.buffer.count - rd.offset) unexpected bytes after the record; the journal is corrupt")
            }
        }
        return (CommittedTask(record: record, latents: latents, fvu: fvu), summaries)
    }
}
