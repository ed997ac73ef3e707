import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The few POSIX file calls ThinkLens makes for durable output (the journal, atomic bundle
/// files, the report), in one place: interrupted calls are retried here, and failures come
/// back as the errno value so each caller can say what it was writing and what to do.
public enum SystemFile {
    /// write(2) (offset nil) or pwrite(2) until every byte is written. Returns nil on success,
    /// else the errno of the failed call.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int? = nil) -> Int32? {
        var done = 0
        while done < bytes.count {
            let n: Int
            if let offset {
                n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            } else {
                n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return nil
    }

    public enum ReadFailure: Error {
        /// pread(2) failed with this errno at this file offset.
        case failed(errno: Int32, offset: Int)
        /// The file ended at this offset before the buffer was full.
        case ended(offset: Int)
    }

    /// pread(2) until the buffer is full.
    public static func readAll(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at position: Int) -> ReadFailure? {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(position + done))
            if n < 0 {
                if errno == EINTR { continue }
                return .failed(errno: errno, offset: position + done)
            }
            if n == 0 { return .ended(offset: position + done) }
            done += n
        }
        return nil
    }

    /// close(2); errors are not actionable once the data is synced.
    public static func close(_ fd: Int32) {
        #if canImport(Darwin)
        _ = Darwin.close(fd)
        #elseif canImport(Musl)
        _ = Musl.close(fd)
        #else
        _ = Glibc.close(fd)
        #endif
    }

    /// fsync(2); nil on success, else errno.
    public static func sync(_ fd: Int32) -> Int32? {
        fsync(fd) == 0 ? nil : errno
    }

    /// Makes a rename or a new file in `directory` durable (best effort).
    public static func syncDirectory(_ directory: String) {
        let dfd = open(directory, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// The text of an errno value.
    public static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// Whether an errno means the disk (or the user's quota) is full.
    public static func isDiskFull(_ code: Int32) -> Bool {
        code == ENOSPC || code == EDQUOT
    }

    /// The calling process's id, for temporary file names.
    public static var processID: Int32 { getpid() }
}

extension SystemFile {
    /// `mkdir -p`: creates `path` and its missing parents. On failure, returns a sentence that
    /// names the component at fault and why (a file in the way, no permission, a full or
    /// read-only disk), instead of Foundation's generic error text.
    public static func makeDirectories(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return isDirectory.boolValue ? nil : "\(path) is a file, not a directory"
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, let problem = makeDirectories(parent) { return problem }
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return nil }
        let code = errno
        switch code {
        case EACCES, EPERM: return "cannot create \(path): permission denied (\(parent.isEmpty ? "." : parent) is not writable by this user)"
        case EROFS: return "cannot create \(path): the file system is read-only"
        case ENOSPC, EDQUOT: return "cannot create \(path): the disk is full"
        default: return "cannot create \(path): \(describe(code))"
        }
    }
}
