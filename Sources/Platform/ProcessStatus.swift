import Foundation

/// This process's memory and CPU time, read the one way every benchmark and report uses:
/// /proc/self/status and /proc/self/smaps_rollup on Linux (fields absent elsewhere read 0),
/// getrusage(2) for CPU time.
public struct ProcessStatus: Sendable, CustomStringConvertible {
    /// Bytes. `peakResident` is VmHWM; `residentAnonymous` is private to the process, while
    /// `residentFile` is file-backed (mapped weights, shared through the page cache).
    public var resident = 0, peakResident = 0, residentAnonymous = 0, residentFile = 0
    /// Proportional set size and private bytes (smaps_rollup).
    public var proportional = 0, privateBytes = 0

    public static func current() -> ProcessStatus {
        var s = ProcessStatus()
        let status = fields(of: "/proc/self/status")
        s.resident = status["VmRSS"] ?? 0
        s.peakResident = status["VmHWM"] ?? 0
        s.residentAnonymous = status["RssAnon"] ?? 0
        s.residentFile = status["RssFile"] ?? 0
        let rollup = fields(of: "/proc/self/smaps_rollup")
        s.proportional = rollup["Pss"] ?? 0
        s.privateBytes = (rollup["Private_Clean"] ?? 0) + (rollup["Private_Dirty"] ?? 0)
        return s
    }

    /// `KEY: VALUE kB` lines of a /proc file, in bytes.
    static func fields(of path: String) -> [String: Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        return fields(parsing: text)
    }

    /// `KEY: VALUE kB` lines, in bytes; a value without the unit is kept as it is.
    static func fields(parsing text: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            // /proc/self/status pads with a tab, /proc/meminfo and smaps_rollup with spaces.
            let parts = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let number = parts.first.flatMap({ Int($0) }) else { continue }
            out[String(line[..<colon])] = parts.dropFirst().first == "kB" ? number * 1024 : number
        }
        return out
    }

    /// User + system CPU seconds of this process so far.
    public static func cpuSeconds() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    public var description: String {
        func mb(_ bytes: Int) -> String { String(format: "%.0f MB", Double(bytes) / 1e6) }
        return "peak RSS \(mb(peakResident)), RSS \(mb(resident)) (anonymous \(mb(residentAnonymous)), file \(mb(residentFile))), PSS \(mb(proportional)), private \(mb(privateBytes))"
    }
}

/// The running executable, so a command can start more of itself (local workers).
public enum Executable {
    public static var path: String {
        #if os(Linux)
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        #else
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        #endif
    }
}
