import Foundation
import SafeTensors

/// Writes a bundle's latents as EleutherAI delphi's latent cache, the on-disk layout that
/// delphi's `LatentDataset` reads to explain and score latents:
///
///     OUT/latents/<hookpoint>/<start>_<end>.safetensors   one file per latent range, end inclusive
///     OUT/latents/<hookpoint>/config.json                 delphi's CacheConfig keys + model_name
///     OUT/README.md                                       how to run delphi on it
///
/// Each range file holds `locations` [N, 3] (row, position in row, latent − start; uint16 when
/// every value fits, else uint32), `activations` float16 [N] (only |a| > 1e-5, as delphi's own
/// cache keeps) and `tokens` int32 [rows, ctxLen], the same array in every file. Entries are in
/// (row, position, latent) order, the order `torch.nonzero` gives delphi's own cache.
///
/// Rows are consecutive `ctxLen`-token windows of each problem's whole sequence (prompt, then
/// generated tokens), problems in bundle order and windows in order; the last window of a
/// problem is padded with the end-of-sequence id. Latents appear only where the bundle has them.
///
/// Two passes over the bundle keep memory bounded: the first builds `tokens` (4 bytes per
/// token of the run) and counts each file's entries, the second streams the entries into
/// files whose sizes are then known. Nothing else grows with the bundle.
public enum DelphiExport {
    /// What to export and how.
    public struct Options: Sendable {
        /// Hookpoints to export, in this order; nil means all of the bundle's.
        public var hookpoints: [String]?
        /// Latent ranges (files) per hookpoint.
        public var splits: Int
        /// Tokens per row.
        public var ctxLen: Int
        /// Padding id for a problem's last row; nil: the model config's `eos_token_id`.
        public var eosID: Int32?
        /// `model_name` in config.json (delphi loads its tokenizer by this name when none is
        /// given); nil: the model config's `_name_or_path`, else the study's model.
        public var modelName: String?

        public init(hookpoints: [String]? = nil, splits: Int = 5, ctxLen: Int = 256, eosID: Int32? = nil, modelName: String? = nil) {
            self.hookpoints = hookpoints
            self.splits = splits
            self.ctxLen = ctxLen
            self.eosID = eosID
            self.modelName = modelName
        }
    }

    /// One written range file.
    public struct RangeFile: Sendable, Equatable {
        public let latents: ClosedRange<Int>
        public let entries: Int
        public let locationsDType: TensorDType
        public var fileName: String { "\(latents.lowerBound)_\(latents.upperBound).safetensors" }
    }

    public struct HookpointSummary: Sendable, Equatable {
        public let name: String
        public let numLatents: Int
        public let files: [RangeFile]
        /// Per latent, the distinct `exampleCtxLen`-token windows of the rows it fires in:
        /// delphi's constructor makes one activating example of each.
        public let exampleWindows: [Int32]

        /// For each of `exampleThresholds`, how many latents have at least that many example
        /// windows: the latents delphi's constructor keeps with `min_examples` set to it.
        public var latentsWithExamples: [Int] {
            DelphiExport.exampleThresholds.map { minimum in exampleWindows.reduce(0) { $0 + (Int($1) >= minimum ? 1 : 0) } }
        }
    }

    public struct Summary: Sendable, Equatable {
        public let directory: String
        public let problems: Int
        public let rows: Int
        public let ctxLen: Int
        public let eosID: Int32
        public let modelName: String
        public let hookpoints: [HookpointSummary]
    }

    /// The study's model, whose tokenizer the demo model shares.
    public static let defaultModelName = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    /// delphi's cache drops activations at or below this magnitude.
    public static let activationThreshold: Float = 1e-5
    /// delphi's default `example_ctx_len`: its constructor cuts rows into windows of this size.
    public static let exampleCtxLen = 32
    /// `min_examples` values the README reports latent counts for (delphi's default is 200).
    public static let exampleThresholds = [200, 100, 50, 20, 10, 5]
    static let latentsDirectory = "latents"
    static let configFile = "config.json"

    /// delphi's latent ranges: boundaries `linspace(0, numLatents, splits + 1)` truncated to
    /// integers, each range from one boundary to one less than the next (end inclusive).
    /// Computed exactly in integers: floor(numLatents · i / splits).
    public static func latentRanges(numLatents: Int, splits: Int) -> [ClosedRange<Int>] {
        precondition(splits >= 1 && splits <= numLatents, "1 ≤ splits ≤ numLatents")
        let boundaries = (0...splits).map { numLatents * $0 / splits }
        return (0..<splits).map { boundaries[$0]...(boundaries[$0 + 1] - 1) }
    }

