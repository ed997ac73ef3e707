import Platform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written under `PATH.tmp-PID` and renamed into place only once complete and synced,
/// so a crash or a full disk never leaves a half-written file under the final name. Both
/// atomic writers (`AtomicFileWriter`, `StreamingSafeTensorsWriter`) are built on it.
final class TemporaryFile {
    let path: String
    let temporaryPath: String
    let fd: Int32
    private var renamed = false

    init(finalPath: String) throws {
        path = finalPath
        temporaryPath = finalPath + ".tmp-\(SystemFile.processID)"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FileWriteError(path: finalPath, reason: "cannot create \(temporaryPath): \(SystemFile.describe(errno)); check that the directory is writable")
        }
    }

    deinit {
        if !renamed {
            SystemFile.close(fd)
            unlink(temporaryPath)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int? = nil) throws {
        if let code = SystemFile.writeAll(fd, bytes, at: offset) { throw FileWriteError.writeFailed(path, errno: code) }
    }

    /// fsync, close, rename into place.
    func commit() throws {
        if let code = SystemFile.sync(fd) {
            throw FileWriteError(path: path, reason: "flushing failed: \(SystemFile.describe(code)); is the disk full?")
        }
        SystemFile.close(fd)
        renamed = true
        guard rename(temporaryPath, path) == 0 else {
            let reason = SystemFile.describe(errno)
            unlink(temporaryPath)
            throw FileWriteError(path: path, reason: "renaming \(temporaryPath) into place failed: \(reason)")
        }
    }
}
