import ResultBundle
import Foundation

/// One line of `tables/<hookpoint>/features.csv`.
public struct FeatureRow: Sendable, Equatable {
    public var feature: Int
    public var tokens: Int
    public var tokensReasoning: Int
    public var tokensAnswer: Int
    public var inferences: Int
    public var inferencesCorrect: Int
    public var inferencesWrong: Int
    public var topActInferences: Int
    public var topFreqInferences: Int
    public var maxAct: Double
    public var meanAct: Double
    /// The statistics columns after `mean_act`; nil for a table written before they existed.
    public var statistics: FeatureStatistics? = nil
}

/// One line of `feature_tokens.csv`: one of a feature's 70 tokens of highest maximum activation.
public struct FeatureToken: Sendable, Equatable {
    public var token: Int32
    public var text: String
    public var count: Int
    public var maxAct: Double
}

/// One line of `examples.jsonl`: a top-activating position with ±10 tokens of context.
public struct FeatureExample: Sendable, Equatable {
    public var feature: Int
    /// The activation quantile (0 = lowest) of a quantile example; nil for a top example.
    public var quantile: Int? = nil
    public var rank: Int
    public var problem: String
    public var position: Int
    public var act: Double
    public var center: Int
    public var tokens: [Int32]
    public var texts: [String]
}

public struct HistogramBin: Sendable, Equatable {
    public var lo: Double
    public var hi: Double
    public var count: Int
}

/// The tables of one hookpoint, as written by the bundle writer.
public struct HookpointTables: Sendable {
    public let hookpoint: String
    /// In file order: tokens descending, then feature id.
    public let rows: [FeatureRow]
    public let histogram: [HistogramBin]
    private let position: [Int: Int]

    public init(hookpoint: String, rows: [FeatureRow], histogram: [HistogramBin]) {
        self.hookpoint = hookpoint
        self.rows = rows
        self.histogram = histogram
        var position: [Int: Int] = [:]
        for (i, r) in rows.enumerated() { position[r.feature] = i }
        self.position = position
    }

    public func row(_ feature: Int) -> FeatureRow? { position[feature].map { rows[$0] } }

    /// One more than the largest feature id that fired (0 when none did).
    public var featureLimit: Int { (rows.map(\.feature).max() ?? -1) + 1 }

    /// Reads features.csv and activation_histogram.csv of `hookpoint` in `bundle`.
    public static func read(bundle: String, hookpoint: String) throws -> HookpointTables {
        let dir = TablePaths.directory(bundle, hookpoint)
        let featuresPath = (dir as NSString).appendingPathComponent("features.csv")
        // Bundles written before the statistics columns existed have only the first 11.
        let withStatistics = try CSVReader.firstLine(path: featuresPath) == BundleStatistics.header
        let header = withStatistics ? BundleStatistics.header : BundleStatistics.baseHeader
        let columns = withStatistics ? 11 + FeatureStatistics.columns.count : 11
        var rows: [FeatureRow] = []
        try CSVReader.forEachRecord(path: featuresPath, header: header) { line, fields in
            guard fields.count == columns else { throw CSVReader.malformed(featuresPath, line, "has \(fields.count) fields, expected \(columns)") }
            func int(_ i: Int) throws -> Int {
                guard let v = Int(fields[i]) else { throw CSVReader.malformed(featuresPath, line, "field \(i + 1) '\(fields[i])' is not an integer") }
                return v
            }
            func double(_ i: Int) throws -> Double {
                guard let v = Double(fields[i]) else { throw CSVReader.malformed(featuresPath, line, "field \(i + 1) '\(fields[i])' is not a number") }
                return v
            }
            rows.append(FeatureRow(feature: try int(0), tokens: try int(1), tokensReasoning: try int(2), tokensAnswer: try int(3),
                                   inferences: try int(4), inferencesCorrect: try int(5), inferencesWrong: try int(6),
                                   topActInferences: try int(7), topFreqInferences: try int(8), maxAct: try double(9), meanAct: try double(10),
                                   statistics: withStatistics ? try FeatureStatistics(cells: Array(fields[11...])) {
                                       CSVReader.malformed(featuresPath, line, "field \(12 + $0) '\(fields[11 + $0])' is not a number or empty")
                                   } : nil))
        }
        let histogramPath = (dir as NSString).appendingPathComponent("activation_histogram.csv")
        var bins: [HistogramBin] = []
        try CSVReader.forEachRecord(path: histogramPath, header: "bin,lo,hi,count") { line, fields in
            guard fields.count == 4, let lo = Double(fields[1]), let hi = Double(fields[2]), let count = Int(fields[3]) else {
                throw CSVReader.malformed(histogramPath, line, "is not 'bin,lo,hi,count'")
            }
            bins.append(HistogramBin(lo: lo, hi: hi, count: count))
        }
        return HookpointTables(hookpoint: hookpoint, rows: rows, histogram: bins)
    }

