import Platform
import ResultBundle
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
/// `</think>`, per-problem relevant and frequent features, the 400 highest pairs; one thread
/// per hookpoint), once to draw each problem's page (on all cores). Time and memory grow with the bundle's rows and the number of features,
/// never with rows × features; the output depends only on the bundle's bytes.
public enum ReportGenerator {
    /// A file in every report directory, so a rerun may replace the directory wholesale.
    static let marker = ".thinklens-report"

    /// - Parameter threads: how many pages to draw at once (default: all cores); the bytes written do not depend on it.
    @discardableResult
    public static func generate(bundle: String, out: String? = nil, threads: Int? = nil, log: (String) -> Void = { _ in }) throws -> ReportSummary {
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
        let threads = max(1, min(threads ?? ProcessInfo.processInfo.activeProcessorCount, 64, reader.taskSummaries.count))
        // Hookpoints are independent until the pages: their tables are read, and their
        // accumulators filled, on threads of their own (each analysis touched by one thread).
        let analyses = try concurrentMap(hookpoints.count) { h in
            HookpointAnalysis(name: hookpoints[h], tables: try HookpointTables.read(bundle: bundle, hookpoint: hookpoints[h]),
                              correct: correct, wrong: wrong)
        }
        phase("read bundle and tables")

        // Pass 1: bundle-wide accumulators. Problems go in chunks: the chunk's tasks are read
        // on all cores, then each hookpoint's accumulators take the chunk in problem order on a
        // thread of their own (an analysis is only ever touched by one thread at a time).
        var problems: [ProblemSummary] = []
        var usedNames = Set<String>()
        let chunkSize = 64
        var chunkStart = 0
        let problemCount = reader.taskSummaries.count
        while chunkStart < problemCount {
            let chunk = chunkStart..<min(problemCount, chunkStart + chunkSize)
            let read = try concurrentMap(chunk.count) { n in try reader.task(chunk.lowerBound + n) }
            for (n, task) in read.enumerated() {
                let i = chunk.lowerBound + n, r = task.record
                var name = URLPath.fileName(r.id)
                if usedNames.contains(name) { name += "-\(i)" }
                usedNames.insert(name)
                problems.append(ProblemSummary(id: r.id, ordinal: i, question: r.question, gold: r.gold, answer: r.answer, verdict: r.verdict,
                                               stop: r.stop, promptTokens: r.promptIDs.count, generatedTokens: r.generatedIDs.count,
                                               thinkEnd: r.thinkEnd, fileName: name))
            }
            _ = try concurrentMap(analyses.count) { h in
                let analysis = analyses[h]
                for (n, task) in read.enumerated() {
                    guard let rows = task.latents[analysis.name] else {
                        throw RunDataError(subject: "problem \(task.record.id)", reason: "has no latents for hookpoint \(analysis.name)")
                    }
                    try analysis.add(rows, record: task.record, ordinal: chunk.lowerBound + n)
                }
            }
            chunkStart = chunk.upperBound
        }
        phase("pass 1 over latents")

        let site = Site(bundle: bundle, reader: reader, manifest: manifestJSON, problems: problems, analyses: analyses)
        let interventions = try InterventionLayout.conditionNames(in: bundle).map { try InterventionPages(site: site, bundle: bundle, conditions: $0) }
        site.hasInterventions = interventions != nil
        try site.choosePages()
        phase("read feature tokens and examples")

        let directory = out ?? (bundle as NSString).appendingPathComponent("report")
        let earlier = try prepare(directory: directory)
        let writer = SiteWriter(root: directory)
        // The marker goes first, so an interrupted report can still be replaced by the next one.
        try writer.write(marker, "ThinkLens report; this directory is replaced when the report is written again.\n")
        for h in hookpoints { try writer.makeDirectory("features/\(h)") }
        try writer.makeDirectory("problems")
        try writer.makeDirectory("hookpoints")

        // Pass 2: problem pages, and the activations around each example. Pages are
        // independent, so threads draw them at once (each with its own scratch); the bytes
        // of every file do not depend on which thread drew it.
        let scratches = (0..<threads).map { _ in analyses.map { ProblemScratch(capacity: $0.capacity) } }
        let failure = FirstFailure()
        let lock = NSLock()
        let problemList = problems
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var i = t
            while i < problemList.count {
                do {
                    let task = try reader.task(i)
                    let (page, found) = try site.problemPage(task, summary: problemList[i], scratches: scratches[t])
                    try writer.write("problems/\(problemList[i].fileName).html", page)
                    lock.withLock { site.record(found) }
                } catch {
                    failure.record(error)
                    return
                }
                if failure.isSet { return }
                i += threads
            }
        }
        try failure.throwIfSet()
        phase("pass 2: problem pages")

