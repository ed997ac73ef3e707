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
/// A cross-checked run (`--verify-fraction`) also journals its checks (kind 4) and the
/// results that replace a quarantined worker's (kind 3).
///
/// File layout (little-endian):
///   header  "TLJOURNL" · u32 version (2; 3 once it holds a kind 3 or 4 record; files written
///           by older builds may say 1) · u32 0
///   record  "TREC" · u32 kind (1 = committed task, 2 = failed problem, 3 = replacing task,
///           4 = verification record) · u64 payload length · u64 checksum(payload) · payload
///   payload kind 1 and 3: the problem record, per-hookpoint sizes, FVU, then per hookpoint the
///           columns (latent ids as u16 when they all fit, else i32); a kind 3 record takes the
///           place of the problem's earlier result;
///           kind 2: id, split, index, reasons (one per attempt);
///           kind 4: problem id, event, workers, odd worker ("" for none)
/// A record cut short by a crash is detected by its length or checksum and truncated away
/// on reopen; a bad record with intact records after it is corruption and is refused.
public final class TaskJournal {
    public static let fileName = "tasks.tlj"
    static let fileMagic: [UInt8] = Array("TLJOURNL".utf8)
    /// Version 1 files hold only committed tasks; failure records make a file version 2 and
    /// cross-check records version 3, which older ThinkLens builds refuse by name instead of
    /// misreading. New files start at 2, so a run without checks stays readable by builds that
    /// predate them.
    static let version: UInt32 = 3
    static let createdVersion: UInt32 = 2
    static let fileHeaderSize = 16
    static let recordMagic: UInt32 = 0x4345_5254  // "TREC" little-endian
    static let recordHeaderSize = 24
    static let taskKind: UInt32 = 1
    static let failureKind: UInt32 = 2
    static let replacingTaskKind: UInt32 = 3
    static let verificationKind: UInt32 = 4

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
    public internal(set) var entries: [Entry] = []
    /// Problems recorded as failed and not committed since, by id (the latest record wins:
    /// a later start with --retry-failed may fail them again with other reasons).
    public internal(set) var failures: [String: FailureEntry] = [:]
    /// Cross-check records in the order they were written.
    public internal(set) var verificationRecords: [VerificationRecord] = []
    /// Warnings from reopening (a torn tail that was truncated), for the coordinator's log.
    public internal(set) var recoveryWarnings: [String] = []

    var entryByID: [String: Int] = [:]
    var fd: Int32 = -1
    var end = 0
    /// The version in this file's header.
    var fileVersion = TaskJournal.createdVersion
    private var encoder = ByteWriter()
    var readBuffer: [UInt8] = []

