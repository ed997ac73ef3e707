import Platform
import Experiment
import Foundation
import SafeTensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The durable record of committed tasks: `OUT/journal/tasks.tlj`, appended in arrival
/// order and flushed to disk (fdatasync) before `append` returns, so a task acknowledged
/// to its worker survives a crash. Latents live here rather than in memory; the journal
/// keeps only a small index entry per problem.
///
/// Problems that used up their attempts are journalled too (kind 2), so a restarted
/// coordinator reports them as the uninterrupted run would instead of trying them again.
///
/// File layout (little-endian):
///   header  "TLJOURNL" · u32 version (1, or 2 once it holds a failure record) · u32 0
///   record  "TREC" · u32 kind (1 = committed task, 2 = failed problem) · u64 payload length · u64 checksum(payload) · payload
///   payload kind 1: the problem record, per-hookpoint sizes, FVU, then per hookpoint the columns
///           (latent ids as u16 when they all fit, else i32);
///           kind 2: id, split, index, reasons (one per attempt)
/// A record cut short by a crash is detected by its length or checksum and truncated away
/// on reopen; a bad record with intact records after it is corruption and is refused.
public final class TaskJournal {
    public static let fileName = "tasks.tlj"
    static let fileMagic: [UInt8] = Array("TLJOURNL".utf8)
    /// Version 1 files hold only committed tasks; failure records make a file version 2,
    /// which older ThinkLens builds refuse by name instead of misreading.
    static let version: UInt32 = 2
    static let fileHeaderSize = 16
    static let recordMagic: UInt32 = 0x4345_5254  // "TREC" little-endian
    static let recordHeaderSize = 24
    static let taskKind: UInt32 = 1
    static let failureKind: UInt32 = 2

    /// Where one committed problem's record lives, with the sizes the bundle writer needs
    /// before it reads any latents.
    public struct Entry: Sendable, Equatable {
        public let id: String
        public let split: String
        public let index: Int
        /// Byte offset of the record header in the journal file.
        let offset: Int
        let payloadLength: Int
        let checksum: UInt64
        public let hookpoints: [HookpointSummary]

        public var summary: TaskSummary { TaskSummary(id: id, split: split, index: index, hookpoints: hookpoints) }
    }

    public typealias HookpointSummary = ResultBundle.HookpointSummary

    /// What happened to a task handed to `append`.
    public enum AppendOutcome: Sendable, Equatable {
        /// Written and flushed: safe to acknowledge.
        case committed
        /// The problem was already committed with exactly the same content; nothing written.
        case duplicateIdentical
        /// The problem was already committed with different content (e.g. a late attempt
        /// that sampled differently); the first one stays, nothing written.
        case duplicateDifferent
    }

    /// A problem that used up its attempts, with one reason per attempt.
    public struct FailureEntry: Sendable, Equatable {
        public let id: String
        public let split: String
        public let index: Int
        public let reasons: [String]

        public init(id: String, split: String, index: Int, reasons: [String]) {
            self.id = id
            self.split = split
            self.index = index
            self.reasons = reasons
        }
    }

    public let path: String
    /// Committed problems in arrival order.
    public private(set) var entries: [Entry] = []
    /// Problems recorded as failed and not committed since, by id (the latest record wins:
    /// a later start with --retry-failed may fail them again with other reasons).
    public private(set) var failures: [String: FailureEntry] = [:]
    /// Warnings from reopening (a torn tail that was truncated), for the coordinator's log.
    public private(set) var recoveryWarnings: [String] = []

    private var entryByID: [String: Int] = [:]
    private var fd: Int32 = -1
    private var end = 0
    /// The version in this file's header (1 until a failure record is written).
    private var fileVersion = TaskJournal.version
    private var encoder = ByteWriter()
    private var readBuffer: [UInt8] = []