    /// The rows of feature_tokens.csv for the `wanted` features (all when nil), best first per feature.
    public static func featureTokens(bundle: String, hookpoint: String, wanted: Set<Int>?) throws -> [Int: [FeatureToken]] {
        let path = (TablePaths.directory(bundle, hookpoint) as NSString).appendingPathComponent("feature_tokens.csv")
        var out: [Int: [FeatureToken]] = [:]
        var lookup: [Bool]? = nil
        if let wanted {
            var l = [Bool](repeating: false, count: (wanted.max() ?? -1) + 1)
            for f in wanted where f >= 0 { l[f] = true }
            lookup = l
        }
        try CSVReader.forEachRecord(path: path, header: "feature,token,text,count,max_act", keep: lookup.map { l in
            { first in first < 0 || (first < l.count && l[first]) }
        }) { line, fields in
            guard fields.count == 5, let feature = Int(fields[0]), let token = Int32(fields[1]), let count = Int(fields[3]),
                  let act = Double(fields[4]) else {
                throw CSVReader.malformed(path, line, "is not 'feature,token,text,count,max_act'")
            }
            out[feature, default: []].append(FeatureToken(token: token, text: fields[2], count: count, maxAct: act))
        }
        return out
    }

    /// The lines of examples.jsonl for the `wanted` features (all when nil), by feature: the top
    /// examples best first, or with `quantiles` the quantile examples, lowest quantile first.
    public static func examples(bundle: String, hookpoint: String, wanted: Set<Int>?, quantiles: Bool = false) throws -> [Int: [FeatureExample]] {
        let path = (TablePaths.directory(bundle, hookpoint) as NSString).appendingPathComponent("examples.jsonl")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunDataError(subject: path, reason: "cannot read; the bundle is incomplete")
        }
        var out: [Int: [FeatureExample]] = [:]
        let prefix = Array("{\"feature\":".utf8)
        var lineNumber = 0
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != 0x0A { end += 1 }
                lineNumber += 1
                defer { start = end + 1 }
                if end == start { continue }
                // Skip unwanted features without parsing the whole line.
                if let wanted, end - start > prefix.count, prefix.elementsEqual(bytes[start..<(start + prefix.count)]) {
                    var i = start + prefix.count, feature = 0
                    while i < end, bytes[i] >= 0x30, bytes[i] <= 0x39 { feature = feature * 10 + Int(bytes[i] - 0x30); i += 1 }
                    if !wanted.contains(feature) { continue }
                }
                let source = "\(path) line \(lineNumber)"
                let value = try JSONValue.parse(Data(bytes[start..<end]), source: source)
                let quantile = value["quantile"]?.intValue
                if (quantile != nil) != quantiles { continue }
                guard let feature = value["feature"]?.intValue, let rank = value["rank"]?.intValue,
                      let problem = value["problem"]?.stringValue, let position = value["position"]?.intValue,
                      let act = value["act"]?.doubleValue, let center = value["center"]?.intValue,
                      let tokens = value["tokens"]?.arrayValue, let texts = value["token_texts"]?.arrayValue,
                      tokens.count == texts.count, center >= 0, center < tokens.count else {
                    throw RunDataError(subject: source, reason: "is not an example line (feature, rank, problem, position, act, center, tokens, token_texts)")
                }
                out[feature, default: []].append(FeatureExample(
                    feature: feature, quantile: quantile, rank: rank, problem: problem, position: position, act: act, center: center,
                    tokens: tokens.map { Int32(truncatingIfNeeded: $0.intValue ?? -1) }, texts: texts.map { $0.stringValue ?? "" }))
            }
        }
        for key in out.keys { out[key]!.sort { ($0.quantile ?? 0, $0.rank) < ($1.quantile ?? 0, $1.rank) } }
        return out
    }
}

/// One line of cooccurrence.csv: a partner of a feature.
public struct CooccurringFeature: Sendable, Equatable {
    public var partner: Int
    public var both: Int
    public var jaccard: Double
}

extension HookpointTables {
    /// cooccurrence.csv's partners of the `wanted` features, in file order; empty for a bundle
    /// written before the file existed.
    public static func cooccurrence(bundle: String, hookpoint: String, wanted: Set<Int>) throws -> [Int: [CooccurringFeature]] {
        let path = (TablePaths.directory(bundle, hookpoint) as NSString).appendingPathComponent("cooccurrence.csv")
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        var out: [Int: [CooccurringFeature]] = [:]
        try CSVReader.forEachRecord(path: path, header: "feature,partner,both,jaccard") { line, fields in
            guard fields.count == 4, let feature = Int(fields[0]), let partner = Int(fields[1]), let both = Int(fields[2]),
                  let jaccard = Double(fields[3]) else {
                throw CSVReader.malformed(path, line, "is not 'feature,partner,both,jaccard'")
            }
            if wanted.contains(feature) { out[feature, default: []].append(CooccurringFeature(partner: partner, both: both, jaccard: jaccard)) }
        }
        return out
    }
}

enum TablePaths {
    static func directory(_ bundle: String, _ hookpoint: String) -> String {
        (bundle as NSString).appendingPathComponent("\(BundleLayout.tablesDirectory)/\(hookpoint)")
    }
}
