import SafeTensors
import Experiment
import Foundation

/// An existing bundle read back as committed tasks: inferences.jsonl for the records,
/// latents/index.csv for each problem's rows and FVU, the mapped latents files for the
/// rows themselves, tokens.csv for token texts. This is what `thinklens merge` reads.
/// Everything is read in `init`; afterwards `task(_:)` only reads, so threads may call it at
/// once (the report does), hence `@unchecked Sendable`.
public final class BundleReader: CommittedTaskSource, @unchecked Sendable {
    public let directory: String
    public let manifest: RunManifest
    public let tokenTexts: [Int32: String]
    public let run: JSONValue
    public private(set) var taskSummaries: [TaskSummary] = []

    private let inferences: [UInt8]
    private var lineRanges: [Range<Int>] = []
    private var latentFiles: [String: SafeTensorsFile] = [:]
    private var rowRanges: [[String: (first: Int, rows: Int, fvu: Double?)]] = []

    public init(directory: String) throws {
        self.directory = directory
        manifest = try RunManifest.read(bundle: directory)
        func path(_ file: String) -> String { (directory as NSString).appendingPathComponent(file) }
        func read(_ file: String) throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: path(file)) else {
                throw RunDataError(subject: path(file), reason: "cannot read; the bundle is incomplete (was it written by ThinkLens format \(BundleLayout.formatVersion)?)")
            }
            return [UInt8](data)
        }
        run = (try? JSONValue.parse(Data(read(BundleLayout.runFile)), source: path(BundleLayout.runFile))) ?? .null

        // Token texts.
        var texts: [Int32: String] = [:]
        let tokenRows = try CSVReader.records(read(BundleLayout.tokensFile), source: path(BundleLayout.tokensFile))
        guard tokenRows.first == ["token", "text"] else {
            throw RunDataError(subject: path(BundleLayout.tokensFile), reason: "header is not 'token,text'")
        }
        for (n, row) in tokenRows.dropFirst().enumerated() {
            guard row.count == 2, let id = Int32(row[0]) else {
                throw RunDataError(subject: path(BundleLayout.tokensFile), reason: "line \(n + 2) is not 'token,text'")
            }
            texts[id] = row[1]
        }
        tokenTexts = texts

        // Rows per problem and hookpoint.
        let indexPath = path(BundleLayout.latentIndexFile)
        let indexRows = try CSVReader.records(read(BundleLayout.latentIndexFile), source: indexPath)
        guard indexRows.first == ["id", "hookpoint", "first_row", "rows", "fvu"] else {
            throw RunDataError(subject: indexPath, reason: "header is not 'id,hookpoint,first_row,rows,fvu'")
        }
        var ranges: [String: [String: (first: Int, rows: Int, fvu: Double?)]] = [:]
        for (n, row) in indexRows.dropFirst().enumerated() {
            guard row.count == 5, let first = Int(row[2]), let rows = Int(row[3]), first >= 0, rows >= 0 else {
                throw RunDataError(subject: indexPath, reason: "line \(n + 2) is malformed")
            }
            let fvu: Double? = row[4].isEmpty ? nil : Double(row[4])
            guard row[4].isEmpty || fvu != nil else { throw RunDataError(subject: indexPath, reason: "line \(n + 2): fvu '\(row[4])' is not a number") }
            ranges[row[0], default: [:]][row[1]] = (first, rows, fvu)
        }

        // Latent files.
        for name in manifest.hookpoints {
            let filePath = path("\(BundleLayout.latentsDirectory)/\(name).safetensors")
            let file = try SafeTensorsFile(path: filePath)
            let indices = try file.tensor("indices")
            guard indices.shape.count == 2 else { throw SafeTensorsError(file: filePath, tensor: "indices", reason: "shape \(indices.shape) is not [T, k]") }
            let t = indices.shape[0], k = indices.shape[1]
            for (tensor, shape, dtype) in [("problem", [t], TensorDType.i32), ("position", [t], .i32), ("token", [t], .i32),
                                           ("segment", [t], .u8), ("indices", [t, k], .i32), ("acts", [t, k], .f32)] {
                _ = try file.tensor(tensor, shape: shape, dtypes: [dtype])
            }
            latentFiles[name] = file
        }

        // Records.
        inferences = try read(BundleLayout.inferencesFile)
        lineRanges = InferencesFile.lineRanges(inferences)
        for (n, range) in lineRanges.enumerated() {
            let record = try parseRecord(n, range)
            // A bundle without hookpoints (an --intervene condition with --intervention-latents
            // none) holds generations only: its index has no lines.
            guard let byHookpoint = ranges[record.id] ?? (manifest.hookpoints.isEmpty ? [:] : nil) else {
                throw RunDataError(subject: indexPath, reason: "has no rows for problem \(record.id) of inferences.jsonl")
            }
            var summaries: [HookpointSummary] = []
            var problemRanges: [String: (first: Int, rows: Int, fvu: Double?)] = [:]
            for name in manifest.hookpoints {
                guard let r = byHookpoint[name] else {
                    throw RunDataError(subject: indexPath, reason: "has no line for problem \(record.id), hookpoint \(name)")
                }
                let file = latentFiles[name]!
                let acts = try file.tensor("acts")
                let k = acts.shape[1], t = acts.shape[0]
                guard r.first + r.rows <= t else {
                    throw RunDataError(subject: indexPath, reason: "rows \(r.first)..<\(r.first + r.rows) of problem \(record.id) lie past the \(t) rows of \(name)")
                }
                var best: Float = 0
                for row in r.first..<(r.first + r.rows) {
                    best = max(best, acts.bytes.loadUnaligned(fromByteOffset: 4 * row * k, as: Float.self))
                }
                summaries.append(HookpointSummary(name: name, k: k, rows: r.rows, maxAct: best))
                problemRanges[name] = r
            }
            taskSummaries.append(TaskSummary(id: record.id, split: record.split, index: record.index, hookpoints: summaries))
            rowRanges.append(problemRanges)
        }
    }

    private func parseRecord(_ n: Int, _ range: Range<Int>) throws -> ProblemRecord {
        let source = "\((directory as NSString).appendingPathComponent(BundleLayout.inferencesFile)) line \(n + 1)"
        return try InferencesFile.parse(inferences[range], source: source)
    }

    /// The record of `taskSummaries[i]` alone, without its latents.
    public func record(_ i: Int) throws -> ProblemRecord {
        try parseRecord(i, lineRanges[i])
    }

    /// The rows of `taskSummaries[i]` in the hookpoint's latents file.
    public func rowRange(_ i: Int, hookpoint: String) -> Range<Int> {
        let r = rowRanges[i][hookpoint]!
        return r.first..<(r.first + r.rows)
    }

    /// The hookpoint's whole latents file as mapped columns, for passes over every row.
    public func latentColumns(hookpoint: String) throws -> LatentColumns {
        guard let file = latentFiles[hookpoint] else {
            throw RunDataError(subject: directory, reason: "has no latents for hookpoint \(hookpoint); it has \(manifest.hookpoints.joined(separator: ", "))")
        }
        return LatentColumns(position: try file.tensor("position"), token: try file.tensor("token"), segment: try file.tensor("segment"),
                             indices: try file.tensor("indices"), acts: try file.tensor("acts"))
    }

    /// Lets the kernel drop the hookpoint's latents pages from this process's memory once a
    /// pass over them is done (`latentColumns` views stay valid; pages are read again on use).
    public func releaseLatentPages(hookpoint: String) {
        latentFiles[hookpoint]?.adviseDontNeed()
    }

    public func task(_ i: Int) throws -> CommittedTask {
        let record = try parseRecord(i, lineRanges[i])
        var latents: [String: LatentRows] = [:]
        var fvu: [String: Double] = [:]
        for (name, r) in rowRanges[i] {
            let file = latentFiles[name]!
            let k = try file.tensor("indices").shape[1]
            func slice<T>(_ tensor: String, _ type: T.Type, width: Int) throws -> [T] {
                let view = try file.tensor(tensor)
                let size = MemoryLayout<T>.stride
                return [T](unsafeUninitializedCapacity: r.rows * width) { out, count in
                    if r.rows * width > 0 {
                        memcpy(out.baseAddress!, view.bytes.baseAddress! + r.first * width * size, r.rows * width * size)
                    }
                    count = r.rows * width
                }
            }
            let problems = try slice("problem", Int32.self, width: 1)
            guard problems.allSatisfy({ Int($0) == record.index }) else {
                throw RunDataError(subject: file.path, reason: "rows \(r.first)..<\(r.first + r.rows) should belong to problem \(record.id) (index \(record.index)) but their 'problem' column differs; latents/index.csv does not match")
            }
            latents[name] = LatentRows(k: k, positions: try slice("position", Int32.self, width: 1), tokens: try slice("token", Int32.self, width: 1),
                                       segments: try slice("segment", UInt8.self, width: 1), indices: try slice("indices", Int32.self, width: k),
                                       activations: try slice("acts", Float.self, width: k))
            if let v = r.fvu { fvu[name] = v }
        }
        return CommittedTask(record: record, latents: latents, fvu: fvu)
    }
}