    /// Opens `directory/tasks.tlj`, creating the directory and file when absent. An existing
    /// journal is scanned: intact records are indexed (and handed to `visit` in file order,
    /// e.g. to rebuild live statistics) and a torn tail is truncated with a warning.
    public init(directory: String, visit: ((CommittedTask) throws -> Void)? = nil) throws {
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunDataError(subject: directory, reason: "cannot create the journal directory: \(error.localizedDescription); check that --out is writable")
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RunDataError(subject: path, reason: "cannot open the journal: \(String(cString: strerror(errno))); check permissions on --out")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK ? "another coordinator has it open; stop that one or choose another --out" : String(cString: strerror(errno))
            SystemFile.close(fd)
            fd = -1
            throw RunDataError(subject: path, reason: "cannot lock the journal: \(reason)")
        }
        do {
            try scan(visit: visit)
        } catch {
            SystemFile.close(fd)
            fd = -1
            throw error
        }
    }

    deinit {
        if fd >= 0 { SystemFile.close(fd) }
    }

    /// Releases the file (and its lock); the journal cannot be used afterwards.
    public func close() {
        if fd >= 0 {
            SystemFile.close(fd)
            fd = -1
        }
    }

    public var committedIDs: Set<String> { Set(entryByID.keys) }

    public func contains(id: String) -> Bool { entryByID[id] != nil }

    public func entry(id: String) -> Entry? { entryByID[id].map { entries[$0] } }

    /// Writes the task and flushes it to disk before returning.
    @discardableResult
    public func append(_ task: CommittedTask) throws -> AppendOutcome {
        try append(contentsOf: [task])[0]
    }

    /// Writes several tasks with one flush (group commit): acknowledge them all after it returns.
    /// On failure nothing of this call stays in the journal and earlier records are untouched.
    public func append(contentsOf tasks: [CommittedTask]) throws -> [AppendOutcome] {
        guard fd >= 0 else { throw RunDataError(subject: path, reason: "the journal is closed") }
        var outcomes: [AppendOutcome] = []
        var pending: [Entry] = []
        var pendingByID: [String: Int] = [:]
        encoder.reset()
        for task in tasks {
            let start = encoder.bytes.count
            let hookpoints = Self.encode(task, into: &encoder)
            let payloadLength = encoder.bytes.count - start - Self.recordHeaderSize
            let checksum = encoder.bytes.withUnsafeBytes {
                Checksum64.of(UnsafeRawBufferPointer(rebasing: $0[(start + Self.recordHeaderSize)...]))
            }
            let id = task.record.id
            let previous = entryByID[id].map { entries[$0] } ?? pendingByID[id].map { pending[$0] }
            if let previous {
                encoder.bytes.removeSubrange(start...)
                let same = previous.checksum == checksum && previous.payloadLength == payloadLength
                outcomes.append(same ? .duplicateIdentical : .duplicateDifferent)
                continue
            }
            Self.stampHeader(&encoder, at: start, kind: Self.taskKind, payloadLength: payloadLength, checksum: checksum)
            pendingByID[id] = pending.count
            pending.append(Entry(id: id, split: task.record.split, index: task.record.index,
                                 offset: end + start, payloadLength: payloadLength, checksum: checksum,
                                 hookpoints: hookpoints))
            outcomes.append(.committed)
        }
        guard !pending.isEmpty else { return outcomes }
        try appendDurably(encoder.bytes)
        for entry in pending {
            entryByID[entry.id] = entries.count
            entries.append(entry)
            failures[entry.id] = nil
        }
        return outcomes
    }

    /// Records that a problem used up its attempts, flushed before it returns. A problem
    /// committed since (or later) is committed: its failure no longer counts.
    public func appendFailure(_ failure: FailureEntry) throws {
        guard fd >= 0 else { throw RunDataError(subject: path, reason: "the journal is closed") }
        guard entryByID[failure.id] == nil else { return }
        var w = ByteWriter()
        for _ in 0..<Self.recordHeaderSize { w.u8(0) }
        w.string(failure.id)
        w.string(failure.split)
        w.i64(failure.index)
        w.u32(UInt32(failure.reasons.count))
        for reason in failure.reasons { w.string(reason) }
        let payloadLength = w.bytes.count - Self.recordHeaderSize
        let checksum = w.bytes.withUnsafeBytes { Checksum64.of(UnsafeRawBufferPointer(rebasing: $0[Self.recordHeaderSize...])) }
        Self.stampHeader(&w, at: 0, kind: Self.failureKind, payloadLength: payloadLength, checksum: checksum)
        if fileVersion < 2 {
            // Mark the file before the first kind-2 record lands, so no reader meets one unannounced.
            var header = ByteWriter()
            header.u32(2)
            try header.bytes.withUnsafeBytes { try writeFully($0, at: 8) }
            fileVersion = 2
        }
        try appendDurably(w.bytes)
        failures[failure.id] = failure
    }

    /// Fills in the record header reserved at `start`.
    private static func stampHeader(_ w: inout ByteWriter, at start: Int, kind: UInt32, payloadLength: Int, checksum: UInt64) {
        w.bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: recordMagic.littleEndian, toByteOffset: start, as: UInt32.self)
            raw.storeBytes(of: kind.littleEndian, toByteOffset: start + 4, as: UInt32.self)
            raw.storeBytes(of: UInt64(payloadLength).littleEndian, toByteOffset: start + 8, as: UInt64.self)
            raw.storeBytes(of: checksum.littleEndian, toByteOffset: start + 16, as: UInt64.self)
        }
    }

    /// Writes whole records at the end and flushes them; on failure the file is rolled back to
    /// its last durable end so a half-written record is not left behind.
    private func appendDurably(_ bytes: [UInt8]) throws {
        do {
            try bytes.withUnsafeBytes { try writeFully($0, at: end) }
            guard fdatasync(fd) == 0 else {
                throw RunDataError(subject: path, reason: "flushing the journal failed: \(String(cString: strerror(errno))); free disk space or check the device, then restart the coordinator (committed tasks are kept)")
            }
        } catch {
            _ = ftruncate(fd, off_t(end))
            throw error
        }
        end += bytes.count
    }

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

    /// Reads one committed task back (verifying its checksum).
    public func readTask(_ entry: Entry) throws -> CommittedTask {
        guard fd >= 0 else { throw RunDataError(subject: path, reason: "the journal is closed") }
        let length = entry.payloadLength
        if readBuffer.count < length { readBuffer = [UInt8](repeating: 0, count: length) }
        let context = "\(path) (record at byte \(entry.offset), problem \(entry.id))"
        try readBuffer.withUnsafeMutableBytes { buffer in
            try readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length]), at: entry.offset + Self.recordHeaderSize, context: context)
        }
        return try readBuffer.withUnsafeBytes { buffer in
            let payload = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
            guard Checksum64.of(payload) == entry.checksum else {
                throw RunDataError(subject: context, reason: "checksum mismatch on reading back; the disk returned different bytes than were written")
            }
            var reader = ByteReader(payload, context: context)
            return try Self.decode(&reader).task
        }
    }

    // MARK: - Encoding

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
            w.raw(rows.acts)
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
                latents[s.name] = LatentRows(k: s.k, positions: positions, tokens: tokens, segments: segments, indices: indices, acts: acts)
            }
            guard rd.offset == rd.buffer.count else {
                throw RunDataError(subject: rd.context, reason: "\(rd.buffer.count - rd.offset) unexpected bytes after the record; the journal is corrupt")
            }
        }
        return (CommittedTask(record: record, latents: latents, fvu: fvu), summaries)
    }

    // MARK: - Reopening

    private func scan(visit: ((CommittedTask) throws -> Void)?) throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw RunDataError(subject: path, reason: "cannot stat: \(String(cString: strerror(errno)))")
        }
        let size = Int(st.st_size)
        if size < Self.fileHeaderSize {
            // New, or a crash while creating it: (re)write the header.
            if size > 0 {
                var existing = [UInt8](repeating: 0, count: size)
                try existing.withUnsafeMutableBytes { try readFully(into: $0, at: 0, context: path) }
                guard existing == Array(Self.fileMagic.prefix(size)) || existing.allSatisfy({ $0 == 0 }) else {
                    throw RunDataError(subject: path, reason: "is not a ThinkLens journal (bad header); move it aside or choose another --out")
                }
                recoveryWarnings.append("\(path): the journal header was incomplete (\(size) bytes); rewrote it")
            }
            var header = ByteWriter()
            header.raw(Self.fileMagic)
            header.u32(Self.version)
            header.u32(0)
            try header.bytes.withUnsafeBytes { try writeFully($0, at: 0) }
            guard ftruncate(fd, off_t(Self.fileHeaderSize)) == 0, fsync(fd) == 0 else {
                throw RunDataError(subject: path, reason: "cannot initialise the journal: \(String(cString: strerror(errno))); check free space and permissions")
            }
            syncDirectory()
            end = Self.fileHeaderSize
            return
        }
        var header = [UInt8](repeating: 0, count: Self.fileHeaderSize)
        try header.withUnsafeMutableBytes { try readFully(into: $0, at: 0, context: path) }
        guard Array(header[0..<8]) == Self.fileMagic else {
            throw RunDataError(subject: path, reason: "is not a ThinkLens journal (bad magic); move it aside or choose another --out")
        }
        let version = header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        guard (1...Self.version).contains(version) else {
            throw RunDataError(subject: path, reason: "journal version \(version), this program reads versions 1 to \(Self.version); finish the run with the ThinkLens that started it")
        }
        fileVersion = version

        var offset = Self.fileHeaderSize
        var recordHeader = [UInt8](repeating: 0, count: Self.recordHeaderSize)
        while offset < size {
            let remaining = size - offset
            func tornOrCorrupt(_ what: String, extentReachesEnd: Bool) throws {
                if extentReachesEnd {
                    recoveryWarnings.append("\(path): the last record (at byte \(offset), \(remaining) bytes) is incomplete (\(what)), most likely from a crash during a write; truncated it. That task was never acknowledged and will run again.")
                    guard ftruncate(fd, off_t(offset)) == 0, fsync(fd) == 0 else {
                        throw RunDataError(subject: path, reason: "cannot truncate the torn tail at byte \(offset): \(String(cString: strerror(errno)))")
                    }
                } else {
                    throw RunDataError(subject: path, reason: "corrupt record at byte \(offset) (\(what)) with more data after it, so this is not a torn write; move the journal aside to start over, or truncate the file to \(offset) bytes to keep the \(entries.count) records before it")
                }
            }
            if remaining < Self.recordHeaderSize {
                try tornOrCorrupt("only \(remaining) bytes of a \(Self.recordHeaderSize)-byte record header", extentReachesEnd: true)
                break
            }
            try recordHeader.withUnsafeMutableBytes { try readFully(into: $0, at: offset, context: path) }
            let (magic, kind, length, checksum) = recordHeader.withUnsafeBytes { raw in
                (UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
                 UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
                 UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                 UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
            }
            let payloadRoom = remaining - Self.recordHeaderSize
            let knownKind = kind == Self.taskKind || (kind == Self.failureKind && version >= 2)
            if magic != Self.recordMagic || !knownKind {
                // Zero-filled space after a crash (the file grew before the data landed) reads as a bad magic.
                let zeros = recordHeader.allSatisfy { $0 == 0 }
                try tornOrCorrupt("bad record magic", extentReachesEnd: zeros || length > UInt64(payloadRoom))
                break
            }
            if length > UInt64(payloadRoom) {
                try tornOrCorrupt("the payload of \(length) bytes runs past the end of the file", extentReachesEnd: true)
                break
            }
            let payloadLength = Int(length)
            if readBuffer.count < payloadLength { readBuffer = [UInt8](repeating: 0, count: payloadLength) }
            try readBuffer.withUnsafeMutableBytes { buffer in
                try readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<payloadLength]), at: offset + Self.recordHeaderSize, context: path)
            }
            let intact = readBuffer.withUnsafeBytes { Checksum64.of(UnsafeRawBufferPointer(rebasing: $0[0..<payloadLength])) == checksum }
            if !intact {
                try tornOrCorrupt("checksum mismatch", extentReachesEnd: payloadLength == payloadRoom)
                break
            }
            let context = "\(path) (record at byte \(offset))"
            if kind == Self.failureKind {
                let failure = try readBuffer.withUnsafeBytes { buffer in
                    var reader = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<payloadLength]), context: context)
                    return try Self.decodeFailure(&reader)
                }
                if entryByID[failure.id] == nil { failures[failure.id] = failure }
                offset += Self.recordHeaderSize + payloadLength
                continue
            }
            let decoded = try readBuffer.withUnsafeBytes { buffer -> (task: CommittedTask, summaries: [HookpointSummary]) in
                var reader = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<payloadLength]), context: context)
                return try Self.decode(&reader, summaryOnly: visit == nil)
            }
            let record = decoded.task.record
            if entryByID[record.id] == nil {
                failures[record.id] = nil
                entryByID[record.id] = entries.count
                entries.append(Entry(id: record.id, split: record.split, index: record.index, offset: offset,
                                     payloadLength: payloadLength, checksum: checksum, hookpoints: decoded.summaries))
                try visit?(decoded.task)
            }
            offset += Self.recordHeaderSize + payloadLength
        }
        end = min(offset, size)
    }

    private func syncDirectory() {
        SystemFile.syncDirectory((path as NSString).deletingLastPathComponent)
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer, at position: Int) throws {
        guard let code = SystemFile.writeAll(fd, bytes, at: position) else { return }
        let advice = SystemFile.isDiskFull(code) ? "the disk is full: free space, then restart the coordinator with the same --out (committed tasks are kept)"
            : "check the disk and permissions, then restart the coordinator with the same --out (committed tasks are kept)"
        throw RunDataError(subject: path, reason: "writing \(bytes.count) bytes at offset \(position) failed: \(SystemFile.describe(code)); \(advice)")
    }

    private func readFully(into buffer: UnsafeMutableRawBufferPointer, at position: Int, context: String) throws {
        switch SystemFile.readAll(fd, into: buffer, at: position) {
        case nil:
            return
        case .failed(let code, let offset):
            throw RunDataError(subject: context, reason: "read failed at offset \(offset): \(SystemFile.describe(code))")
        case .ended(let offset):
            throw RunDataError(subject: context, reason: "file ended at offset \(offset) while reading \(buffer.count) bytes; was it truncated by another program?")
        }
    }
}
