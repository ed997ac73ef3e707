import Coordinator
import Foundation

/// What `ReportGenerator.generate` wrote, with the time each phase took.
public struct ReportSummary: Sendable {
    public let directory: String
    public let problemPages: Int
    public let featurePages: Int
    public let hookpointPages: Int
    public let bytes: Int
    /// Phase name and seconds, in order.
    public let phases: [(name: String, seconds: Double)]
}

/// `thinklens report`: a static site (XHTML-compatible HTML and inline SVG, no script, no
/// network) from a result bundle. Reads the tables and inferences.jsonl, and streams the
/// latents twice in problem order: once for bundle-wide accumulators (positions relative to
/// `</think>`, per-problem relevant features, the 400 highest pairs), once to draw each
/// problem's page. Time and memory grow with the bundle's rows and the number of features,
/// never with rows × features; the output depends only on the bundle's bytes.
public enum ReportGenerator {
    /// A file in every report directory, so a rerun may replace the directory wholesale.
    static let marker = ".thinklens-report"

    @discardableResult
    public static func generate(bundle: String, out: String? = nil, log: (String) -> Void = { _ in }) throws -> ReportSummary {
        var phases: [(String, Double)] = []
        var clock = Date()
        func phase(_ name: String) {
            let now = Date()
            phases.append((name, now.timeIntervalSince(clock)))
            log(String(format: "%@: %.2f s", name, now.timeIntervalSince(clock)))
            clock = now
        }

        let reader = try BundleReader(directory: bundle)
        let manifestPath = (bundle as NSString).appendingPathComponent(BundleLayout.manifestFile)
        guard let manifestData = FileManager.default.contents(atPath: manifestPath) else {
            throw RunDataError(subject: manifestPath, reason: "cannot read")
        }
        let manifestJSON = try JSONValue.parse(manifestData, source: manifestPath)
        let hookpoints = reader.manifest.hookpoints
        let verdicts = manifestJSON["counts"]?["verdicts"]
        let correct = verdicts?["correct"]?.intValue ?? 0, wrong = verdicts?["wrong"]?.intValue ?? 0
        let analyses = try hookpoints.map {
            HookpointAnalysis(name: $0, tables: try HookpointTables.read(bundle: bundle, hookpoint: $0), correct: correct, wrong: wrong)
        }
        phase("read bundle and tables")

        // Pass 1: bundle-wide accumulators.
        var problems: [ProblemSummary] = []
        var usedNames = Set<String>()
        for i in reader.taskSummaries.indices {
            let task = try reader.task(i)
            let r = task.record
            var name = URLPath.fileName(r.id)
            if usedNames.contains(name) { name += "-\(i)" }
            usedNames.insert(name)
            problems.append(ProblemSummary(id: r.id, ordinal: i, question: r.question, gold: r.gold, answer: r.answer, verdict: r.verdict,
                                           stop: r.stop, promptTokens: r.promptIDs.count, generatedTokens: r.generatedIDs.count,
                                           thinkEnd: r.thinkEnd, fileName: name))
            for analysis in analyses {
                guard let rows = task.latents[analysis.name] else {
                    throw RunDataError(subject: "problem \(r.id)", reason: "has no latents for hookpoint \(analysis.name)")
                }
                try analysis.add(rows, record: r, ordinal: i)
            }
        }
        phase("pass 1 over latents")

        let site = Site(bundle: bundle, reader: reader, manifest: manifestJSON, problems: problems, analyses: analyses)
        try site.choosePages()
        phase("read feature tokens and examples")

        let directory = out ?? (bundle as NSString).appendingPathComponent("report")
        try prepare(directory: directory)
        let writer = SiteWriter(root: directory)
        // The marker goes first, so an interrupted report can still be replaced by the next one.
        try writer.write(marker, "ThinkLens report; this directory is replaced when the report is written again.\n")
        for h in hookpoints { try writer.makeDirectory("features/\(h)") }
        try writer.makeDirectory("problems")
        try writer.makeDirectory("hookpoints")

        // Pass 2: problem pages, and the activations around each example. Pages are
        // independent, so threads draw them at once (each with its own scratch); the bytes
        // of every file do not depend on which thread drew it.
        let threads = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 16, problems.count))
        let scratches = (0..<threads).map { _ in analyses.map { ProblemScratch(capacity: $0.capacity) } }
        let lock = NSLock()
        var failure: Error?
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var i = t
            while i < problems.count {
                do {
                    let task = try reader.task(i)
                    let (page, found) = try site.problemPage(task, summary: problems[i], scratches: scratches[t])
                    try writer.write("problems/\(problems[i].fileName).html", page)
                    lock.lock(); site.record(found); lock.unlock()
                } catch {
                    lock.lock(); if failure == nil { failure = error }; lock.unlock()
                    return
                }
                lock.lock(); let stop = failure != nil; lock.unlock()
                if stop { return }
                i += threads
            }
        }
        if let failure { throw failure }
        phase("pass 2: problem pages")

        var pages: [(h: Int, feature: Int)] = []
        for (h, analysis) in analyses.enumerated() {
            try writer.write("hookpoints/\(analysis.name).html", site.hookpointPage(h))
            pages += site.pageFeatures[h].map { (h, $0) }
        }
        // Feature pages only read the site, so they too are drawn on all threads.
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for n in stride(from: t, to: pages.count, by: threads) {
                let (h, f) = pages[n]
                do {
                    try writer.write("features/\(analyses[h].name)/\(f).html", site.featurePage(h, f))
                } catch {
                    lock.lock(); if failure == nil { failure = error }; lock.unlock()
                    return
                }
            }
        }
        if let failure { throw failure }
        let featurePages = pages.count
        try writer.write("index.html", site.indexPage())
        try writer.write("problems.html", site.problemListPage())
        try writer.write("style.css", Site.styleSheet)
        phase("feature, hookpoint and index pages")

        return ReportSummary(directory: directory, problemPages: problems.count, featurePages: featurePages,
                             hookpointPages: analyses.count, bytes: writer.bytesWritten, phases: phases)
    }

    /// Empties `directory` if it is an earlier report; refuses to touch anything else.
    static func prepare(directory: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw RunDataError(subject: directory, reason: "exists and is not a directory; choose another --out") }
            let contents = try fm.contentsOfDirectory(atPath: directory)
            if !contents.isEmpty {
                guard contents.contains(marker) else {
                    throw RunDataError(subject: directory, reason: "exists, is not empty and is not a ThinkLens report; choose another --out or empty it")
                }
                try fm.removeItem(atPath: directory)
            }
        }
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunDataError(subject: directory, reason: "cannot create: \(error.localizedDescription)")
        }
    }
}

/// Writes the site's files, counting bytes.
final class SiteWriter: @unchecked Sendable {
    let root: String
    private let lock = NSLock()
    private var bytes = 0
    var bytesWritten: Int { lock.lock(); defer { lock.unlock() }; return bytes }

    init(root: String) { self.root = root }

    func makeDirectory(_ relative: String) throws {
        let path = (root as NSString).appendingPathComponent(relative)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw RunDataError(subject: path, reason: "cannot create: \(error.localizedDescription)")
        }
    }

    func write(_ relative: String, _ page: HTMLBuffer) throws {
        try write(relative, bytes: page.bytes)
    }

    func write(_ relative: String, _ text: String) throws {
        try write(relative, bytes: Array(text.utf8))
    }

    private func write(_ relative: String, bytes: [UInt8]) throws {
        let path = (root as NSString).appendingPathComponent(relative)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw RunDataError(subject: path, reason: "cannot write; check that the report directory is writable and the disk not full")
        }
        lock.lock(); self.bytes += bytes.count; lock.unlock()
    }
}
