import Experiment
import Foundation

/// The one parser of `inferences.jsonl` lines. `BundleReader` uses it for a whole bundle;
/// `InterventionComparison` reads only the records (a condition may store no latents).
public enum InferencesFile {
    /// Every record of BUNDLE/inferences.jsonl, in file order.
    public static func records(bundle: String) throws -> [ProblemRecord] {
        let path = (bundle as NSString).appendingPathComponent(BundleLayout.inferencesFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunDataError(subject: path, reason: "cannot read; the bundle is incomplete (was it written by ThinkLens format \(BundleLayout.formatVersion)?)")
        }
        let bytes = [UInt8](data)
        var records: [ProblemRecord] = []
        for (n, range) in lineRanges(bytes).enumerated() {
            records.append(try parse(bytes[range], source: "\(path) line \(n + 1)"))
        }
        return records
    }

    /// The non-empty lines of the file's bytes, without their line feeds.
    static func lineRanges(_ bytes: [UInt8]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        for (i, byte) in bytes.enumerated() where byte == 0x0A {
            if i > start { ranges.append(start..<i) }
            start = i + 1
        }
        if start < bytes.count { ranges.append(start..<bytes.count) }
        return ranges
    }

    /// One line, as `BundleWriter.inferenceLine` writes it; `source` names the file and line in errors.
    public static func parse(_ line: ArraySlice<UInt8>, source: String) throws -> ProblemRecord {
        let value = try JSONValue.parse(Data(line), source: source)
        func fail(_ field: String) -> RunDataError { RunDataError(subject: source, reason: "field '\(field)' is missing or has the wrong type") }
        func string(_ key: String) throws -> String { guard let s = value[key]?.stringValue else { throw fail(key) }; return s }
        func optionalString(_ key: String) throws -> String? {
            guard let v = value[key] else { throw fail(key) }
            if v == .null { return nil }
            guard let s = v.stringValue else { throw fail(key) }
            return s
        }
        func ids(_ key: String) throws -> [Int32] {
            guard let items = value[key]?.arrayValue else { throw fail(key) }
            return try items.map { guard let n = $0.intValue, let v = Int32(exactly: n) else { throw fail(key) }; return v }
        }
        guard let index = value["index"]?.intValue else { throw fail("index") }
        guard let stop = StopReason(rawValue: try string("stop")) else { throw fail("stop") }
        guard let verdict = Verdict(rawValue: try string("verdict")) else { throw fail("verdict") }
        let thinkEnd: Int?
        switch value["think_end"] {
        case .null?: thinkEnd = nil
        case .int(let v)?: thinkEnd = Int(v)
        default: throw fail("think_end")
        }
        return ProblemRecord(id: try string("id"), split: try string("split"), index: index, question: try string("question"),
                             gold: try optionalString("gold"), promptIDs: try ids("prompt_ids"), generatedIDs: try ids("generated_ids"),
                             text: try string("text"), stop: stop, answer: try optionalString("answer"), verdict: verdict, thinkEnd: thinkEnd)
    }
}