    /// Opens `directory/tasks.tlj`, creating the directory and file when absent. An existing
    /// journal is scanned: intact records are indexed (and handed to `visit` in file order,
    /// e.g. to rebuild live statistics) and a torn tail is truncated with a warning.
    public init(directory: String, visit: ((CommittedTask) throws -> Void)? = nil) throws {
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        if let problem = SystemFile.makeDirectories(directory) {
            throw RunDataError(subject: directory, reason: "cannot create the journal directory: \(problem); check that --out is writable")
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
                JournalChecksum.of(UnsafeRawBufferPointer(rebasing: $0[(start + Self.recordHeaderSize)...]))
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
        let checksum = w.bytes.withUnsafeBytes { JournalChecksum.of(UnsafeRawBufferPointer(rebasing: $0[Self.recordHeaderSize...])) }
        Self.stampHeader(&w, at: 0, kind: Self.failureKind, payloadLength: payloadLength, checksum: checksum)
        try raiseVersion(to: 2)
        try appendDurably(w.bytes)
        failures[failure.id] = failure
    }

    /// The bytes that identify a result exactly: its journal payload. Two results are the
    /// same result when these are equal (cross-checks compare digests of them).
    public static func canonicalBytes(of task: CommittedTask) -> [UInt8] {
        var w = ByteWriter()
        _ = encode(task, into: &w)
        return Array(w.bytes[recordHeaderSize...])
    }

    /// Writes results that take the place of the committed results of the same problems (the
    /// first came from a worker found to disagree with two others), with one flush. A problem
    /// not committed yet is refused.
    public func replace(contentsOf tasks: [CommittedTask]) throws {
        guard fd >= 0 else { throw RunDataError(subject: path, reason: "the journal is closed") }
        encoder.reset()
        var replaced: [(index: Int, entry: Entry)] = []
        for task in tasks {
            guard let index = entryByID[task.record.id] else {
                throw RunDataError(subject: path, reason: "cannot replace the result of \(task.record.id): it was never committed")
            }
            let start = encoder.bytes.count
            let hookpoints = Self.encode(task, into: &encoder)
            let payloadLength = encoder.bytes.count - start - Self.recordHeaderSize
            let checksum = encoder.bytes.withUnsafeBytes {
                JournalChecksum.of(UnsafeRawBufferPointer(rebasing: $0[(start + Self.recordHeaderSize)...]))
            }
            Self.stampHeader(&encoder, at: start, kind: Self.replacingTaskKind, payloadLength: payloadLength, checksum: checksum)
            replaced.append((index, Entry(id: task.record.id, split: task.record.split, index: task.record.index,
                                          offset: end + start, payloadLength: payloadLength, checksum: checksum, hookpoints: hookpoints)))
        }
        guard !replaced.isEmpty else { return }
        try raiseVersion(to: 3)
        try appendDurably(encoder.bytes)
        for (index, entry) in replaced { entries[index] = entry }
    }

    /// Durably records one step of a cross-check.
    public func appendVerification(_ record: VerificationRecord) throws {
        guard fd >= 0 else { throw RunDataError(subject: path, reason: "the journal is closed") }
        var w = ByteWriter()
        for _ in 0..<Self.recordHeaderSize { w.u8(0) }
        w.string(record.problem)
        w.string(record.event.rawValue)
        w.u32(UInt32(record.workers.count))
        for worker in record.workers { w.string(worker) }
        w.string(record.oddWorker ?? "")
        let payloadLength = w.bytes.count - Self.recordHeaderSize
        let checksum = w.bytes.withUnsafeBytes { JournalChecksum.of(UnsafeRawBufferPointer(rebasing: $0[Self.recordHeaderSize...])) }
        Self.stampHeader(&w, at: 0, kind: Self.verificationKind, payloadLength: payloadLength, checksum: checksum)
        try raiseVersion(to: 3)
        try appendDurably(w.bytes)
        verificationRecords.append(record)
    }

    /// Marks the file with `version` before the first record that needs it lands, so no
    /// reader meets one unannounced.
    private func raiseVersion(to version: UInt32) throws {
        guard fileVersion < version else { return }
        var header = ByteWriter()
        header.u32(version)
        try header.bytes.withUnsafeBytes { try writeFully($0, at: 8) }
        fileVersion = version
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
            guard JournalChecksum.of(payload) == entry.checksum else {
                throw RunDataError(subject: context, reason: "checksum mismatch on reading back; the disk returned different bytes than were written")
            }
            var reader = ByteReader(payload, context: context)
            return try Self.decode(&reader).task
        }
    }

    func syncDirectory() {
        SystemFile.syncDirectory((path as NSString).deletingLastPathComponent)
    }

    func writeFully(_ bytes: UnsafeRawBufferPointer, at position: Int) throws {
        guard let code = SystemFile.writeAll(fd, bytes, at: position) else { return }
        let advice = SystemFile.isDiskFull(code) ? "the disk is full: free space, then restart the coordinator with the same --out (committed tasks are kept)"
            : "check the disk and permissions, then restart the coordinator with the same --out (committed tasks are kept)"
        throw RunDataError(subject: path, reason: "writing \(bytes.count) bytes at offset \(position) failed: \(SystemFile.describe(code)); \(advice)")
    }

    func readFully(into buffer: UnsafeMutableRawBufferPointer, at position: Int, context: String) throws {
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