    /// Rows a sequence of `length` tokens fills.
    public static func rowCount(sequenceLength length: Int, ctxLen: Int) -> Int {
        (length + ctxLen - 1) / ctxLen
    }

    /// Width of a hookpoint's SAE from its cfg.json as sparsify writes it:
    /// `num_latents`, or `d_in × expansion_factor` when that is 0 or absent.
    static func numLatents(cfg: JSONValue, hookpoint: String) throws -> Int {
        if let n = cfg["num_latents"]?.intValue, n > 0 { return n }
        if let dIn = cfg["d_in"]?.intValue, dIn > 0 {
            let factor = cfg["expansion_factor"]?.intValue ?? 32
            if factor > 0 { return dIn * factor }
        }
        throw RunDataError(subject: "\(BundleLayout.manifestFile): saes.\(hookpoint).cfg",
                           reason: "has neither a positive 'num_latents' nor 'd_in' with 'expansion_factor'; the SAE width is unknown")
    }

    static func eosID(manifest: RunManifest) throws -> Int32 {
        let field = manifest.model.config["eos_token_id"]
        let first = field?.intValue ?? field?.arrayValue?.first?.intValue
        guard let id = first, let eos = Int32(exactly: id) else {
            throw RunDataError(subject: "\(BundleLayout.manifestFile): model.config.eos_token_id",
                               reason: "is missing or not a token id; pass --eos-id with the id that pads a problem's last row")
        }
        return eos
    }

    /// Exports `bundle` into `out`, which must not exist or be empty. `progress` receives a
    /// line now and then during long exports.
    @discardableResult
    public static func export(bundle: String, to out: String, options: Options = Options(),
                              progress: (String) -> Void = { _ in }) throws -> Summary {
        guard options.splits >= 1 else {
            throw RunDataError(subject: "--splits", reason: "must be at least 1, got \(options.splits)")
        }
        guard options.ctxLen >= 1, options.ctxLen <= Int(Int32.max) else {
            throw RunDataError(subject: "--ctx-len", reason: "must be at least 1, got \(options.ctxLen)")
        }
        let reader = try BundleReader(directory: bundle)
        let manifest = reader.manifest
        let hookpoints = options.hookpoints ?? manifest.hookpoints
        guard !hookpoints.isEmpty else { throw RunDataError(subject: "--hookpoints", reason: "names no hookpoint") }
        if let repeated = hookpoints.first(where: { name in hookpoints.filter { $0 == name }.count > 1 }) {
            throw RunDataError(subject: "--hookpoints", reason: "names '\(repeated)' twice")
        }
        var widths: [Int] = []
        for name in hookpoints {
            guard manifest.hookpoints.contains(name), let sae = manifest.saes[name] else {
                throw RunDataError(subject: "--hookpoints", reason: "'\(name)' is not a hookpoint of \(bundle) (it has \(manifest.hookpoints.joined(separator: ", ")))")
            }
            let width = try numLatents(cfg: sae.cfg, hookpoint: name)
            guard options.splits <= width else {
                throw RunDataError(subject: "--splits", reason: "\(options.splits) is more than the \(width) latents of \(name); each file needs at least one latent")
            }
            widths.append(width)
        }
        let eos = try options.eosID ?? eosID(manifest: manifest)
        let modelName = options.modelName ?? manifest.model.config["_name_or_path"]?.stringValue ?? defaultModelName
        try prepareEmptyDirectory(out)

        let plans = zip(hookpoints, widths).map { HookpointPlan(name: $0, numLatents: $1, ranges: latentRanges(numLatents: $1, splits: options.splits)) }
        let problems = reader.taskSummaries.count

        // Pass 1: the rows' tokens, and each file's entry count and largest location values.
        var tokens: [Int32] = []
        var firstRows: [Int] = []
        for i in 0..<problems {
            let task = try reader.task(i)
            let sequence = task.record.promptIDs + task.record.generatedIDs
            firstRows.append(tokens.count / options.ctxLen)
            tokens += sequence
            let padding = rowCount(sequenceLength: sequence.count, ctxLen: options.ctxLen) * options.ctxLen - sequence.count
            tokens += repeatElement(eos, count: padding)
            for plan in plans {
                try plan.visit(task, firstRow: firstRows[i], ctxLen: options.ctxLen, bundle: bundle) { split, row, column, offset, _ in
                    plan.count(split: split, row: row, column: column, offset: offset, ctxLen: options.ctxLen)
                }
            }
            if (i + 1) % 1000 == 0 { progress("counted \(i + 1) of \(problems) problems") }
        }
        let rows = tokens.count / options.ctxLen

        // Pass 2: stream the entries into their files.
        let latentsRoot = (out as NSString).appendingPathComponent(latentsDirectory)
        var writers: [[RangeWriter]] = []
        for plan in plans {
            let directory = (latentsRoot as NSString).appendingPathComponent(plan.name)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            writers.append(try plan.ranges.indices.map { split in
                try RangeWriter(directory: directory, range: plan.ranges[split], entries: plan.counts[split],
                                wide: plan.largest[split] > Int(UInt16.max), rows: rows, ctxLen: options.ctxLen, tokens: tokens)
            })
        }
        for i in 0..<problems {
            let task = try reader.task(i)
            for (h, plan) in plans.enumerated() {
                try plan.visit(task, firstRow: firstRows[i], ctxLen: options.ctxLen, bundle: bundle) { split, row, column, offset, act in
                    writers[h][split].add(row: row, column: column, offset: offset, activation: act)
                }
                for writer in writers[h] { try writer.flush() }
            }
            if (i + 1) % 1000 == 0 { progress("wrote \(i + 1) of \(problems) problems") }
        }
        var summaries: [HookpointSummary] = []
        for (h, plan) in plans.enumerated() {
            var files: [RangeFile] = []
            for writer in writers[h] { files.append(try writer.finish()) }
            let config = cacheConfig(modelName: modelName, bundle: bundle, manifest: manifest, rows: rows, options: options)
            let configPath = ((latentsRoot as NSString).appendingPathComponent(plan.name) as NSString).appendingPathComponent(configFile)
            try writeText(config.serialized(pretty: true) + "\n", to: configPath)
            summaries.append(HookpointSummary(name: plan.name, numLatents: plan.numLatents, files: files, exampleWindows: plan.windows))
        }
        let summary = Summary(directory: out, problems: problems, rows: rows, ctxLen: options.ctxLen, eosID: eos,
                              modelName: modelName, hookpoints: summaries)
        try writeText(DelphiExportReadme.text(summary), to: (out as NSString).appendingPathComponent("README.md"))
        return summary
    }

