import Platform

/// A file that could not be written: which one, and what to do about it.
public struct FileWriteError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }

    /// A failed write(2)/pwrite(2), with advice that depends on whether the disk is full.
    static func writeFailed(_ path: String, errno code: Int32) -> FileWriteError {
        let advice = SystemFile.isDiskFull(code) ? "the disk is full; free space and write the bundle again" : "check the disk and permissions"
        return FileWriteError(path: path, reason: "write failed: \(SystemFile.describe(code)); \(advice)")
    }
}