        var pages: [(h: Int, feature: Int)] = []
        try writer.makeDirectory("reasoning")
        for (h, analysis) in analyses.enumerated() {
            try writer.write("hookpoints/\(analysis.name).html", site.hookpointPage(h))
            try writer.write("reasoning/\(analysis.name).html", site.reasoningPage(h))
            pages += site.pageFeatures[h].map { (h, $0) }
        }
        // Feature pages only read the site, so they too are drawn on all threads.
        let pageList = pages
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for n in stride(from: t, to: pageList.count, by: threads) {
                let (h, f) = pageList[n]
                do {
                    try writer.write("features/\(analyses[h].name)/\(f).html", site.featurePage(h, f))
                } catch {
                    failure.record(error)
                    return
                }
            }
        }
        try failure.throwIfSet()
        let featurePages = pages.count
        try writer.write("index.html", site.indexPage())
        try writer.write("problems.html", site.problemListPage())
        try writer.write("style.css", Site.styleSheet)
        phase("feature, hookpoint and index pages")
        if let interventions {
            try writer.makeDirectory("interventions")
            try writer.write("interventions.html", interventions.indexPage())
            for c in interventions.folders.indices {
                try writer.makeDirectory("interventions/\(interventions.folders[c])")
                for page in 1...interventions.pages(c).count {
                    try writer.write("interventions/\(interventions.folders[c])/\(page).html", interventions.conditionPage(c, page: page))
                }
            }
            phase("intervention pages")
        }
        if !earlier.isEmpty {
            writer.removeLeftovers(of: earlier)
            phase("remove what the earlier report had and this one lacks")
        }

        // Each condition is a complete bundle: its own report goes to conditions/<C>/, drawn
        // after the leftovers of an earlier report are gone (a nested report has its own writer).
        if let interventions {
            for c in interventions.folders.indices where interventions.hasLatents[c] {
                let name = interventions.comparison.conditions[c].name
                try generate(bundle: InterventionLayout.directory(of: name, in: bundle),
                             out: (directory as NSString).appendingPathComponent("conditions/\(interventions.folders[c])"), threads: threads)
            }
            if !interventions.folders.isEmpty { phase("condition reports") }
        }

        return ReportSummary(directory: directory, problemPages: problems.count, featurePages: featurePages,
                             hookpointPages: analyses.count, bytes: writer.bytesWritten, phases: phases)
    }

    /// Makes sure `directory` exists and is empty or an earlier report; returns the earlier
    /// report's files and folders (relative paths), which are overwritten in place and, where
    /// the new report lacks them, removed at the end. Anything that is not a report is refused.
    ///
    /// Why not delete the earlier report first: ext4 skips inodes freed in the last ~30 s
    /// while their table block is dirty, so creating ten thousand files right after deleting
    /// ten thousand scans past every one of them (quadratic), and each unlink may wait for the
    /// earlier pages' writeback. Truncating and rewriting a file keeps its inode.
    static func prepare(directory: String) throws -> Set<String> {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        var earlier = Set<String>()
        if fm.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw RunDataError(subject: directory, reason: "exists and is not a directory; choose another --out") }
            let contents = try fm.contentsOfDirectory(atPath: directory)
            if !contents.isEmpty {
                guard contents.contains(marker) else {
                    throw RunDataError(subject: directory, reason: "exists, is not empty and is not a ThinkLens report; choose another --out or empty it")
                }
                if let walker = fm.enumerator(atPath: directory) {
                    for case let relative as String in walker { earlier.insert(relative) }
                }
            }
        }
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunDataError(subject: directory, reason: "cannot create: \(error.localizedDescription)")
        }
        return earlier
    }
}

/// Writes the site's files, counting bytes.
final class SiteWriter: @unchecked Sendable {
    let root: String
    private let lock = NSLock()
    private var bytes = 0
    var bytesWritten: Int { lock.lock(); defer { lock.unlock() }; return bytes }

    /// Relative paths of the files written and folders made (with their parents).
    private var kept = Set<String>()

    init(root: String) { self.root = root }

    func makeDirectory(_ relative: String) throws {
        var parent = relative
        while !parent.isEmpty {
            kept.insert(parent)
            parent = (parent as NSString).deletingLastPathComponent
        }
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

    /// A plain write: no temporary file, rename or fsync per file (FileManager.createFile
    /// does all three, which for ten thousand pages cost more than drawing them). A report
    /// cut short is rewritten whole by the next run, so per-file atomicity buys nothing.
    private func write(_ relative: String, bytes: [UInt8]) throws {
        let path = (root as NSString).appendingPathComponent(relative)
        func failure(_ what: String, _ code: Int32) -> RunDataError {
            RunDataError(subject: path, reason: "cannot \(what): \(String(cString: strerror(code))); check that the report directory is writable and the disk not full")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("create", errno) }
        var closed = false
        defer { if !closed { _ = close(fd) } }
        if let code = bytes.withUnsafeBytes({ SystemFile.writeAll(fd, $0) }) { throw failure("write", code) }
        closed = true
        guard close(fd) == 0 else { throw failure("write (close)", errno) }
        lock.lock(); self.bytes += bytes.count; kept.insert(relative); lock.unlock()
    }

    /// Removes the entries of an earlier report that this one did not write, deepest first.
    func removeLeftovers(of earlier: Set<String>) {
        lock.lock(); let kept = self.kept; lock.unlock()
        let leftovers = earlier.subtracting(kept).sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
        for relative in leftovers {
            try? FileManager.default.removeItem(atPath: (root as NSString).appendingPathComponent(relative))
        }
    }
}