/// A latents file's columns, mapped read-only (see docs/bundle.md for the tensors). The views
/// keep the mapping alive; element reads are unaligned-safe.
public struct LatentColumns: @unchecked Sendable {
    public let rows: Int
    public let k: Int
    private let views: [TensorView]
    private let positions, tokens, segments, indices, acts: UnsafeRawPointer

    init(position: TensorView, token: TensorView, segment: TensorView, indices: TensorView, acts: TensorView) {
        views = [position, token, segment, indices, acts]
        positions = position.bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!
        tokens = token.bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!
        segments = segment.bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!
        self.indices = indices.bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!
        self.acts = acts.bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!
        rows = indices.shape[0]
        k = indices.shape[1]
    }

    @inline(__always) public func position(_ row: Int) -> Int32 { positions.loadUnaligned(fromByteOffset: 4 * row, as: Int32.self) }
    @inline(__always) public func token(_ row: Int) -> Int32 { tokens.loadUnaligned(fromByteOffset: 4 * row, as: Int32.self) }
    @inline(__always) public func segment(_ row: Int) -> UInt8 { segments.load(fromByteOffset: row, as: UInt8.self) }
    @inline(__always) public func index(_ row: Int, _ j: Int) -> Int32 { indices.loadUnaligned(fromByteOffset: 4 * (row * k + j), as: Int32.self) }
    @inline(__always) public func act(_ row: Int, _ j: Int) -> Float { acts.loadUnaligned(fromByteOffset: 4 * (row * k + j), as: Float.self) }
}
