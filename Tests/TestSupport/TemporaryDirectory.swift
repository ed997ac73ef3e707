import Foundation

/// A fresh directory under the system's temporary directory, removed when the value goes away
/// (or kept, for a look after a failure, when THINKLENS_KEEP_TEST_FILES is set).
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    /// `prefix` names the test area, e.g. "bundle" → /tmp/thinklens-bundle-XXXXXX.
    public init(_ prefix: String = "test") {
        path = makeTemporaryDirectory(prefix)
    }

    deinit {
        if ProcessInfo.processInfo.environment["THINKLENS_KEEP_TEST_FILES"] == nil {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// A path inside the directory.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// A new, empty subdirectory.
    public func subdirectory(_ name: String) -> String {
        let sub = file(name)
        try! FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        return sub
    }
}

/// A fresh directory that the caller removes (or leaves for the test run's end): for helpers
/// whose directories outlive one test.
public func makeTemporaryDirectory(_ prefix: String = "test") -> String {
    let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
    var template = Array((base + "thinklens-\(prefix)-XXXXXX").utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer in
        guard let made = mkdtemp(buffer.baseAddress!) else { fatalError("mkdtemp failed under \(base): \(String(cString: strerror(errno)))") }
        return String(cString: made)
    }
}

/// Removes `path` when the test process exits (kept, like `TemporaryDirectory`'s, when
/// THINKLENS_KEEP_TEST_FILES is set): for a `makeTemporaryDirectory` directory that a fixture
/// built once per process keeps for every test.
public func removeAtExit(_ path: String) {
    exitRemovals.lock.lock()
    defer { exitRemovals.lock.unlock() }
    exitRemovals.paths.append(path)
    guard !exitRemovals.registered else { return }
    exitRemovals.registered = true
    atexit {
        guard ProcessInfo.processInfo.environment["THINKLENS_KEEP_TEST_FILES"] == nil else { return }
        exitRemovals.lock.lock()
        defer { exitRemovals.lock.unlock() }
        for path in exitRemovals.paths { try? FileManager.default.removeItem(atPath: path) }
    }
}

private final class ExitRemovals: @unchecked Sendable {
    let lock = NSLock()
    var paths: [String] = []
    var registered = false
}

private let exitRemovals = ExitRemovals()
