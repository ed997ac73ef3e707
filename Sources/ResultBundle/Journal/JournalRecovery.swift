import Experiment
import Foundation
import Platform
import SafeTensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reopening a journal: the header is checked, every record is verified by its length and
/// checksum and indexed; a torn tail (a record cut short by a crash) is truncated away with a
/// warning, while a bad record followed by intact ones is corruption and is refused.
extension TaskJournal {
    func scan(visit: ((CommittedTask) throws -> Void)?) throws {
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
            header.u32(Self.createdVersion)
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
                || ((kind == Self.replacingTaskKind || kind == Self.verificationKind) && version >= 3)
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
            let intact = readBuffer.withUnsafeBytes { JournalChecksum.of(UnsafeRawBufferPointer(rebasing: $0[0..<payloadLength])) == checksum }
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
            if kind == Self.verificationKind {
                let record = try readBuffer.withUnsafeBytes { buffer in
                    var reader = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<payloadLength]), context: context)
                    return try Self.decodeVerification(&reader)
                }
                verificationRecords.append(record)
                offset += Self.recordHeaderSize + payloadLength
                continue
            }
            let decoded = try readBuffer.withUnsafeBytes { buffer -> (task: CommittedTask, summaries: [HookpointSummary]) in
                var reader = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<payloadLength]), context: context)
                return try Self.decode(&reader, summaryOnly: visit == nil)
            }
            let record = decoded.task.record
            if kind == Self.replacingTaskKind {
                guard let index = entryByID[record.id] else {
                    throw RunDataError(subject: context, reason: "replaces the result of \(record.id), which no earlier record commits; the journal is corrupt")
                }
                entries[index] = Entry(id: record.id, split: record.split, index: record.index, offset: offset,
                                       payloadLength: payloadLength, checksum: checksum, hookpoints: decoded.summaries)
                try visit?(decoded.task)
            } else if entryByID[record.id] == nil {
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
}
