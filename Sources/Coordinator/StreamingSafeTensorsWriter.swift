import Compute
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written under a temporary name through a buffer, then flushed and renamed into
/// place, so a crash or a full disk never leaves a half-written file under the final name.
final class AtomicFileWriter {
    let path: String
    private let temporaryPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var finished = false
    private static let bufferLimit = 1 << 20

    init(path: String) throws {
        self.path = path
        temporaryPath = path + ".tmp-\(getpid())"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RunDataError(subject: path, reason: "cannot create \(temporaryPath): \(String(cString: strerror(errno))); check that the directory is writable")
        }
        buffer.reserveCapacity(Self.bufferLimit)
    }

    deinit {
        if !finished {
            systemClose(fd)
            unlink(temporaryPath)
        }
    }

    func write(_ text: String) throws {
        var text = text
        try text.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > Self.bufferLimit { try flush() }
        if bytes.count >= Self.bufferLimit {
            try Self.writeAll(fd: fd, bytes, at: nil, path: path)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { try Self.writeAll(fd: fd, $0, at: nil, path: path) }
        buffer.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        try flush()
        guard fsync(fd) == 0 else {
            throw RunDataError(subject: path, reason: "flushing failed: \(String(cString: strerror(errno))); is the disk full?")
        }
        systemClose(fd)
        finished = true
        guard rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw RunDataError(subject: path, reason: "renaming \(temporaryPath) into place failed: \(reason)")
        }
    }

    /// write(2)/pwrite(2) until done, retrying interruptions.
    static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int?, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = offset.map { pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t($0 + done)) }
                ?? Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                let advice = code == ENOSPC || code == EDQUOT ? "the disk is full; free space and write the bundle again" : "check the disk and permissions"
                throw RunDataError(subject: path, reason: "write failed: \(String(cString: strerror(code))); \(advice)")
            }
            done += n
        }
    }
}

/// Writes a safetensors file whose tensor sizes are known up front but whose contents
/// arrive in pieces: the header goes first, then each tensor's region fills through its
/// own buffer. The bytes equal `SafeTensorsWriter`'s for the same tensors (header keys
/// sorted, data in declaration order, header padded to 8 bytes), but memory stays at a few
/// buffers however large the file.
final class StreamingSafeTensorsWriter {
    struct Tensor {
        let name: String
        let dtype: TensorDType
        let shape: [Int]
        var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
    }

    let path: String
    let tensors: [Tensor]
    private let temporaryPath: String
    private var fd: Int32
    private var regionStart: [Int] = []
    private var written: [Int]
    private var buffers: [[UInt8]]
    private var finished = false
    private static let bufferLimit = 1 << 20

    init(path: String, tensors: [Tensor], metadata: [String: String] = [:]) throws {
        self.path = path
        self.tensors = tensors
        temporaryPath = path + ".tmp-\(getpid())"
        written = [Int](repeating: 0, count: tensors.count)
        buffers = [[UInt8]](repeating: [], count: tensors.count)
        var offset = 0
        var fields: [(String, String)] = []
        var starts: [Int] = []
        for t in tensors {
            starts.append(offset)
            let shape = t.shape.map(String.init).joined(separator: ",")
            fields.append((t.name, "{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + t.byteCount)]}"))
            offset += t.byteCount
        }
        if !metadata.isEmpty {
            let body = metadata.keys.sorted().map { "\(JSONText.string($0)):\(JSONText.string(metadata[$0]!))" }.joined(separator: ",")
            fields.append(("__metadata__", "{\(body)}"))
        }
        fields.sort { $0.0 < $1.0 }
        var header = "{" + fields.map { "\(JSONText.string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        while (8 + header.utf8.count) % 8 != 0 { header += " " }
        let dataStart = 8 + header.utf8.count
        regionStart = starts.map { $0 + dataStart }

        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RunDataError(subject: path, reason: "cannot create \(temporaryPath): \(String(cString: strerror(errno))); check that the directory is writable")
        }
        var prefix = ByteWriter()
        prefix.u64(UInt64(header.utf8.count))
        prefix.raw(Array(header.utf8))
        try prefix.bytes.withUnsafeBytes { try AtomicFileWriter.writeAll(fd: fd, $0, at: 0, path: path) }
    }

    deinit {
        if !finished {
            systemClose(fd)
            unlink(temporaryPath)
        }
    }

    /// Appends bytes to tensor `i`'s region.
    func append(_ i: Int, _ bytes: UnsafeRawBufferPointer) throws {
        guard written[i] + bytes.count <= tensors[i].byteCount else {
            throw RunDataError(subject: path, reason: "tensor '\(tensors[i].name)' got more than its \(tensors[i].byteCount) bytes; the journal index and its records disagree")
        }
        if buffers[i].count + bytes.count > Self.bufferLimit { try flush(i) }
        buffers[i].append(contentsOf: bytes)
        written[i] += bytes.count
    }

    func append<T>(_ i: Int, _ values: [T]) throws {
        try values.withUnsafeBytes { try append(i, $0) }
    }

    private func flush(_ i: Int) throws {
        let start = regionStart[i] + written[i] - buffers[i].count
        try buffers[i].withUnsafeBytes { try AtomicFileWriter.writeAll(fd: fd, $0, at: start, path: path) }
        buffers[i].removeAll(keepingCapacity: true)
    }

    func finish() throws {
        for i in tensors.indices {
            try flush(i)
            guard written[i] == tensors[i].byteCount else {
                throw RunDataError(subject: path, reason: "tensor '\(tensors[i].name)' got \(written[i]) of its \(tensors[i].byteCount) bytes; the journal index and its records disagree")
            }
        }
        guard fsync(fd) == 0 else {
            throw RunDataError(subject: path, reason: "flushing failed: \(String(cString: strerror(errno))); is the disk full?")
        }
        systemClose(fd)
        finished = true
        guard rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw RunDataError(subject: path, reason: "renaming \(temporaryPath) into place failed: \(reason)")
        }
    }
}
