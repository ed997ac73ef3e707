import CLibFuzzer
import Foundation

/// What a fuzz target tests: one input, as libFuzzer's LLVMFuzzerTestOneInput takes it.
public typealias FuzzTest = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

/// Runs libFuzzer on `test` with the process's arguments (corpus directories, -runs=N, ...),
/// or with `--write-seeds DIR` writes the target's generated seeds (name → bytes) into DIR.
///
/// Each target's `@main` calls this rather than defining LLVMFuzzerTestOneInput and leaving
/// main to libFuzzer: SwiftPM links every executable with a main of its module's own, so the
/// target's entry point must be a Swift one.
public func runFuzzer(_ test: FuzzTest, seeds: () -> [String: [UInt8]] = { [:] }) -> Never {
    let arguments = CommandLine.arguments
    if arguments.count == 3 && arguments[1] == "--write-seeds" {
        for (name, bytes) in seeds().sorted(by: { $0.key < $1.key }) {
            let path = arguments[2] + "/" + name
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { fail("cannot write \(path)") }
        }
        exit(0)
    }
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}

/// The fuzz input read front to back as a harness's choices. Past the end every read gives 0,
/// so any input, even an empty one, is a complete script.
public struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    public var isAtEnd: Bool { offset >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    /// 0..<bound, from one byte (bound ≤ 256) or two.
    public mutating func int(below bound: Int) -> Int {
        precondition(bound > 0 && bound <= 65536)
        if bound <= 256 { return Int(byte()) % bound }
        return (Int(byte()) << 8 | Int(byte())) % bound
    }

    public mutating func pick<T>(_ choices: [T]) -> T { choices[int(below: choices.count)] }
}

/// Ends the run when an invariant does not hold: libFuzzer reports a crash and saves the input.
public func check(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    guard !condition() else { return }
    fail(message(), file: file, line: line)
}

public func fail(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fflush(nil)  // what a harness printed before, e.g. a trace
    FileHandle.standardError.write(Data("INVARIANT VIOLATED at \(file):\(line): \(message)\n".utf8))
    abort()
}

/// For APIs that take a path: one file per name in a directory of this process under $TMPDIR,
/// rewritten for each input (scripts/fuzz points TMPDIR at a directory it removes afterwards).
public enum ScratchFile {
    nonisolated(unsafe) private static var directory: String?

    public static func write(_ bytes: UnsafeRawBufferPointer, name: String) -> String {
        let path = self.path(name)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { fail("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { fail("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += n
        }
        return path
    }

    public static func write(_ text: String, name: String) -> String {
        Array(text.utf8).withUnsafeBytes { write($0, name: name) }
    }

    private static func path(_ name: String) -> String {
        if directory == nil {
            let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
            let made = base + "/thinklens-fuzz-\(getpid())"
            mkdir(made, 0o700)
            directory = made
        }
        return directory! + "/" + name
    }
}