    /// delphi's `CacheConfig` keys plus `model_name`, as its `save_config` writes them. The
    /// dataset keys say where the rows came from; delphi reads them only when a file has no
    /// `tokens`, which ours always have.
    static func cacheConfig(modelName: String, bundle: String, manifest: RunManifest, rows: Int, options: Options) -> JSONValue {
        .object([
            "model_name": .string(modelName),
            "cache_ctx_len": .int(Int64(options.ctxLen)),
            "n_tokens": .int(Int64(rows * options.ctxLen)),
            "n_splits": .int(Int64(options.splits)),
            // One row per forward pass in delphi's terms: ThinkLens rows are windows of
            // separate generations, not batches of a token stream.
            "batch_size": .int(1),
            "dataset_repo": .string("thinklens-bundle"),
            "dataset_split": .string(ProblemIDRanges.ranges(of: manifest.selectedProblemIDs).joined(separator: ",")),
            "dataset_name": .string(""),
            "dataset_column": .string("text"),
        ])
    }

    private static func writeText(_ text: String, to path: String) throws {
        let file = try AtomicFileWriter(path: path)
        try file.write(text)
        try file.finish()
    }

    private static func prepareEmptyDirectory(_ path: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw RunDataError(subject: path, reason: "exists and is not a directory; choose another --out")
            }
            let contents = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            guard contents.isEmpty else {
                throw RunDataError(subject: path, reason: "is not empty; choose a new --out or remove it (an export never overwrites)")
            }
        } else {
            do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw RunDataError(subject: path, reason: "cannot be created: \(error.localizedDescription)")
            }
        }
    }
}

/// One hookpoint's ranges and, after the first pass, each range's entry count and largest
/// location value (row, position in row or latent − start).
private final class HookpointPlan {
    let name: String
    let numLatents: Int
    let ranges: [ClosedRange<Int>]
    private(set) var counts: [Int]
    private(set) var largest: [Int]
    /// Per latent: distinct example windows it fires in, and the last window counted.
    private(set) var windows: [Int32]
    private var lastWindow: [Int]

    init(name: String, numLatents: Int, ranges: [ClosedRange<Int>]) {
        self.name = name
        self.numLatents = numLatents
        self.ranges = ranges
        counts = [Int](repeating: 0, count: ranges.count)
        largest = [Int](repeating: 0, count: ranges.count)
        windows = [Int32](repeating: 0, count: numLatents)
        lastWindow = [Int](repeating: -1, count: numLatents)
    }

    /// Entries arrive in row order, so each latent's windows arrive in order too.
    func count(split: Int, row: Int, column: Int, offset: Int, ctxLen: Int) {
        counts[split] += 1
        largest[split] = max(largest[split], row, column, offset)
        let latent = ranges[split].lowerBound + offset
        let window = (row * ctxLen + column) / DelphiExport.exampleCtxLen
        if lastWindow[latent] != window {
            lastWindow[latent] = window
            windows[latent] += 1
        }
    }


    /// Calls `body(split, row, column, latent − start, activation)` for every kept entry of the
    /// task's rows of this hookpoint, in (row, position, latent) order.
    func visit(_ task: CommittedTask, firstRow: Int, ctxLen: Int, bundle: String,
               _ body: (Int, Int, Int, Int, Float) throws -> Void) throws {
        guard let latents = task.latents[name] else { return }
        let file = "\(bundle)/\(BundleLayout.latentsDirectory)/\(name).safetensors"
        let length = task.record.sequenceLength
        var kept: [(latent: Int, act: Float)] = []
        kept.reserveCapacity(latents.k)
        for r in 0..<latents.rowCount {
            let position = Int(latents.positions[r])
            guard position >= 0, position < length else {
                throw RunDataError(subject: file, reason: "problem \(task.record.id) has a row at position \(position), outside its \(length) tokens; the bundle is damaged")
            }
            kept.removeAll(keepingCapacity: true)
            for j in 0..<latents.k {
                let act = latents.activations[r * latents.k + j]
                guard abs(act) > DelphiExport.activationThreshold else { continue }
                let latent = Int(latents.indices[r * latents.k + j])
                guard latent >= 0, latent < numLatents else {
                    throw RunDataError(subject: file, reason: "problem \(task.record.id), position \(position): latent \(latent) is outside the SAE's \(numLatents) latents")
                }
                kept.append((latent, act))
            }
            kept.sort { $0.latent < $1.latent }
            let row = firstRow + position / ctxLen, column = position % ctxLen
            var split = 0
            for (latent, act) in kept {
                while latent > ranges[split].upperBound { split += 1 }
                try body(split, row, column, latent - ranges[split].lowerBound, act)
            }
        }
    }
}

/// One `<start>_<end>.safetensors` being streamed: entries gather per problem, then go to the
/// file's `locations` and `activations` regions; `tokens` is written once up front.
private final class RangeWriter {
    let range: ClosedRange<Int>
    let entries: Int
    let wide: Bool
    private let writer: StreamingSafeTensorsWriter
    private var locations: [UInt32] = []
    private var activations: [UInt16] = []
    // Tensor order in the file: locations, activations, tokens.
    private static let locationsTensor = 0, activationsTensor = 1, tokensTensor = 2

    init(directory: String, range: ClosedRange<Int>, entries: Int, wide: Bool, rows: Int, ctxLen: Int, tokens: [Int32]) throws {
        self.range = range
        self.entries = entries
        self.wide = wide
        let path = (directory as NSString).appendingPathComponent("\(range.lowerBound)_\(range.upperBound).safetensors")
        writer = try StreamingSafeTensorsWriter(path: path, tensors: [
            .init(name: "locations", dtype: wide ? .u32 : .u16, shape: [entries, 3]),
            .init(name: "activations", dtype: .f16, shape: [entries]),
            .init(name: "tokens", dtype: .i32, shape: [rows, ctxLen]),
        ])
        // In pieces, so the writer's buffer stays small: every range file gets the same array.
        let piece = 1 << 16
        for start in stride(from: 0, to: tokens.count, by: piece) {
            try tokens[start..<min(start + piece, tokens.count)].withUnsafeBytes { try writer.append(Self.tokensTensor, $0) }
        }
    }

    func add(row: Int, column: Int, offset: Int, activation: Float) {
        locations.append(UInt32(row))
        locations.append(UInt32(column))
        locations.append(UInt32(offset))
        activations.append(Float16(activation).bitPattern)
    }

    func flush() throws {
        guard !activations.isEmpty else { return }
        if wide {
            try writer.append(Self.locationsTensor, locations)
        } else {
            try writer.append(Self.locationsTensor, locations.map { UInt16($0) })
        }
        try writer.append(Self.activationsTensor, activations)
        locations.removeAll(keepingCapacity: true)
        activations.removeAll(keepingCapacity: true)
    }

    func finish() throws -> DelphiExport.RangeFile {
        try flush()
        try writer.finish()
        return DelphiExport.RangeFile(latents: range, entries: entries, locationsDType: wide ? .u32 : .u16)
    }
}
